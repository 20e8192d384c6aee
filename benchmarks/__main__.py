"""Run the benchmark suite (issue #5): ``python -m benchmarks [--smoke] [--only B3,B6]``.

Prints the table (our figure next to its limit, measured in the same run) and writes the same figures
to ``benchmarks/results/latest.json`` (``smoke.json`` for ``--smoke``). Generated caches live under
``--cache-base`` (default ``/tmp/nostrweet-bench``) and are reused between runs; the smoke mode
generates small ones in a temporary directory and removes them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.gen_cache import CacheSpec, Manifest, default_root, ensure_cache
from benchmarks.harness import Row, not_measured, render_table, write_results

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Sizes:
    """The cache sizes and repetition counts of one mode."""

    b3: CacheSpec
    b6: list[CacheSpec]
    reps: int
    b1_tweets: int
    b2_events: int
    b4_users: int
    b4_latency: float
    b4_concurrency: int
    b8_records: int = 10_000
    b9_tweets: int = 100_000
    b7_users: int = 1000
    b7_window: float = 20.0


FULL = Sizes(
    b3=CacheSpec(1_000_000, 1000),
    b6=[CacheSpec(10_000, 1000), CacheSpec(100_000, 1000), CacheSpec(1_000_000, 1000)],
    reps=5,
    b1_tweets=3000,
    b2_events=2000,
    b4_users=1000,
    b4_latency=0.05,
    b4_concurrency=8,
    b8_records=10_000,
    b7_users=1000,  # B4's users, latency and concurrency: the same cycle, on 1 and on 3 instances
)
SMOKE = Sizes(
    b3=CacheSpec(2000, 20),
    b6=[CacheSpec(500, 20), CacheSpec(1000, 20), CacheSpec(2000, 20)],
    reps=3,
    b1_tweets=100,
    b2_events=50,
    b4_users=16,
    b4_latency=0.02,
    b4_concurrency=8,
    b8_records=500,
    b9_tweets=2000,
    b7_users=200,
    b7_window=5.0,
)


@dataclass
class Context:
    """What every benchmark gets: the mode, the sizes and a way to get a generated cache."""

    smoke: bool
    sizes: Sizes
    base: Path
    work: Path  # scratch space removed at the end
    caches: dict[CacheSpec, Manifest] = field(default_factory=dict)

    def cache(self, spec: CacheSpec) -> tuple[Path, Manifest]:
        """The generated cache for ``spec`` (generated once, then reused)."""
        root = default_root(self.base, spec)
        if spec not in self.caches:
            started = time.perf_counter()
            self.caches[spec] = ensure_cache(root, spec, progress=not self.smoke)
            took = time.perf_counter() - started
            if took > 1:
                log(f"cache {root.name}: ready in {took:.1f} s")
        return root, self.caches[spec]


def log(message: str) -> None:
    """Progress on stderr (the table goes to stdout)."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def bench_b3(ctx: Context) -> list[Row]:
    """B3: start-up on the big cache against the same on B6's smallest."""
    from benchmarks.b3_index import run_b3

    return [run_b3(ctx.cache(ctx.sizes.b3), ctx.cache(ctx.sizes.b6[0]), ctx.sizes.reps)]


def bench_b6(ctx: Context) -> list[Row]:
    """B6: growth of the start-up cost (and of the daemon's memory, with B5's part)."""
    from benchmarks.b3_index import run_b6_index

    caches = [ctx.cache(spec) for spec in ctx.sizes.b6]
    rows = run_b6_index(caches, ctx.sizes.reps)
    from benchmarks.b4_daemon import run_b6_daemon

    rows.extend(run_b6_daemon(ctx, caches))
    return rows


def bench_b1(ctx: Context) -> list[Row]:
    """B1: convert + sign against bare signing."""
    from benchmarks.b1_sign import run_b1

    return run_b1(ctx)


def bench_b2(ctx: Context) -> list[Row]:
    """B2: publish against a bare websocket client."""
    from benchmarks.b2_publish import run_b2

    return run_b2(ctx)


def bench_b2s(ctx: Context) -> list[Row]:
    """B2s: the relay stack alone (B2a's signed events) against the same bare client."""
    from benchmarks.b2s_stack import run_b2s

    return run_b2s(ctx)


def bench_b2c(ctx: Context) -> list[Row]:
    """B2c: a command that publishes one tweet, start to exit."""
    from benchmarks.b2c_one_tweet import run_b2c

    return run_b2c(ctx)


def bench_b4(ctx: Context) -> list[Row]:
    """B4 and B5: one daemon cycle against the ideal, and its peak RSS against a bare interpreter."""
    from benchmarks.b4_daemon import run_b4_b5

    return run_b4_b5(ctx)


def bench_b7(ctx: Context) -> list[Row]:
    """B7: three daemon instances on one PostgreSQL state against one."""
    from benchmarks.b7_instances import run_b7

    return run_b7(
        ctx.work / "b7",
        ctx.sizes.b7_users,
        ctx.sizes.b4_latency,
        ctx.sizes.b4_concurrency,
        ctx.sizes.b7_window,
    )


def bench_b8(ctx: Context) -> list[Row]:
    """B8: the state database against the file record store."""
    from benchmarks.b8_state import run_b8

    return run_b8(ctx.work, ctx.sizes.b8_records, ctx.sizes.reps)


def bench_b9(ctx: Context) -> list[Row]:
    """B9: import-archive rate against a bare decode + write loop, and its memory against a tenth."""
    from benchmarks.b9_import import run_b9

    return run_b9(ctx.work / "b9", ctx.sizes.b9_tweets, 1)


def bench_b10(ctx: Context) -> list[Row]:
    """B10: HTTP answers under load while the daemon polls, and the polling with that load."""
    from benchmarks.b10_http import run_b10

    return run_b10(ctx)


BENCHES: dict[str, tuple[str, Callable[[Context], list[Row]]]] = {
    "B1": ("convert + sign", bench_b1),
    "B2": ("publish", bench_b2),
    "B2S": ("relay stack alone", bench_b2s),
    "B2C": ("publish one tweet", bench_b2c),
    "B3": ("start-up", bench_b3),
    "B4": ("poll cycle + memory (B4, B5)", bench_b4),
    "B6": ("cost growth", bench_b6),
    "B7": ("several daemon instances on PostgreSQL", bench_b7),
    "B8": ("state database vs record files", bench_b8),
    "B9": ("X archive import", bench_b9),
    "B10": ("HTTP under load while polling (B10, B10b)", bench_b10),
}


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks, print the table, write the JSON."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="nostrweet benchmarks (issue #5)"
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds long (CI)")
    parser.add_argument("--only", default="", help="comma-separated ids, e.g. B3,B6 (B4 also gives B5)")
    parser.add_argument("--cache-base", type=Path, default=Path("/tmp/nostrweet-bench"))
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default benchmarks/results/...)")
    args = parser.parse_args(argv)

    wanted = [x.strip().upper() for x in args.only.split(",") if x.strip()] or list(BENCHES)
    wanted = ["B4" if w == "B5" else w for w in wanted]
    unknown = [w for w in wanted if w not in BENCHES]
    if unknown:
        parser.error(f"unknown benchmark id(s): {', '.join(unknown)}")
    sizes = SMOKE if args.smoke else FULL
    mode = "smoke" if args.smoke else "full"
    out = args.out or RESULTS / ("smoke.json" if args.smoke else "latest.json")
    started = time.perf_counter()
    rows: list[Row] = []
    crashed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="nostrweet-bench-") as tmp:
        base = Path(tmp) / "caches" if args.smoke else args.cache_base
        ctx = Context(smoke=args.smoke, sizes=sizes, base=base, work=Path(tmp))
        for bench_id in wanted:
            title, fn = BENCHES[bench_id]
            log(f"{bench_id}: {title}")
            t0 = time.perf_counter()
            try:
                rows.extend(fn(ctx))
            except Exception as exc:  # a broken benchmark must not hide the others
                traceback.print_exc(file=sys.stderr)
                rows.append(not_measured(bench_id, title, f"{type(exc).__name__}: {exc}"))
                crashed.append(bench_id)
            log(f"{bench_id}: {time.perf_counter() - t0:.1f} s")
    doc = write_results(out, rows, mode=mode, merge=bool(args.only))
    machine = doc["machine"]
    print(f"nostrweet benchmarks ({mode}) on {machine['cores']} cores, {machine['cpu'] or 'unknown cpu'}")
    print(render_table(rows))
    print(f"\nwritten to {out} in {time.perf_counter() - started:.1f} s")
    if crashed:
        print(f"crashed: {', '.join(crashed)}", file=sys.stderr)
    return 1 if crashed else 0


if __name__ == "__main__":
    raise SystemExit(main())
