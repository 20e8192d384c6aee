"""A read-only command opens an existing SQLite state without creating or changing any file (SPEC §2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nostrweet.cache.layout import EventSubject
from nostrweet.errors import InputError
from nostrweet.nostr.record import EventRecord, RelayState
from nostrweet.state.engine import STATE_FILE, default_state_url, open_state
from nostrweet.state.opening import open_data_state
from nostrweet.state.records import RecordRepo
from nostrweet.state.schema import schema_version


def listing(directory: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in directory.iterdir()}


def record(n: int) -> EventRecord:
    event = {"id": f"{n:064x}", "pubkey": "ab" * 32, "kind": 1, "created_at": n}
    return EventRecord(event, EventSubject.TWEET, str(n), {"wss://r": RelayState("accepted")}, str(n))


def test_a_closed_state_is_read_without_touching_a_file(tmp_path: Path) -> None:
    writer = open_data_state(tmp_path, None, now=0)
    RecordRepo(writer).save_many([record(1), record(2)])
    writer.close()
    before = listing(tmp_path)
    assert STATE_FILE in before and f"{STATE_FILE}-wal" not in before
    reader = open_data_state(tmp_path, None, now=0, read_only=True)
    try:
        assert RecordRepo(reader).count() == 2
        assert RecordRepo(reader).accepted_relays(1) == {"wss://r"}
    finally:
        reader.close()
    assert listing(tmp_path) == before


def test_a_state_a_writer_holds_is_read_with_what_it_committed(tmp_path: Path) -> None:
    writer = open_data_state(tmp_path, None, now=0)
    try:
        RecordRepo(writer).save(record(1))
        before = set(listing(tmp_path))
        assert f"{STATE_FILE}-wal" in before  # the writer is there
        reader = open_data_state(tmp_path, None, now=0, read_only=True)
        try:
            assert RecordRepo(reader).count() == 1
            RecordRepo(writer).save(record(2))
            assert RecordRepo(reader).count() == 2
        finally:
            reader.close()
        assert set(listing(tmp_path)) == before
    finally:
        writer.close()


def test_a_newer_schema_is_refused_by_a_reader_too(tmp_path: Path) -> None:
    writer = open_state(default_state_url(tmp_path))
    with writer.engine.begin() as conn:
        conn.execute(schema_version.update().values(version=99))
    writer.close()
    with pytest.raises(InputError, match="newer than"):
        open_data_state(tmp_path, None, now=0, read_only=True)
