"""B10: the HTTP server under load while the daemon polls (issue 10's performance part).

The B4 set-up (the real daemon over the generated cache, the fake X API with latency, a relay) runs
twice in this one run, alternately: without HTTP (the same client then asks a stand-in server in
another process, so that both runs carry the client's CPU), and with its HTTP server on the daemon's loop while a
client in another process asks ``/healthz`` and ``/metrics`` over 4 connections for the whole run, each
connection one request every 80 ms (50 requests/s in all: far more than probes and scrapers send; back to
back would only measure how much of one loop a flood can take). Two rows:

- B10: the p99 answer time of ``/healthz`` and ``/metrics`` (the worse of the two) against 50 ms;
- B10b: the steady poll cycle with that load against the same cycle without it: less than 5 % slower.

The client: ``python -m benchmarks.b10_http URL`` prints one JSON object of latencies once its stdin
is closed.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from benchmarks.b2_publish import REPO, _env
from benchmarks.harness import Row, not_measured

if TYPE_CHECKING:
    from benchmarks.__main__ import Context

WHAT = "/healthz and /metrics p99 while polling"
WHAT_B = "poll cycle with HTTP load vs without"
CLIENTS = 4
EVERY = 0.08  # seconds between the requests of one connection: 50 requests/s in all
PATHS = ("/healthz", "/metrics")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def p99(samples: list[float]) -> float:
    """The 99th percentile (nearest rank)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(0.99 * len(ordered)) - 1))]


async def _client(url: str) -> dict[str, Any]:
    import aiohttp

    times: dict[str, list[float]] = {p: [] for p in PATHS}
    at: dict[str, list[float]] = {p: [] for p in PATHS}  # when each request was sent (epoch seconds)
    errors = 0
    statuses: dict[int, int] = {}

    stopped = asyncio.Event()

    async def watch() -> None:
        await asyncio.to_thread(sys.stdin.read)  # the parent closes our stdin to stop us
        stopped.set()

    async def one(session: aiohttp.ClientSession, k: int) -> None:
        nonlocal errors
        i = k
        answered, unanswered = False, 0
        while not stopped.is_set():
            path = PATHS[i % len(PATHS)]
            i += 1
            sent = time.time()
            started = time.perf_counter()
            try:
                async with session.get(url + path) as answer:
                    await answer.read()
                    statuses[answer.status] = statuses.get(answer.status, 0) + 1
            except aiohttp.ClientError:
                unanswered += 1
                await asyncio.sleep(0.05)
                continue
            if answered:  # failures between two answers count; those before the first (the
                errors += unanswered  # server starting) and after the last (it stopped) do not
            unanswered, answered = 0, True
            took = time.perf_counter() - started
            times[path].append(took)
            at[path].append(sent)
            await asyncio.sleep(max(0.0, EVERY - took))

    connector = aiohttp.TCPConnector(limit=CLIENTS)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(watch(), *(one(session, k) for k in range(CLIENTS)))
    return {"times": times, "at": at, "errors": errors, "statuses": statuses}


@contextmanager
def http_load(port: int) -> Iterator[dict[str, Any]]:
    """Run the client process for the duration of the block; its figures land in the yielded dict."""
    out: dict[str, Any] = {}
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.b10_http", f"http://127.0.0.1:{port}"],
        cwd=REPO,
        env=_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield out
    finally:
        stdout, _ = proc.communicate(input="", timeout=60)  # closing its stdin stops it
        lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
        if lines:
            out.update(json.loads(lines[-1]))


def run_b10(ctx: Context) -> list[Row]:
    """B10 and B10b on B4's cache, in one run."""
    from benchmarks.b4_daemon import _missing, run_daemon

    why = _missing()
    if why:
        return [not_measured("B10", WHAT, why), not_measured("B10b", WHAT_B, why)]
    # B6's middle cache (100,000 files, 1,000 users in the full run): the users are what B10 is
    # about, and a cache of that size starts in a fraction of B3's time
    root, manifest = ctx.cache(ctx.sizes.b6[1])
    users = min(ctx.sizes.b4_users, manifest.spec.users)
    lat, conc = ctx.sizes.b4_latency, ctx.sizes.b4_concurrency
    cycles = 3
    plain: list[float] = []
    loaded: list[float] = []
    load: dict[str, Any] = {}
    lag: dict[str, list[Any]] = {"plain": [], "loaded": []}  # the loop's own lag per cycle (loop_lag.py)
    phases: dict[str, list[float]] = {"first cycle": [], "later cycles": []}  # answers of both paths
    floor: list[float] = []  # the same client's answers from the stand-in server (plain runs)
    for _round in range(2):  # alternate, so both see the same machine noise
        # the same client runs beside the plain cycles too, against a stand-in server in its own
        # process, so that both see the client's own CPU on the shared cores
        stand_in: dict[str, Any] = {}
        res = run_daemon(
            root, manifest, users, lat, conc, cycles=cycles,
            beside=lambda into=stand_in: stand_in_load(into),
        )  # fmt: skip
        for samples in stand_in.get("times", {}).values():
            floor.extend(samples)
        plain.extend(c["seconds"] for c in res["cycles"][1:])
        lag["plain"].extend(c.get("loop_lag") for c in res["cycles"])
        port = _free_port()
        figures: dict[str, Any] = {}

        def beside(port: int = port, figures: dict[str, Any] = figures) -> Any:
            return _collect(http_load(port), figures)

        res = run_daemon(
            root, manifest, users, lat, conc, cycles=cycles,
            extra_args=["--http-port", str(port)], beside=beside,
        )  # fmt: skip
        loaded.extend(c["seconds"] for c in res["cycles"][1:])
        lag["loaded"].extend(c.get("loop_lag") for c in res["cycles"])
        for path, samples in figures.get("times", {}).items():
            load.setdefault(path, []).extend(samples)
            first_ends = res["cycles"][0]["wall"][1]
            for sent, took in zip(figures.get("at", {}).get(path, []), samples, strict=True):
                phases["first cycle" if sent < first_ends else "later cycles"].append(took)
        load["errors"] = load.get("errors", 0) + figures.get("errors", 0)
    answers = {p: load.get(p, []) for p in PATHS}
    if not all(answers.values()):
        return [
            not_measured("B10", WHAT, "the client got no answer"),
            not_measured("B10b", WHAT_B, "no load"),
        ]
    worst = max(p99(v) for v in answers.values())
    per_path = {
        p: {"answers": len(v), "p50_ms": statistics.median(v) * 1000, "p99_ms": p99(v) * 1000}
        for p, v in answers.items()
    }
    b10 = Row(
        id="B10",
        what=f"{WHAT}: {users:,} users, {CLIENTS / EVERY:.0f} requests/s",
        unit="ms",
        ours=worst * 1000,
        limit=50.0,
        limit_what="50 ms (issue 10)",
        figure=worst * 1000,
        figure_what="p99 ms",
        op="<=",
        target=50.0,
        note=f"{load['errors']} client error(s)" if load.get("errors") else "",
        details={
            "paths": per_path,
            "phases": {
                k: {"answers": len(v), "p99_ms": p99(v) * 1000 if v else None} for k, v in phases.items()
            },
            "stand_in": {"answers": len(floor), "p99_ms": p99(floor) * 1000 if floor else None},
            "loop_lag_per_cycle": lag,
        },
    )
    base, with_load = statistics.median(plain), statistics.median(loaded)
    b10b = Row(
        id="B10b",
        what=f"{WHAT_B}: {users:,} users",
        unit="s",
        ours=with_load,
        limit=base,
        limit_what="the same cycle without HTTP, this run",
        figure=with_load / base,
        figure_what="x without",
        op="<=",
        target=1.05,
        details={"plain_cycles_s": plain, "loaded_cycles_s": loaded},
    )
    return [b10, b10b]


_STAND_IN = """
import sys
from aiohttp import web
app = web.Application()
for path in ("/healthz", "/metrics"):
    app.router.add_get(path, lambda request: web.Response(text="ok"))
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


@contextmanager
def stand_in_load(into: dict[str, Any] | None = None) -> Iterator[None]:
    """The B10 client against a trivial server in another process (for the plain cycles); its figures
    land in ``into``: the answer times of a server that does nothing, on this machine, at this moment."""
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-c", _STAND_IN, str(port)], cwd=REPO, env=_env())
    try:
        with http_load(port) as figures:
            yield
        if into is not None:
            into.update(figures)
    finally:
        server.terminate()
        server.wait(10)


@contextmanager
def _collect(cm: Any, into: dict[str, Any]) -> Iterator[None]:
    with cm as figures:
        yield
    into.update(figures)  # filled when the client process has ended


def main() -> None:
    """The client process."""
    url = sys.argv[1]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait for the server
        try:
            with socket.create_connection((url.split("//")[1].split(":")[0], int(url.rsplit(":", 1)[1])), 1):
                break
        except OSError:
            time.sleep(0.05)
    result = asyncio.run(_client(url))
    print(json.dumps(result), flush=True)
    os._exit(0)


if __name__ == "__main__":
    main()
