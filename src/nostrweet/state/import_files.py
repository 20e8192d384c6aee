"""Import a cache written by the file-based layout into the state, once (SPEC §2).

What is imported: the event records (``nostr_events/event_*.json``; when a record exists under both
forms, the ``.pending`` one, as the file store reads it), ``daemon_state/<username>.json``, the Blossom
memo (``blossom/<sha256>.json``), and the index of the archive (tweets, newest profiles, not-found
markers, tweets whose files were moved aside) from ONE listing through ``cache.scan.build_index``. Files are only read, never moved or
removed. When it is done a ``meta`` row says so, and a second run does nothing.

The statements are SQL text (``state.sql``) run by the repositories, one transaction after another;
on PostgreSQL an advisory lock, held on a connection of its own, makes instances import once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nostrweet.cache import layout
from nostrweet.cache.scan import build_index
from nostrweet.nostr.record import EventRecord
from nostrweet.state import versions
from nostrweet.state.blossom import BlobCopy, BlossomMemo
from nostrweet.state.engine import State
from nostrweet.state.index import ArchiveIndex, TweetRow
from nostrweet.state.records import RecordRepo
from nostrweet.state.sql import DriverTx
from nostrweet.state.users import UserRepo, UserRow

log = logging.getLogger(__name__)

IMPORTED_KEY = versions.FILES_IMPORTED
DAEMON_STATE_DIR = "daemon_state"
BLOSSOM_DIR = "blossom"
BATCH = 1000


@dataclass(slots=True)
class ImportReport:
    """What an import brought in (all zero when it had been done before)."""

    done_before: bool = False
    records: int = 0
    relay_rows: int = 0
    users: int = 0
    blobs: int = 0
    tweets: int = 0
    profiles: int = 0
    not_found: int = 0
    skipped: list[str] = field(default_factory=list)
    """Files that could not be read or parsed (left where they are)."""


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


def _listing(directory: Path) -> list[str]:
    try:
        return sorted(p.name for p in directory.iterdir())
    except FileNotFoundError:
        return []


def was_imported(state: State) -> bool:
    """Whether the file layout was imported into this state already."""
    return is_marked(state, IMPORTED_KEY)


def is_marked(state: State, key: str) -> bool:
    """Whether the ``meta`` row ``key`` exists."""
    with state.read() as tx:
        return tx.first('SELECT 1 FROM meta WHERE "key" = :key', {"key": key}) is not None


def mark(state: State, key: str, now: float) -> None:
    """Write the ``meta`` row ``key`` (the time ``now``) unless it exists."""
    with state.write() as tx:
        tx.run(
            'INSERT INTO meta ("key", value) VALUES (:key, :value) ON CONFLICT ("key") DO NOTHING',
            {"key": key, "value": str(int(now))},
        )


@contextmanager
def advisory_lock(state: State, key: int) -> Iterator[None]:
    """On PostgreSQL, hold the session advisory lock ``key`` (waiting for it) for the ``with`` block, on
    a pooled connection of its own in autocommit, so the block's own transactions run beside it; on
    SQLite (one instance) nothing is locked."""
    if not state.is_postgres:
        yield
        return
    conn = state.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    clean = False
    try:
        tx = DriverTx(conn, is_postgres=True)
        tx.first("SELECT pg_advisory_lock(:k)", {"k": key})
        try:
            yield
        finally:
            clean = _unlock(tx, key)
    finally:
        if not clean:  # the lock may still be held: this connection must not go back to the pool
            conn.invalidate()
        conn.close()


def _unlock(tx: DriverTx, key: int) -> bool:
    """Release the lock ``key``; False when the connection failed (the lock went with it)."""
    try:
        tx.first("SELECT pg_advisory_unlock(:k)", {"k": key})
    except Exception as exc:
        log.debug("state import: the lock's connection failed at release: %s", exc)
        return False
    return True


def _record_names(events_dir: Path) -> Iterator[tuple[str, layout.EventName]]:
    chosen: dict[str, tuple[str, layout.EventName]] = {}
    for name in _listing(events_dir):
        parsed = layout.parse_event_filename(name)
        if parsed is None:
            continue
        known = chosen.get(parsed.settled_name)
        if known is None or parsed.pending:
            chosen[parsed.settled_name] = (name, parsed)
    yield from chosen.values()


def _import_records(state: State, data_dir: Path, report: ImportReport) -> None:
    repo = RecordRepo(state)
    events_dir = data_dir / layout.EVENTS_DIR
    batch: list[EventRecord] = []
    for name, parsed in _record_names(events_dir):
        try:
            record = EventRecord.from_json(_read(events_dir / name), parsed)
        except (ValueError, TypeError, KeyError):
            report.skipped.append(f"{layout.EVENTS_DIR}/{name}")
            continue
        batch.append(record)
        report.relay_rows += len(record.relays)
        if len(batch) >= BATCH:
            repo.save_many(batch)
            report.records += len(batch)
            batch = []
    repo.save_many(batch)
    report.records += len(batch)


def _opt_id(value: Any) -> str | None:
    return value if isinstance(value, str) and value.isdigit() else None


def _import_users(state: State, data_dir: Path, report: ImportReport) -> None:
    rows: list[UserRow] = []
    directory = data_dir / DAEMON_STATE_DIR
    for name in _listing(directory):
        if not name.endswith(".json") or name.startswith("."):
            continue
        data = _read(directory / name)
        if not isinstance(data, dict) or not isinstance(data.get("user_id"), str):
            report.skipped.append(f"{DAEMON_STATE_DIR}/{name}")
            continue
        backfill = data.get("backfill")
        rows.append(
            UserRow(
                username=name.removesuffix(".json"),
                user_id=data["user_id"],
                since_id=_opt_id(data.get("since_id")),
                backfill=backfill if isinstance(backfill, int) else None,
                backfill_floor=_opt_id(data.get("backfill_floor")),
                backfill_done=bool(data.get("backfill_done", True)),
            )
        )
    UserRepo(state).save_many(rows)
    report.users = len(rows)


def _import_blossom(state: State, data_dir: Path, report: ImportReport) -> None:
    copies: list[BlobCopy] = []
    directory = data_dir / BLOSSOM_DIR
    for name in _listing(directory):
        if not name.endswith(".json") or name.startswith("."):
            continue
        data = _read(directory / name)
        servers = data.get("servers") if isinstance(data, dict) else None
        if not isinstance(servers, dict):
            report.skipped.append(f"{BLOSSOM_DIR}/{name}")
            continue
        assert isinstance(data, dict)
        sha = str(data.get("sha256") or name.removesuffix(".json"))
        size = data.get("size")
        mime = data.get("type")
        for server, url in servers.items():
            copies.append(
                BlobCopy(
                    sha,
                    str(server),
                    str(url),
                    size if isinstance(size, int) else None,
                    mime if isinstance(mime, str) else None,
                )
            )
        report.blobs += 1
    BlossomMemo(state).remember(copies)


def _import_index(state: State, data_dir: Path, report: ImportReport) -> None:
    index = build_index(data_dir, events=False)  # (the records were read by their own listing)
    archive = ArchiveIndex(state)
    rows = [
        row for i in index.iter_tweet_ids() if (n := index.tweet_name(i)) and (row := TweetRow.from_name(n))
    ]
    archive.add_tweets(rows)
    report.tweets = len(rows)
    profiles = [e.newest_profile for e in index.users.values() if e.newest_profile]
    archive.add_profiles(p for p in profiles if p)
    report.profiles = len(profiles)
    archive.add_not_found(index.not_found)
    report.not_found = len(index.not_found)
    for username, ids in index.corrupt.items():
        for tweet_id in ids:
            archive.add_corrupt(username, tweet_id)


IMPORT_LOCK_KEY = 0x696D706F7274  # "import"
"""The key of the PostgreSQL advisory lock held during an import."""


def import_files(state: State, data_dir: Path, *, now: float) -> ImportReport:
    """Import the file layout of ``data_dir`` into ``state`` unless that was done before.

    On PostgreSQL a session advisory lock is held meanwhile, so instances that start together import
    once: the others wait, then find the ``meta`` row.
    """
    with advisory_lock(state, IMPORT_LOCK_KEY):
        return _import_once(state, data_dir, now)


def _import_once(state: State, data_dir: Path, now: float) -> ImportReport:
    if was_imported(state):
        return ImportReport(done_before=True)
    report = ImportReport()
    data_dir = Path(data_dir)
    _import_records(state, data_dir, report)
    _import_users(state, data_dir, report)
    _import_blossom(state, data_dir, report)
    _import_index(state, data_dir, report)
    mark(state, IMPORTED_KEY, now)
    for skipped in report.skipped:
        log.warning("state import: %s is not readable, left as it is", skipped)
    return report
