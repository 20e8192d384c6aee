"""B4 (one daemon poll cycle against the ideal), B5 (its peak RSS) and B6's daemon-memory part.

Set-up: the fake X server (tests/fakes/x_api.py) in this process with ``latency`` added to every /2/
request and the synthetic users added to its world; nostr-sdk's LocalRelay in a helper interpreter on
the port the generated event records name (so the records count as accepted there); the daemon in
its own interpreter (benchmarks/b4_worker.py) over the generated cache.

B4: the steady-state cycle (cycle 2: every user polled once, no new tweets, so one timeline request
with ``since_id`` each) against the ideal ``users x latency / concurrency``. Cycle 1 (first poll after
start: identities announced, startup outbox) is in the details.

B5: the daemon's peak RSS (VmHWM over start-up and both cycles) against a bare interpreter that imports
the same third-party modules the daemon had loaded. The figure is the difference in MB.

The daemon writes a few files into the cache (profile snapshots): they are removed after the run, and
``reindex`` points the state's profile rows back at the snapshots that are there. The
state database (``nostrweet.sqlite3``) is made once, before the first run, by importing the generated
cache in a separate interpreter; it stays with the cache.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.b2_publish import REPO, _env, sdk_relay
from benchmarks.gen_cache import DEFAULT_RELAY, Manifest, user_object
from benchmarks.harness import Row, fit_exponent, not_measured

if TYPE_CHECKING:
    from benchmarks.__main__ import Context

WHAT_B4 = "one daemon poll cycle"
WHAT_B5 = "daemon peak RSS over B4's cycle"
TIMELINE = "/2/users/{id}/tweets"

_OPEN_STATE_SCRIPT = """
import sys, time
from pathlib import Path
from nostrweet.state.opening import open_data_state
open_data_state(Path(sys.argv[1]), None, now=time.time()).close()
"""

_BARE_SCRIPT = """
import json, sys
for name in sys.argv[1:]:
    try:
        __import__(name)
    except Exception:
        pass
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        print(json.dumps({"peak_rss_kb": int(line.split()[1])}))
"""


def _listing(data: Path) -> set[str]:
    names: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(data):
        rel = os.path.relpath(dirpath, data)
        names.update(os.path.join(rel, n) for n in filenames + dirnames)
    return names


def _restore(data: Path, before: set[str]) -> int:
    """Remove what the daemon added to the cache; returns how many entries."""
    added = sorted(_listing(data) - before, key=len, reverse=True)
    for rel in added:
        path = data / rel
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    if added:  # the state's rows of the profiles it wrote now name removed files: point them back
        subprocess.run(
            [sys.executable, "-m", "nostrweet", "-q", "-d", str(data), "reindex"],
            cwd=REPO, env=_env(), capture_output=True, check=True, timeout=3600,
        )  # fmt: skip
    return len(added)


def run_daemon(
    root: Path,
    manifest: Manifest,
    users: int,
    latency: float,
    concurrency: int,
    cycles: int,
    *,
    extra_args: Sequence[str] = (),
    beside: Callable[[], AbstractContextManager[Any]] | None = None,
) -> dict[str, Any]:
    """One worker run over the cache under ``root``: the worker's JSON plus the bare baseline.

    ``extra_args`` go to the worker; ``beside`` is a context entered around its run (B10's HTTP client).
    """
    from tests.fakes.x_api import FakeXApi

    data = root / "data"
    # The daemon opens the data directory's state; the first open imports the generated cache into it
    # (once). Do that before, in its own interpreter, so the cycles and the peak RSS are the daemon's.
    subprocess.run(
        [sys.executable, "-c", _OPEN_STATE_SCRIPT, str(data)], cwd=REPO, env=_env(), check=True, timeout=3600
    )
    before = _listing(data)
    port = (
        int(manifest.spec.relay_url.rsplit(":", 1)[1])
        if manifest.spec.relay_url.startswith("ws://127.0.0.1:")
        else 0
    )
    server = FakeXApi()
    for i in range(users):
        server.world.add_user(user_object(i))
    server.set_limit(TIMELINE, 10**7)
    server.faults.latency(latency)
    server.start()
    try:
        with sdk_relay(port) as relay_url:
            cmd = [
                sys.executable, "-m", "benchmarks.b4_worker",
                "--data", str(data), "--api", server.url, "--relay", relay_url,
                "--bearer", server.bearer_token, "--users", str(users),
                "--concurrency", str(concurrency), "--cycles", str(cycles),
                *extra_args,
            ]  # fmt: skip
            with beside() if beside is not None else contextlib.nullcontext():
                done = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=1800)
            lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
            if not lines:
                raise RuntimeError(f"daemon worker exited {done.returncode}: {done.stderr.strip()[-400:]}")
            result: dict[str, Any] = json.loads(lines[-1])
            result["worker_exit"] = done.returncode
            result["requests"] = len(server.requests)
            result["timeline_requests"] = len(server.requests_to(TIMELINE))
            result["violations"] = list(server.violations)[:3]
    finally:
        server.stop()
        result_removed = _restore(data, before)
    bare = subprocess.run(
        [sys.executable, "-c", _BARE_SCRIPT, *result["modules"]], cwd=REPO, env=_env(),
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    result["bare_peak_rss_kb"] = json.loads(bare.stdout)["peak_rss_kb"]
    result["removed_after"] = result_removed
    return result


def _missing() -> str | None:
    try:
        import tests.fakes.x_api  # noqa: F401

        import nostrweet.daemon.pipeline  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} has not landed"
    return None


def run_b4_b5(ctx: Context) -> list[Row]:
    """B4 and B5 on B3's cache."""
    why = _missing()
    if why:
        return [not_measured("B4", WHAT_B4, why), not_measured("B5", WHAT_B5, why)]
    root, manifest = ctx.cache(ctx.sizes.b3)
    if manifest.spec.relay_url != DEFAULT_RELAY:
        return [not_measured("B4", WHAT_B4, "the cache's records name another relay")] * 1
    users = min(ctx.sizes.b4_users, manifest.spec.users)
    lat, conc = ctx.sizes.b4_latency, ctx.sizes.b4_concurrency
    res = run_daemon(root, manifest, users, lat, conc, cycles=2)
    ideal = users * lat / conc
    steady = res["cycles"][-1]
    first = res["cycles"][0]
    peak_mb = res["peak_rss_kb"] / 1024
    bare_mb = res["bare_peak_rss_kb"] / 1024
    note_b4 = ""
    if steady["errors"]:
        note_b4 = f"{steady['errors']} poll error(s), e.g. {steady['first_error']}"
    b4 = Row(
        id="B4",
        what=f"{WHAT_B4}: {users:,} users, {lat * 1000:.0f} ms latency, {conc} at once",
        unit="s",
        ours=steady["seconds"],
        limit=ideal,
        limit_what="ideal users x latency / concurrency",
        figure=steady["seconds"] / ideal,
        figure_what="x ideal",
        op="<=",
        target=1.25,
        note=note_b4,
        details={"first_cycle_s": first["seconds"], "first_cycle_x_ideal": first["seconds"] / ideal, **res},
    )
    b5 = Row(
        id="B5",
        what=f"{WHAT_B5}, {manifest.files:,} files",
        unit="MB",
        ours=peak_mb,
        limit=bare_mb,
        limit_what="bare interpreter, same imports",
        figure=peak_mb - bare_mb,
        figure_what="MB above",
        op="<=",
        target=120,
        details={"rss_after_start_mb": res["rss_after_start_kb"] / 1024, "modules": res["modules"]},
    )
    return [b4, b5]


def run_b6_daemon(ctx: Context, caches: list[tuple[Path, Manifest]]) -> list[Row]:
    """B6 for the daemon's peak RSS above the bare interpreter at each cache size (one cycle each)."""
    why = _missing()
    if why:
        return [not_measured("B6c", "daemon memory growth", why)]
    files: list[float] = []
    above: list[float] = []
    points = []
    for root, manifest in caches:
        users = min(ctx.sizes.b4_users, manifest.spec.users)
        res = run_daemon(root, manifest, users, ctx.sizes.b4_latency, ctx.sizes.b4_concurrency, cycles=1)
        delta = max(res["peak_rss_kb"] - res["bare_peak_rss_kb"], 1) / 1024
        files.append(manifest.files)
        above.append(delta)
        points.append({"files": manifest.files, "peak_mb": res["peak_rss_kb"] / 1024, "above_bare_mb": delta})
    k = fit_exponent(files, above)
    sizes = "/".join(f"{int(f):,}" for f in files)
    return [
        Row(
            id="B6c",
            what=f"daemon memory (above bare) growth over {sizes} files",
            ours=k,
            limit=1.0,
            limit_what="linear",
            figure=k,
            figure_what="fitted exponent",
            op="<=",
            target=1.1,
            details={"points": points},
        )
    ]
