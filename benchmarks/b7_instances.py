"""B7: the daemon's poll throughput with three instances on one PostgreSQL state, against one instance.

Set-up: the fake X server in this process with ``latency`` added to every /2/ request and ``users``
synthetic users (no new tweets: each steady-state poll is one timeline request with ``since_id``); a
nostr-sdk LocalRelay in a helper interpreter; PostgreSQL (``NOSTRWEET_BENCH_POSTGRES``, default
``postgresql://postgres@127.0.0.1:5432/postgres``), a fresh database per run, dropped after it.

For k = 1 and k = 3, k real ``nostrweet daemon`` processes (each its own data directory, one
``--state-url``, ``--poll-interval 1``, ``--max-concurrent C``) share the users through their leases.
After every user has been polled twice (first runs and identity announcements are over, the leases are
spread) the timeline requests the fake X server answers in ``window`` seconds give the poll rate; one
poll cycle is ``users / rate``. The figure is cycle(1) / cycle(3). The fake's budget answers are
checked too: no 429 (all instances together stayed within the budget).

Where the CPU goes, in the details of each k: per steady poll, the CPU milliseconds of the daemons, of
the PostgreSQL backends serving the run's database, and of this process (the fake X server's thread,
mostly), and the transactions PostgreSQL counted per poll (``pg_stat_database``).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.b2_publish import REPO, _env, sdk_relay
from benchmarks.harness import Row, not_measured

WHAT = "daemon poll cycle, 3 instances on PostgreSQL vs 1"
TIMELINE = "/2/users/{id}/tweets"
LOOKUP = "/2/users/by/username/{username}"
ADMIN_URL = os.environ.get("NOSTRWEET_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
MNEMONIC = "leader monkey parrot ring guide accident before fence cannon height naive bean"


def _postgres_missing() -> str | None:
    try:
        import psycopg

        psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5).close()
    except Exception as exc:
        return f"PostgreSQL at {ADMIN_URL} is not reachable ({type(exc).__name__})"
    return None


def _database() -> str:
    import psycopg

    name = f"nostrweet_b7_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return name


def _drop(name: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (0.0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pg_sample(database: str) -> tuple[int, dict[int, float]]:
    """The database's transactions so far and the CPU of each backend connected to it."""
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        row = admin.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s", (database,)
        ).fetchone()
        pids = [
            r[0] for r in admin.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,))
        ]
    return int(row[0] if row else 0), {pid: _cpu_seconds(pid) for pid in pids}


def _polled_twice(server: Any, user_ids: set[str]) -> bool:
    seen = Counter(r.path.split("/")[3] for r in server.requests_to(TIMELINE))
    return all(seen[u] >= 2 for u in user_ids)


def measure(
    work: Path, server: Any, relay: str, names: list[str], k: int, concurrency: int, window: float
) -> dict[str, Any]:
    """k instances over the users: the steady poll rate and what the fake X server saw."""
    database = _database()
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{database}"
    run = work / f"b7-{k}"
    run.mkdir(parents=True, exist_ok=True)
    mnemonic = run / "mnemonic"
    mnemonic.write_text(MNEMONIC + "\n")
    mnemonic.chmod(0o600)
    config = run / "nostrweet.toml"
    users = ", ".join(f'"{n}"' for n in names)
    config.write_text(f"[twitter]\nusers = [{users}]\n[state]\nlease_seconds = 6\n")
    user_ids = {server.world.user_by_username(n)["id"] for n in names}
    procs: list[subprocess.Popen[bytes]] = []
    logs = []
    try:
        server.reset_log()
        for i in range(k):
            log = (run / f"daemon{i}.log").open("wb")
            logs.append(log)
            cmd = [
                sys.executable, "-m", "nostrweet", "-q", "--log-format", "json",
                "-d", str(run / f"data{i}"), "--twitter-api-url", server.url,
                "--bearer-token", server.bearer_token, "--mnemonic-file", str(mnemonic),
                "--config", str(config), "daemon", "--state-url", url, "--instance-id", f"b7-{i}",
                "--poll-interval", "1", "--max-concurrent", str(concurrency), "--backfill", "0",
                "--stats-interval", "3600", "-r", relay,
            ]  # fmt: skip
            procs.append(subprocess.Popen(cmd, cwd=REPO, env=_env(), stdout=log, stderr=log))
        deadline = time.monotonic() + 900
        while not _polled_twice(server, user_ids):
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError(f"the daemons did not reach the steady state (see {run})")
            time.sleep(0.5)
        before = len(server.requests_to(TIMELINE))
        xacts_before, pg_before = _pg_sample(database)
        daemons_before = [_cpu_seconds(p.pid) for p in procs]
        here_before = time.process_time()
        started = time.monotonic()
        time.sleep(window)
        polls = len(server.requests_to(TIMELINE)) - before
        seconds = time.monotonic() - started
        here = time.process_time() - here_before
        daemons = [_cpu_seconds(p.pid) - b for p, b in zip(procs, daemons_before, strict=True)]
        xacts_after, pg_after = _pg_sample(database)
        pg = sum(cpu - pg_before.get(pid, 0.0) for pid, cpu in pg_after.items())
        statuses = Counter(r.status for r in server.requests)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for log in logs:
            log.close()
        _drop(database)
    rate = polls / seconds
    per_poll = 1000 / max(polls, 1)
    return {
        "instances": k,
        "polls_per_s": rate,
        "cpu_ms_per_poll": {
            "daemons": round(sum(daemons) * per_poll, 2),
            "postgresql": round(pg * per_poll, 2),
            "fake_x_and_bench": round(here * per_poll, 2),
        },
        "daemon_cpu_share": [round(d / seconds, 2) for d in daemons],
        "transactions_per_poll": round((xacts_after - xacts_before) / max(polls, 1), 2),
        "cycle_s": len(names) / rate if rate else float("inf"),
        "answers_429": statuses.get(429, 0),
        "requests": sum(statuses.values()),
    }


def run_b7(work: Path, users: int, latency: float, concurrency: int, window: float) -> list[Row]:
    """B7 (see the module docstring)."""
    why = _postgres_missing()
    if why:
        return [not_measured("B7", WHAT, why)]
    from tests.fakes.x_api import FakeXApi

    server = FakeXApi()
    names = server.world.add_synthetic_users(users, tweets_each=1)
    server.set_limit(TIMELINE, 10**7)
    # each instance resolves every user once at its start: 4 x users lookups in all, more than X's
    # 300 per 15 minutes would allow; this measures the polls, not the start-up
    server.set_limit(LOOKUP, 10**7)
    server.faults.latency(latency)
    server.start()
    try:
        with sdk_relay() as relay:
            one = measure(work, server, relay, names, 1, concurrency, window)
            three = measure(work, server, relay, names, 3, concurrency, window)
    finally:
        server.stop()
    over = one["answers_429"] + three["answers_429"]
    return [
        Row(
            id="B7",
            what=f"{WHAT}: {users:,} users, {latency * 1000:.0f} ms latency, {concurrency} at once each",
            unit="s",
            ours=three["cycle_s"],
            limit=one["cycle_s"],
            limit_what="the same cycle on one instance",
            figure=one["cycle_s"] / three["cycle_s"],
            figure_what="x faster",
            op=">=",
            target=2.4,
            note=f"{over} answers over the X budget (429)" if over else "",
            details={"one": one, "three": three},
        )
    ]
