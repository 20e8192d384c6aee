"""B2c: the wall time of a command that publishes one tweet, start to exit (issue #9: under 0.6 s).

Ours: ``python -m nostrweet -q -d DIR post-tweet-to-nostr ID -r <relay>`` in a subprocess, each run a
tweet not published yet, on a data directory whose state is already open (a user who ran
``user-tweets`` has one: the first start's import is B3's business, not this row's), against a fresh
nostr-sdk ``LocalRelay`` in a helper interpreter. One untimed run first (it publishes the profile, and
writes the bytecode of an editable install, as ``pip install`` does for an installed one); then
``reps`` timed runs, the median kept. The limit is the issue's 0.6 s; the details also give, from the
same run, a bare interpreter's start and the import of the libraries such a command needs (Typer,
websockets, coincurve, msgspec), so the part that is ours can be told from what any such command pays;
and ``import sqlalchemy`` alone, which a one-tweet publish no longer pays (its state statements are SQL
text on ``sqlite3``, ``state/sql.py``) but every command did before.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.b1_sign import BENCH_MNEMONIC
from benchmarks.b2_publish import REPO, sdk_relay
from benchmarks.gen_cache import CacheSpec, username_of
from benchmarks.harness import Row

if TYPE_CHECKING:
    from benchmarks.__main__ import Context

WHAT = "publish one tweet (post-tweet-to-nostr), start to exit, to nostr-sdk LocalRelay"
LIMIT_SECONDS = 0.6
TWEETS = 50
LIBRARIES = "import typer, websockets.asyncio.client, coincurve, msgspec"
"""The libraries a one-tweet publish cannot do without, imported alone (a detail of the row)."""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOSTRWEET_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed package has its bytecode
    # this checkout's sources first: the venv's editable install may point at another checkout
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO)])
    env["NOSTRWEET_MNEMONIC"] = BENCH_MNEMONIC
    return env


def _wall(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[1:])} exited {done.returncode}: {done.stderr.strip()[-300:]}")
    return took


def _tweet_ids(data: Path, username: str) -> list[str]:
    marker = f"_{username}_"
    return sorted(p.stem.rpartition("_")[2] for p in data.glob("*.json") if marker in p.name)


def run_b2c(ctx: Context) -> list[Row]:
    """B2c: ``reps`` one-tweet publishes against a fresh relay, each of a tweet not published yet."""
    reps = 3 if ctx.smoke else 7
    spec = CacheSpec(files=round(TWEETS * 1.27) + 1, users=1, records=False)
    root, _ = ctx.cache(spec)
    data = ctx.work / "b2c-data"
    if data.exists():
        shutil.rmtree(data)
    shutil.copytree(root / "data", data)
    env = _env()
    base = [sys.executable, "-m", "nostrweet", "-q", "-d", str(data)]
    _wall([*base, "reindex"], env)  # the state opened once, as by user-tweets
    ids = _tweet_ids(data, username_of(0))
    if len(ids) < reps + 1:
        raise RuntimeError(f"the cache has {len(ids)} tweets, {reps + 1} are needed")
    runs: list[float] = []
    interpreter: list[float] = []
    libraries: list[float] = []
    sqlalchemy: list[float] = []
    with sdk_relay() as url:
        _wall([*base, "post-tweet-to-nostr", ids[0], "-r", url], env)  # untimed: profile, bytecode
        for tweet_id in ids[1 : reps + 1]:
            runs.append(_wall([*base, "post-tweet-to-nostr", tweet_id, "-r", url], env))
            interpreter.append(_wall([sys.executable, "-c", "pass"], env))
            libraries.append(_wall([sys.executable, "-c", LIBRARIES], env))
            sqlalchemy.append(_wall([sys.executable, "-c", "import sqlalchemy"], env))
    ours = statistics.median(runs)
    return [
        Row(
            id="B2c",
            what=WHAT,
            unit="s",
            ours=ours,
            limit=LIMIT_SECONDS,
            limit_what="issue 9",
            figure=ours,
            figure_what="s wall",
            op="<=",
            target=LIMIT_SECONDS,
            details={
                "runs": [round(r, 3) for r in runs],
                "bare_interpreter_s": round(statistics.median(interpreter), 3),
                "import_libraries_s": round(statistics.median(libraries), 3),
                "import_sqlalchemy_s": round(statistics.median(sqlalchemy), 3),
            },
        )
    ]
