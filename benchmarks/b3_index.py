"""B3 (start-up: a ready store whatever the cache's size) and B6a/B6b (how start-up grows with it).

Start-up lists nothing (SPEC §2): a command opens ``nostrweet.store.CacheStore`` and asks the state what
it needs. B3 measures, in a fresh interpreter for every sample, the time from the first line after the
imports to the first answers: the store opened (data dir, writer marker), the state opened (SQLite
settings, schema version checked, the import's ``meta`` rows read), one tweet looked up by id and read,
one user's tweets and newest id, one profile (a benchmark that ran a daemon over the same cache may have
left a newer profile row whose file it removed: then the lookup finds no file, at the same cost). The imports (the store, and the state
with SQLAlchemy that it loads on its first question) are the same at every size and are reported
beside (``imports_s``), with the wall time of a whole trivial command (``nostrweet list-tweets -u USER``
in its own process). The big cache (1,000,000 files) and a small one (11,000 files) alternate; the
figure is the big cache's median, against the target of 0.2 s, and the small one is the limit it is
set beside ("whatever the cache size").

Both caches carry their state database: the one-time import of the generated file layout
(``state.opening.open_data_state``, one listing) runs once per cache before any timing and stays with
the cache (B4 does the same); its time is in the details when this run made it.

B6a: the fitted exponent of the start-up time against the file count over B6's three caches (flat: 0).
B6b: the same for the start-up's memory (peak RSS after the first answers minus the peak after the
imports). They measured the in-memory index of the listing before start-up stopped building one.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.gen_cache import Manifest, username_of
from benchmarks.harness import Row, fit_exponent
from nostrweet.state.engine import STATE_FILE

REPO = Path(__file__).resolve().parent.parent
TARGET_S = 0.2

_OPEN_STATE_SCRIPT = """
import sys, time
from pathlib import Path
from nostrweet.state.opening import open_data_state
open_data_state(Path(sys.argv[1]), None, now=time.time()).close()
"""

# One sample: imports, then the start-up of a read-only command and its first answers, in a fresh process.
_STARTUP_SCRIPT = """
import json, sys, time
t0 = time.perf_counter()
from pathlib import Path
from nostrweet.store import CacheStore
import nostrweet.state.index, nostrweet.state.opening  # (the store loads them on its first question)
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
t1 = time.perf_counter()
before = hwm()
store = CacheStore(Path(sys.argv[1]), read_only=True)
user = sys.argv[2]
ids = store.tweet_ids_of(user)
doc = store.read_tweet(ids[-1])
newest = store.newest_tweet_id(user)
profile = store.newest_profile(user)
t2 = time.perf_counter()
after = hwm()
store.close()
assert doc is not None and newest == ids[-1]
print(json.dumps({"imports_s": t1 - t0, "startup_s": t2 - t1, "before_kb": before, "after_kb": after,
                  "tweets_of_user": len(ids), "profile": profile is not None}))
"""


def ensure_state(data: Path) -> float | None:
    """Import the generated cache into its state once (in its own interpreter); the seconds it took,
    or None when the state was there already."""
    if (data / STATE_FILE).exists():
        return None
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", _OPEN_STATE_SCRIPT, str(data)], cwd=REPO, check=True, timeout=7200)
    return time.perf_counter() - start


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), str(REPO), env.get("PYTHONPATH")]))
    return env


def startup_sample(data: Path, user: str) -> dict[str, Any]:
    """One start-up in a fresh interpreter (see the module docstring)."""
    out = subprocess.run(
        [sys.executable, "-c", _STARTUP_SCRIPT, str(data), user],
        cwd=REPO,
        env=_env(),
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def command_sample(data: Path, user: str) -> float:
    """Wall time of a whole trivial command: ``nostrweet -q -d DATA list-tweets -u USER``."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "nostrweet", "-q", "-d", str(data), "list-tweets", "-u", user],
        cwd=REPO,
        env=_env(),
        check=True,
        capture_output=True,
        timeout=600,
    )
    return time.perf_counter() - start


def measure(caches: list[tuple[Path, Manifest]], reps: int) -> list[dict[str, Any]]:
    """Medians per cache of ``reps`` start-ups and commands, the caches alternating (after one untimed
    round each, so the page cache is warm for all)."""
    datas = [root / "data" for root, _ in caches]
    imported = [ensure_state(d) for d in datas]
    users = [username_of(m.spec.users // 2) for _, m in caches]
    for data, user in zip(datas, users, strict=True):
        startup_sample(data, user)
    samples: list[list[dict[str, Any]]] = [[] for _ in caches]
    commands: list[list[float]] = [[] for _ in caches]
    for i in range(reps):
        order = list(range(len(caches)))
        if i % 2:
            order.reverse()
        for k in order:
            samples[k].append(startup_sample(datas[k], users[k]))
            commands[k].append(command_sample(datas[k], users[k]))
    out = []
    for k, (_, manifest) in enumerate(caches):
        got = samples[k]
        out.append(
            {
                "files": manifest.files,
                "startup_s": statistics.median(s["startup_s"] for s in got),
                "imports_s": statistics.median(s["imports_s"] for s in got),
                "command_s": statistics.median(commands[k]),
                "startup_mem_mb": statistics.median(
                    max(s["after_kb"] - s["before_kb"], 1) / 1024 for s in got
                ),
                "startup_samples": [round(s["startup_s"], 4) for s in got],
                "command_samples": [round(c, 3) for c in commands[k]],
                "tweets_of_user": got[0]["tweets_of_user"],
                "import_once_s": imported[k],
            }
        )
    return out


def run_b3(big: tuple[Path, Manifest], small: tuple[Path, Manifest], reps: int) -> Row:
    """B3: start-up on the big cache against the same on the small one."""
    big_point, small_point = measure([big, small], reps)
    manifest = big[1]
    return Row(
        id="B3",
        what=f"start-up to a ready store + first lookups, {manifest.files:,} files / {manifest.spec.users:,} users",
        unit="s",
        ours=big_point["startup_s"],
        limit=small_point["startup_s"],
        limit_what=f"the same on {small_point['files']:,} files",
        figure=big_point["startup_s"],
        figure_what="s",
        op="<=",
        target=TARGET_S,
        details={"reps": reps, "big": big_point, "small": small_point},
    )


def run_b6_index(caches: list[tuple[Path, Manifest]], reps: int) -> list[Row]:
    """B6a/B6b: start-up time and memory against the file count, with fitted exponents."""
    points = measure(caches, reps)
    files = [float(p["files"]) for p in points]
    k_time = fit_exponent(files, [p["startup_s"] for p in points])
    k_mem = fit_exponent(files, [p["startup_mem_mb"] for p in points])
    sizes = "/".join(f"{int(f):,}" for f in files)
    return [
        Row(
            id="B6a",
            what=f"start-up time growth over {sizes} files",
            unit="",
            ours=k_time,
            limit=0.0,
            limit_what="flat (no listing)",
            figure=k_time,
            figure_what="fitted exponent",
            op="<=",
            target=0.1,
            details={"points": points},
        ),
        Row(
            id="B6b",
            what=f"start-up memory growth over {sizes} files",
            unit="",
            ours=k_mem,
            limit=0.0,
            limit_what="flat (no index in memory)",
            figure=k_mem,
            figure_what="fitted exponent",
            op="<=",
            target=0.1,
            details={"points": points},
        ),
    ]
