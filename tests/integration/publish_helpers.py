"""Helpers of the publishing integration tests: run the real CLI in a subprocess, or the daemon's
pipeline in-process, and read records."""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnemonic import Mnemonic
from sqlalchemy import select

from nostrweet.cache.layout import event_filename
from nostrweet.config import ConfigFile, UserOverrides
from nostrweet.daemon.config import DaemonConfig
from nostrweet.daemon.pipeline import DAEMON_BOUNDS, DaemonPipeline
from nostrweet.nostr.event import SignedEvent
from nostrweet.nostr.keys import KeyDeriver
from nostrweet.nostr.relays import RelayPool
from nostrweet.publish.outcome import MemoryBounds
from nostrweet.settings import GlobalOptions, Secret
from nostrweet.state.engine import STATE_FILE, default_state_url, open_state
from nostrweet.state.records import RecordRepo
from nostrweet.state.schema import events
from tests.fakes.x_api import FakeXApi

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Cli:
    """The nostrweet command with a data dir, a mnemonic file and (optionally) a fake X API."""

    data_dir: Path
    mnemonic: str
    mnemonic_file: Path
    api_url: str | None = None
    bearer_token: str | None = None

    def run(
        self, *args: str, check: bool = True, timeout: float = 120, code: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``nostrweet ARGS`` (or, with ``code``, ``python -c CODE`` with the same arguments)."""
        cmd = [
            sys.executable,
            *(["-c", code] if code is not None else ["-m", "nostrweet"]),
            "-d",
            str(self.data_dir),
            "--mnemonic-file",
            str(self.mnemonic_file),
        ]
        if self.api_url:
            cmd += ["--twitter-api-url", self.api_url]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NOSTRWEET_", "TWITTER_"))}
        if self.bearer_token:
            env["TWITTER_BEARER_TOKEN"] = self.bearer_token
        proc = subprocess.run(
            [*cmd, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=self.data_dir.parent
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"nostrweet {' '.join(args)} exited {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
            )
        return proc


def make_cli(tmp_path: Path, api_url: str | None = None, bearer_token: str | None = None) -> Cli:
    """A Cli with a fresh random mnemonic in a file and an empty data dir."""
    phrase = Mnemonic("english").generate(128)
    mfile = tmp_path / "mnemonic.txt"
    mfile.write_text(phrase + "\n")
    mfile.chmod(0o600)  # as a user keeps it; an open mnemonic file gets a warning line
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    return Cli(data, phrase, mfile, api_url, bearer_token)


@asynccontextmanager
async def running_pipeline(
    api: FakeXApi,
    data_dir: Path,
    users: Sequence[str],
    relays: Sequence[str],
    *,
    backfill: int,
    mnemonic: str | None = None,
    pool: RelayPool | None = None,
    state_url: str | None = None,
    bounds: MemoryBounds = DAEMON_BOUNDS,
    overrides: Mapping[str, UserOverrides] | None = None,
) -> AsyncIterator[DaemonPipeline]:
    """The daemon's real pipeline in-process over the fake X API, started, and closed when the block
    ends (even if the start fails): NIP-06 keys from ``mnemonic`` (a fresh one if not given), no
    Blossom, and ``pool`` if given, else a pool over ``relays``."""
    phrase = mnemonic or Mnemonic("english").generate(128)
    options = GlobalOptions(
        data_dir=data_dir,
        bearer_token=Secret(api.bearer_token),
        mnemonic=Secret(phrase),
        twitter_api_url=api.url,
        key_derivation="nip06",
        config=ConfigFile(),
        log_level=logging.WARNING,
        log_format="text",
        state_url=state_url,
    )
    config = DaemonConfig(
        users=tuple(users),
        relays=tuple(relays),
        blossom_servers=(),
        backfill=backfill,
        overrides=dict(overrides or {}),
    )
    keys = KeyDeriver(Secret(phrase))
    pipeline = DaemonPipeline(options, config, keys=keys, pool=pool or RelayPool(list(relays)), bounds=bounds)
    try:
        await pipeline.start()
        yield pipeline
    finally:
        await pipeline.aclose()


def records(data_dir: Path) -> dict[str, dict[str, Any]]:
    """Every event record in the data dir's state, as JSON, by the name the file layout gave it
    (``event_<id>_<subject>_<subject id>.json``, so tests can pick records by subject)."""
    if not (data_dir / STATE_FILE).exists():
        return {}
    state = open_state(default_state_url(data_dir))
    try:
        repo = RecordRepo(state)
        with state.engine.connect() as conn:
            ids = list(conn.execute(select(events.c.event_id)).scalars())
        found = repo.get_many(ids)
    finally:
        state.close()
    return {
        event_filename(r.event_id, r.subject, r.subject_id): r.to_json()
        for r in sorted(found, key=lambda r: r.event_id)
    }


def tweet_record_count(data_dir: Path) -> int:
    """How many tweet event records the data dir's state holds, read while a daemon may write it (a
    read-only connection of the standard sqlite3 module; 0 before the state exists)."""
    path = data_dir / STATE_FILE
    if not path.exists():
        return 0
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as conn:
            return int(conn.execute("SELECT count(*) FROM events WHERE subject = 'tweet'").fetchone()[0])
    except sqlite3.Error:
        return 0  # (the schema is being created)


def tweet_records(data_dir: Path) -> dict[str, list[str]]:
    """Tweet id -> event ids of its records in the data dir's state."""
    out: dict[str, list[str]] = {}
    for record in records(data_dir).values():
        if record["subject"] == "tweet":
            out.setdefault(str(record["subject_id"]), []).append(record["event"]["id"])
    return out


def forget_records(data_dir: Path) -> None:
    """Delete every event record from the data dir's state (as if they were lost)."""
    state = open_state(default_state_url(data_dir))
    try:
        RecordRepo(state).delete_all()
    finally:
        state.close()


def query(cli: Cli, relay: str, kinds: tuple[int, ...] = (0, 1, 6, 10002, 10063)) -> list[SignedEvent]:
    """Events read back with ``utils query-events --format json``, one kind at a time (the PyPI relay
    answers nothing to a filter without kinds, authors or ids)."""
    events: dict[str, SignedEvent] = {}
    for kind in kinds:
        proc = cli.run(
            "utils", "query-events", "-r", relay, "--kind", str(kind), "--limit", "1000", "--format", "json"
        )
        for line in proc.stdout.splitlines():
            if line.strip():
                event = SignedEvent.from_json(line)
                events[event.id] = event
    return list(events.values())
