"""The daemon side of B4/B5, run in its own interpreter so that its peak RSS is its own.

``python -m benchmarks.b4_worker --data DIR --api URL --relay URL --users N --concurrency K [--cycles 2]``

It builds the real daemon (``DaemonPipeline`` over the generated cache, the fake X server and a relay),
starts it (one scan, users resolved from their cached profiles), then runs the real loop
(``runner.Daemon``) once per cycle with every user due at once, and stops each cycle when every user
has been polled once. Cycle 1 includes what a fresh process does once (announcing each identity's
profile and relay list, the startup outbox pass); later cycles are the steady state. It prints one
JSON object: cycle times, requests, errors, peak RSS (VmHWM) and the third-party modules it imported.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmarks.loop_lag import LagProbe, SlowCallbacks, StallSampler
from nostrweet.daemon.config import DaemonConfig
from nostrweet.daemon.pipeline import DaemonPipeline
from nostrweet.daemon.runner import Daemon, LoopSettings, PollResult
from nostrweet.settings import ConfigFile, GlobalOptions, Secret

BENCH_MNEMONIC = "leader monkey parrot ring guide accident before fence cannon height naive bean"


def vm_hwm_kb() -> int:
    """Peak resident set size of this process (KiB), from /proc (not ru_maxrss, which fork inherits)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def third_party_modules() -> list[str]:
    """Top-level modules imported so far that are neither stdlib nor ours."""
    ours = {"nostrweet", "benchmarks", "tests", "__main__"}
    names = {m.split(".")[0] for m in sys.modules}
    return sorted(
        n for n in names if n not in sys.stdlib_module_names and n not in ours and not n.startswith("_")
    )


class CyclePipeline:
    """Delegates to the real pipeline and notes when each user's poll of this cycle finished."""

    def __init__(self, inner: DaemonPipeline, users: list[str]) -> None:
        self.inner = inner
        self.users = users
        self.done: dict[str, float] = {}
        self.errors: dict[str, str] = {}
        self.all_done = asyncio.Event()

    def new_cycle(self) -> None:
        """Forget the previous cycle."""
        self.done = {}
        self.errors = {}
        self.all_done = asyncio.Event()

    async def poll_user(self, username: str) -> PollResult:
        if username in self.done:  # polled in this cycle already: hold the slot until the cycle ends
            await self.all_done.wait()
            return PollResult()
        try:
            return await self.inner.poll_user(username)
        except Exception as exc:
            self.errors.setdefault(username, f"{type(exc).__name__}: {exc}")
            raise
        finally:
            self.done.setdefault(username, time.perf_counter())
            if len(self.done) == len(self.users):
                self.all_done.set()

    async def run_outbox(self) -> None:
        await self.inner.run_outbox()

    def budgets(self) -> Mapping[str, Mapping[str, int | float | None]]:
        return self.inner.budgets()

    def relay_status(self) -> Mapping[str, Mapping[str, Any]]:
        return self.inner.relay_status()


class CurrentDaemon:
    """The HTTP server's view of the daemon of the current cycle (B10)."""

    daemon: Daemon | None = None

    def snapshot(self) -> Any:
        assert self.daemon is not None
        return self.daemon.snapshot()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start the daemon, run the cycles, return the figures."""
    users = [f"bench{i:05d}" for i in range(args.users)]
    options = GlobalOptions(
        data_dir=Path(args.data),
        bearer_token=Secret(args.bearer),
        mnemonic=Secret(BENCH_MNEMONIC),
        twitter_api_url=args.api,
        key_derivation="nip06",
        config=ConfigFile(),
        log_level=logging.WARNING,
        log_format="text",
    )
    config = DaemonConfig(
        users=tuple(users),
        relays=(args.relay,),
        blossom_servers=(),
        max_concurrent=args.concurrency,
        backfill=0,
    )
    t0 = time.perf_counter()
    pipeline = DaemonPipeline(options, config)
    t_open = time.perf_counter() - t0
    await pipeline.start()
    pipeline.settle_for_the_loop()  # as the service does
    t_start = time.perf_counter() - t0
    rss_after_start = vm_hwm_kb()
    wrapper = CyclePipeline(pipeline, users)
    settings = LoopSettings(
        poll_interval=0.001,  # every user due at once: a cycle is bounded by the work, not the policy
        max_concurrent=args.concurrency,
        stats_interval=3600.0,
        outbox_interval=3600.0,
        # The fake X API's timeline budget is 10^7 (b4_daemon.py), so pacing from its headers spreads
        # nothing: every user is due at once, and due again at once after its poll (that second poll
        # waits in CyclePipeline for the cycle's end).
        grace=10.0,
    )
    current = CurrentDaemon()
    server = None
    if args.http_port:  # B10: the HTTP server on this loop, answering a client in another process
        from nostrweet.http.server import HttpServer, HttpSettings

        server = HttpServer(current, HttpSettings("127.0.0.1", args.http_port))  # type: ignore[arg-type]
        await server.start()
    probe = LagProbe()  # the loop's own lag, beside B10's answers (benchmarks/loop_lag.py)
    probe.start()
    stalls_to = os.environ.get("NOSTRWEET_BENCH_STALLS")  # a path: what held the loop, as JSON
    sampler = StallSampler(probe) if stalls_to else None
    slow = SlowCallbacks() if stalls_to else None
    if sampler is not None and slow is not None:
        sampler.start()
        slow.start()
    cycles: list[dict[str, Any]] = []
    for _ in range(args.cycles):
        wrapper.new_cycle()
        stop = asyncio.Event()
        daemon = Daemon(wrapper, users, settings)
        current.daemon = daemon
        if server is not None and args.http_warmup:
            await asyncio.sleep(args.http_warmup)  # the client is under way before the cycle starts
        probe.take()
        wall_start = time.time()
        started = time.perf_counter()
        task = asyncio.create_task(daemon.run(stop))
        await asyncio.wait_for(wrapper.all_done.wait(), timeout=args.timeout)
        last = max(wrapper.done.values())
        stop.set()
        await task
        cycles.append(
            {
                "seconds": last - started,
                "errors": len(wrapper.errors),
                "first_error": next(iter(wrapper.errors.values()), None),
                "polls": len(wrapper.done),
                "loop_lag": probe.take(),
                "wall": [wall_start, time.time()],
                "gc_objects": len(gc.get_objects()),  # tracked, not frozen: what a full collection walks
                "gc_frozen": gc.get_freeze_count(),
                "gc_counts": gc.get_stats()[2],  # B10 splits the HTTP answers by cycle
            }
        )
    await probe.stop()
    if sampler is not None and stalls_to:
        sampler.stop()
        sampler.dump(slow=slow, path=f"{stalls_to}.{'http' if args.http_port else 'plain'}.{os.getpid()}")
    if server is not None:
        await server.close()
    result = {
        "open_store_s": t_open,
        "startup_s": t_start,
        "rss_after_start_kb": rss_after_start,
        "peak_rss_kb": vm_hwm_kb(),
        "cycles": cycles,
        "modules": third_party_modules(),
    }
    print(json.dumps(result), flush=True)
    try:
        await asyncio.wait_for(pipeline.aclose(), timeout=5)
    except Exception as exc:
        print(f"closing: {type(exc).__name__}: {exc}", file=sys.stderr)
    return result


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--api", required=True)
    parser.add_argument("--relay", required=True)
    parser.add_argument("--bearer", default="test-bearer-token")
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--cycles", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--http-port", type=int, default=0, help="B10: serve HTTP here during the cycles")
    parser.add_argument("--http-warmup", type=float, default=1.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    profile_to = os.environ.get("NOSTRWEET_BENCH_PROFILE")  # a path: write a pyinstrument profile there
    if profile_to:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.005, async_mode="disabled")
        profiler.start()
        asyncio.run(run(args))
        profiler.stop()
        Path(profile_to).write_text(profiler.output_text(unicode=False, color=False))
    else:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
