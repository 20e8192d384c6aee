"""B8: the state database against the file record store, on the outbox's two hot operations.

Write ``n`` event records with two relay rows each, in batches of 500 (one transaction per batch; the
file store does one group sync per batch), then read back the records with a pending relay. SQLite
(``state.records.RecordRepo``) is "ours", the file store of the earlier layout (``RecordStore``, kept in
``tests/data/file_layout.py`` to build such caches for the import tests) the reference, both timed
alternately in fresh directories.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from tests.data.file_layout import RecordStore

from benchmarks.harness import Row, median_pair
from nostrweet.cache.layout import EventSubject
from nostrweet.nostr.record import EventRecord, RelayState
from nostrweet.state.engine import default_state_url, open_state
from nostrweet.state.records import RecordRepo
from nostrweet.store import CacheIndex

BATCH = 500
NOW = 1_700_000_000.0
R1, R2 = "wss://one.example", "wss://two.example"


def make_records(n: int) -> list[EventRecord]:
    """``n`` records of tweets; every second one still pending on the second relay."""
    out = []
    for i in range(n):
        event: dict[str, Any] = {
            "id": f"{i + 1:064x}",
            "pubkey": "ab" * 32,
            "kind": 1,
            "created_at": 1_600_000_000 + i,
            "tags": [["r", f"https://x.com/i/status/{10**17 + i}"]],
            "content": f"tweet number {i} with a little text in it, like a real one " * 2,
            "sig": "cd" * 64,
        }
        relays = {R1: RelayState("accepted", "", 1, None, 1)}
        relays[R2] = (
            RelayState("pending", "timeout", 1, 0, 1) if i % 2 else RelayState("accepted", "", 1, None, 1)
        )
        out.append(EventRecord(event, EventSubject.TWEET, str(10**17 + i), relays, str(10**17 + i)))
    return out


def run_sqlite(work: Path, records: list[EventRecord]) -> int:
    """Write in batches, then read the pending records; returns how many are pending."""
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        state = open_state(default_state_url(Path(tmp)))
        try:
            repo = RecordRepo(state)
            for start in range(0, len(records), BATCH):
                repo.save_many(records[start : start + BATCH])
            return len(repo.pending(NOW, [R1, R2], limit=len(records)))
        finally:
            state.close()


def run_files(work: Path, records: list[EventRecord]) -> int:
    """The same with the file record store (fresh copies: the store keeps names on the records)."""
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        store = RecordStore(Path(tmp), CacheIndex())
        for start in range(0, len(records), BATCH):
            part = [
                EventRecord(r.event, r.subject, r.subject_id, dict(r.relays), r.tweet_id)
                for r in records[start : start + BATCH]
            ]
            store.save_many(part)
        reader = RecordStore(Path(tmp), store.index, cache_size=1)
        return sum(1 for n in reader.pending_names() if reader.load(n, keep=False) is not None)


def run_b8(work: Path, n: int, reps: int) -> list[Row]:
    """B8 row: SQLite against the file store."""
    records = make_records(n)
    assert run_sqlite(work, records) == run_files(work, records) == n // 2
    ours, files, ours_s, files_s = median_pair(
        lambda: run_sqlite(work, records), lambda: run_files(work, records), reps
    )
    return [
        Row(
            id="B8",
            what=f"state: write {n:,} records (2 relays each) in batches of {BATCH}, read the pending",
            unit="s",
            ours=ours,
            limit=files,
            limit_what="file record store, same work",
            figure=files / ours if ours else None,
            figure_what="x faster than files",
            op=">=",
            target=None,
            note="SQLite state against the earlier file layout's record store; no target set",
            details={"records": n, "reps": reps, "sqlite_s": ours_s, "files_s": files_s},
        )
    ]
