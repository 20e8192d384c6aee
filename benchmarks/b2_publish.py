"""B2: events per second that ``post-user-to-nostr`` delivers to a local relay, against a bare client.

Ours: ``python -m nostrweet post-user-to-nostr bench00000 -r <relay>`` in a subprocess, on a fresh copy
of a generated one-user cache that was never published (no event records), against a fresh relay.
The rate is the events it recorded as accepted over the command's wall time (start-up included: that
is what a user waits for).

The limit: a bare ``websockets`` client that connects to another fresh relay of the same kind, sends
the very same signed events (read back from the records ours wrote) as fast as it can, and waits for
every OK. Both relays run outside this process: nostr-sdk's ``LocalRelay`` in a helper interpreter,
and the PyPI ``nostr-relay`` as its own server process (from ``.venv-nostr-relay``).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from benchmarks.b1_sign import BENCH_MNEMONIC
from benchmarks.gen_cache import CacheSpec, username_of
from benchmarks.harness import Row, not_measured
from nostrweet.state.engine import default_state_url, open_state
from nostrweet.state.records import RecordRepo
from nostrweet.state.schema import events as events_table

if TYPE_CHECKING:
    from benchmarks.__main__ import Context

WHAT = "publish (post-user-to-nostr)"
REPO = Path(__file__).resolve().parent.parent

_SDK_RELAY_SCRIPT = """
import sys
from tests.fakes.relay_fixtures import SdkRelay
relay = SdkRelay(port=int(sys.argv[1]) or None)
relay.start()
print(relay.url, flush=True)
sys.stdin.read()
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOSTRWEET_") or "_BENCH_" in k}
    # this checkout's sources first: the venv's editable install may point at another checkout
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO)])
    return env


@contextmanager
def sdk_relay(port: int = 0) -> Iterator[str]:
    """A fresh nostr-sdk LocalRelay in a helper interpreter (on ``port``, 0 = any); yields its ws URL."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _SDK_RELAY_SCRIPT, str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=REPO,
        env=_env(),
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("ws://"):
            raise RuntimeError("the nostr-sdk relay helper did not start")
        yield url
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def pypi_relay(workdir: Path) -> Iterator[str]:
    """A fresh PyPI nostr-relay server (empty sqlite in ``workdir``); yields its ws URL."""
    from tests.fakes.nostr_relay_proc import RelayProcess

    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    relay = RelayProcess(workdir)
    relay.start()
    try:
        yield relay.url
    finally:
        relay.stop()


def run_ours(source: Path, work: Path, url: str, username: str) -> tuple[float, list[dict[str, Any]], int]:
    """Run post-user-to-nostr on a fresh copy of ``source``; (seconds, signed events, accepted count)."""
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(source, work)
    env = _env()
    env["NOSTRWEET_MNEMONIC"] = BENCH_MNEMONIC
    cmd = [
        sys.executable,
        "-m",
        "nostrweet",
        "-q",
        "-d",
        str(work),
        "post-user-to-nostr",
        username,
        "-r",
        url,
    ]
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"post-user-to-nostr exited {done.returncode}: {done.stderr.strip()[-300:]}")
    events: list[dict[str, Any]] = []
    accepted = 0
    state = open_state(default_state_url(work))  # the records ours wrote, in the data dir's state
    try:
        repo = RecordRepo(state)
        with state.engine.connect() as conn:
            ids = list(conn.execute(select(events_table.c.event_id)).scalars())
        for record in repo.get_many(ids):
            events.append(record.event)
            if record.accepted_on():
                accepted += 1
    finally:
        state.close()
    events.sort(key=lambda e: (e["created_at"], e["id"]))
    return took, events, accepted


async def _bare_publish(url: str, events: list[dict[str, Any]]) -> tuple[float, float, int]:
    from websockets.asyncio.client import connect

    wanted = {e["id"] for e in events}
    start = time.perf_counter()
    async with connect(url, max_size=None, compression=None, open_timeout=10) as ws:

        async def read_oks() -> int:
            seen: set[str] = set()
            accepted = 0
            async for raw in ws:
                msg = json.loads(raw)
                if msg[0] == "OK" and msg[1] in wanted and msg[1] not in seen:
                    seen.add(msg[1])
                    accepted += bool(msg[2]) or str(msg[3]).startswith("duplicate:")
                    if len(seen) == len(wanted):
                        return accepted
            return accepted

        reader = asyncio.create_task(read_oks())
        for event in events:
            await ws.send(json.dumps(["EVENT", event], separators=(",", ":"), ensure_ascii=False))
        accepted = await asyncio.wait_for(reader, timeout=300)
        last_ok = time.perf_counter() - start
    return last_ok, time.perf_counter() - start, accepted


def run_bare(url: str, events: list[dict[str, Any]], *, until_closed: bool = True) -> tuple[float, int]:
    """Send ``events`` over one websocket and wait for every OK; (seconds, accepted count).

    The seconds run from before the connect to the socket's close, or to the last OK with
    ``until_closed=False``.
    """
    last_ok, closed, accepted = asyncio.run(_bare_publish(url, events))
    return (closed if until_closed else last_ok), accepted


def _one_relay(ctx: Context, kind: str, source: Path, username: str) -> Row:
    reps = 1 if ctx.smoke else 3
    ours_rates: list[float] = []
    bare_rates: list[float] = []
    details: dict[str, Any] = {"runs": []}
    relay_dir = ctx.work / "b2-relay"

    def relay() -> Any:
        return sdk_relay() if kind == "sdk" else pypi_relay(relay_dir)

    events: list[dict[str, Any]] = []
    for rep in range(reps):
        order = ["ours", "bare"] if rep % 2 == 0 or not events else ["bare", "ours"]
        for who in order:
            with relay() as url:
                if who == "ours":
                    took, events, accepted = run_ours(source, ctx.work / "b2-data", url, username)
                    ours_rates.append(accepted / took)
                else:
                    took, accepted = run_bare(url, events)
                    bare_rates.append(accepted / took)
                details["runs"].append({"who": who, "seconds": round(took, 3), "accepted": accepted})
    n = len(events)
    ours = statistics.median(ours_rates)
    bare = statistics.median(bare_rates)
    name = "nostr-sdk LocalRelay" if kind == "sdk" else "PyPI nostr-relay"
    return Row(
        id="B2" + ("a" if kind == "sdk" else "b"),
        what=f"{WHAT} to {name}, {n:,} events",
        unit="ev/s",
        ours=ours,
        limit=bare,
        limit_what="bare websockets client",
        figure=ours / bare,
        figure_what="of bare",
        op=">=",
        target=0.7,  # issue 9: both relays (issue 8 asked 0.5 of the in-process one)
        details={"events": n, **details},
    )


def source_data(ctx: Context) -> Path:
    """The data directory of B2's one-user cache: ``b2_events`` tweets, never published."""
    n = ctx.sizes.b2_events
    root, _ = ctx.cache(CacheSpec(files=round(n * 1.27) + 1, users=1, records=False))
    return root / "data"


def run_b2(ctx: Context) -> list[Row]:
    """B2 against the built-in nostr-sdk relay, then the PyPI relay."""
    try:
        import nostrweet.publish.publisher  # noqa: F401
    except ImportError as exc:
        return [not_measured("B2", WHAT, f"{exc.name} has not landed")]
    source = source_data(ctx)
    rows = [_one_relay(ctx, "sdk", source, username_of(0))]
    try:
        from tests.fakes.nostr_relay_proc import RELAY_BIN
    except ImportError:
        rows.append(
            not_measured("B2b", f"{WHAT} to PyPI nostr-relay", "tests/fakes/nostr_relay_proc.py missing")
        )
        return rows
    if not Path(RELAY_BIN).exists():
        why = f"{RELAY_BIN} is not installed (run tests/fakes/install_nostr_relay.sh)"
        rows.append(not_measured("B2b", f"{WHAT} to PyPI nostr-relay", why))
        return rows
    rows.append(_one_relay(ctx, "pypi", source, username_of(0)))
    return rows
