"""The file import on a small cache written by today's stores (no servers): unreadable files are reported
and left, and instances that start together on PostgreSQL import once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from nostrweet.cache.atomic import atomic_write_json
from nostrweet.cache.layout import EventSubject
from nostrweet.nostr.record import EventRecord, RelayState
from nostrweet.state.engine import open_state
from nostrweet.state.import_files import ImportReport, import_files
from nostrweet.state.records import RecordRepo
from nostrweet.state.users import UserRepo
from nostrweet.store import CacheIndex
from tests.data.file_layout import RecordStore

R1 = "wss://one.example"


def small_cache(data: Path, n: int = 30) -> None:
    store = RecordStore(data, CacheIndex())
    recs = []
    for i in range(n):
        event = {"id": f"{i + 1:064x}", "pubkey": "ab" * 32, "kind": 1, "created_at": 1_600_000_000 + i}
        status = "pending" if i % 3 == 0 else "accepted"
        recs.append(
            EventRecord(event, EventSubject.TWEET, str(1000 + i), {R1: RelayState(status)}, str(1000 + i))
        )
    store.save_many(recs)
    (data / "daemon_state").mkdir()
    atomic_write_json(data / "daemon_state" / "alice.json", {"format": 1, "user_id": "1", "since_id": "1005"})
    (data / "daemon_state" / "broken.json").write_text("{not json")


def test_unreadable_files_are_reported_and_left(state_url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    small_cache(data)
    state = open_state(state_url)
    try:
        report = import_files(state, data, now=0)
        assert report.records == 30 and report.users == 1
        assert report.skipped == ["daemon_state/broken.json"]
        assert (data / "daemon_state" / "broken.json").exists()
        assert len(RecordRepo(state).pending(1e10)) == 10
        row = UserRepo(state).load("alice")
        assert row is not None and row.since_id == "1005"
    finally:
        state.close()


@pytest.mark.integration
def test_instances_starting_together_import_once(pg_url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    small_cache(data, 300)
    state = open_state(pg_url)
    barrier = threading.Barrier(3)

    def run(_: int) -> ImportReport:
        barrier.wait()
        return import_files(state, data, now=0)

    try:
        with ThreadPoolExecutor(3) as pool:
            reports = list(pool.map(run, range(3)))
        assert sorted(r.done_before for r in reports) == [False, True, True]
        assert RecordRepo(state).count() == 300
    finally:
        state.close()
