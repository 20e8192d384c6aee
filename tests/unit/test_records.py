"""Event records: status transitions, retry policy, and the file layout's record writer (older caches)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nostrweet.cache.layout import MAX_NAME_ID, EventSubject, event_filename
from nostrweet.nostr.record import (
    BACKOFF_CAP,
    EventRecord,
    RelayState,
    apply_answer,
    backoff_seconds,
    best_record,
    due_relays,
    is_settled,
    needs_marker,
    next_due,
)
from nostrweet.store import build_index
from tests.data.file_layout import RecordStore

NOW = 1_700_000_000
R1, R2, R3 = "ws://127.0.0.1:1", "ws://127.0.0.1:2", "wss://relay.example"


def fake_event(n: int, created_at: int = NOW, kind: int = 1) -> dict[str, Any]:
    return {
        "id": f"{n:064x}",
        "pubkey": "ab" * 32,
        "created_at": created_at,
        "kind": kind,
        "tags": [],
        "content": f"note {n}",
        "sig": "cd" * 64,
    }


# ---- pure transitions ----------------------------------------------------------------------------

TRANSITIONS = [
    # (start status, outcome, expected status)
    ("pending", "accepted", "accepted"),
    ("pending", "duplicate", "accepted"),
    ("pending", "rejected", "rejected"),
    ("pending", "rate_limited", "pending"),
    ("pending", "pending", "pending"),
    ("accepted", "rejected", "accepted"),
    ("accepted", "pending", "accepted"),
    ("accepted", "rate_limited", "accepted"),
    ("rejected", "pending", "rejected"),
    ("rejected", "rate_limited", "rejected"),
    ("rejected", "accepted", "accepted"),
    ("rejected", "duplicate", "accepted"),
]


@pytest.mark.parametrize(("start", "outcome", "expected"), TRANSITIONS)
def test_transition_table(start: str, outcome: str, expected: str) -> None:
    state = RelayState(status=start, attempts=2)  # type: ignore[arg-type]
    new = apply_answer(state, outcome, "msg", NOW)
    assert new.status == expected
    if expected == "pending":
        assert new.next_attempt is not None and new.next_attempt > NOW
        assert new.attempts == 3
    if start != "accepted" and expected in ("accepted", "rejected"):
        assert new.next_attempt is None


def test_rejection_keeps_message_and_is_final() -> None:
    new = apply_answer(None, "rejected", "invalid: event too old", NOW)
    assert new == RelayState("rejected", "invalid: event too old", 1, None, NOW)
    assert new.is_final


def test_duplicate_counts_as_accepted() -> None:
    new = apply_answer(RelayState(), "duplicate", "duplicate: have it", NOW)
    assert new.status == "accepted" and new.is_final


def test_rate_limited_backs_off_longer_than_timeout() -> None:
    slow = apply_answer(None, "rate_limited", "rate-limited: slow down", NOW)
    down = apply_answer(None, "pending", "timeout", NOW)
    assert slow.next_attempt is not None and down.next_attempt is not None
    assert slow.next_attempt - NOW == 60 and down.next_attempt - NOW == 30


def test_backoff_doubles() -> None:
    assert [backoff_seconds(n) for n in range(5)] == [0, 30, 60, 120, 240]


@given(st.integers(min_value=0, max_value=10_000), st.booleans())
def test_backoff_monotone_and_capped(attempts: int, rate_limited: bool) -> None:
    a = backoff_seconds(attempts, rate_limited=rate_limited)
    b = backoff_seconds(attempts + 1, rate_limited=rate_limited)
    assert 0 <= a <= b <= BACKOFF_CAP


@given(
    st.lists(st.sampled_from(["accepted", "duplicate", "rejected", "rate_limited", "pending"]), max_size=30)
)
def test_accepted_is_absorbing(outcomes: list[str]) -> None:
    state: RelayState | None = None
    seen_accept = False
    for i, outcome in enumerate(outcomes):
        state = apply_answer(state, outcome, outcome, NOW + i)
        seen_accept = seen_accept or outcome in ("accepted", "duplicate")
        assert (state.status == "accepted") == seen_accept
        if state.status == "pending":
            assert state.next_attempt is not None and state.next_attempt > NOW + i


def test_due_relays_and_settled() -> None:
    record = EventRecord(
        fake_event(1),
        EventSubject.TWEET,
        "10",
        {
            R1: RelayState("accepted"),
            R2: RelayState("pending", attempts=1, next_attempt=NOW + 30),
        },
        "10",
    )
    assert due_relays(record, [R1, R2, R3], NOW) == [R3]  # missing relay is due at once
    assert due_relays(record, [R1, R2, R3], NOW + 30) == [R2, R3]
    assert next_due(record, [R1, R2]) == NOW + 30
    assert next_due(record, [R1, R2, R3]) == 0
    assert next_due(record, [R1]) is None
    assert not is_settled(record, [R1, R2])
    record.relays[R2] = apply_answer(record.relays[R2], "rejected", "blocked: no", NOW)
    assert is_settled(record, [R1, R2])
    assert not is_settled(record, [R1, R2, R3])
    assert record.ensure_relays([R1, R3]) is True
    assert record.relays[R3] == RelayState()


def test_best_record_prefers_most_accepted_then_newest() -> None:
    a = EventRecord(fake_event(1, NOW), EventSubject.TWEET, "1", {R1: RelayState("accepted")})
    b = EventRecord(fake_event(2, NOW + 5), EventSubject.TWEET, "1", {R1: RelayState("pending")})
    c = EventRecord(
        fake_event(3, NOW - 5),
        EventSubject.TWEET,
        "1",
        {R1: RelayState("accepted"), R2: RelayState("accepted")},
    )
    assert best_record([a, b]) is a
    assert best_record([a, b, c]) is c
    assert best_record([b]) is b
    assert best_record([]) is None


# ---- the file layout of earlier versions (the writer that builds older caches for the import) ---------


def test_store_round_trip_and_index(data_dir: Path) -> None:
    index = build_index(data_dir)
    records = RecordStore(data_dir, index)
    rec = records.get_or_create(fake_event(7), EventSubject.TWEET, "123", tweet_id="123")
    rec.ensure_relays([R1, R2])
    records.save(rec)
    name = event_filename(fake_event(7)["id"], EventSubject.TWEET, "123", pending=True)
    assert (data_dir / "nostr_events" / name).exists()
    on_disk = json.loads((data_dir / "nostr_events" / name).read_text())
    assert on_disk["relays"][R1]["status"] == "pending"
    assert on_disk["format"] == 1 and on_disk["tweet_id"] == "123"
    assert on_disk["event"]["id"] == fake_event(7)["id"]
    # the index kept current equals a fresh scan
    assert build_index(data_dir).tweet_records == index.tweet_records
    # a second save does not list the name twice
    rec.relays[R1] = apply_answer(rec.relays[R1], "accepted", "", NOW)
    records.save(rec)
    assert index.events_of_tweet(123) == [name]
    # a fresh store reads it back from disk
    fresh = RecordStore(data_dir, build_index(data_dir))
    [back] = fresh.for_tweet(123)
    assert back.relays[R1].status == "accepted" and back.relays[R2].status == "pending"
    assert fresh.accepted_relays(123) == {R1}
    assert fresh.get_or_create(fake_event(7), EventSubject.TWEET, "123") is back


def test_store_reads_once(data_dir: Path) -> None:
    index = build_index(data_dir)
    records = RecordStore(data_dir, index)
    rec = records.get_or_create(fake_event(8), EventSubject.PROFILE, "42")
    records.save(rec)
    fresh = RecordStore(data_dir, build_index(data_dir))
    first = fresh.newest_for_user(EventSubject.PROFILE, 42)
    assert first is not None
    assert rec.stored_name is not None
    (data_dir / "nostr_events" / rec.stored_name).unlink()
    assert fresh.newest_for_user(EventSubject.PROFILE, 42) is first  # from memory, no second read


def test_corrupt_record_is_moved_aside(data_dir: Path) -> None:
    events = data_dir / "nostr_events"
    events.mkdir()
    name = event_filename("ab" * 32, EventSubject.TWEET, "5")
    (events / name).write_text("{not json")
    mismatched = event_filename("cd" * 32, EventSubject.TWEET, "5")
    (events / mismatched).write_text(json.dumps({"event": fake_event(1), "relays": {}}))
    records = RecordStore(data_dir, build_index(data_dir))
    assert records.for_tweet(5) == []
    assert (events / (name + ".corrupt")).exists()
    assert (events / (mismatched + ".corrupt")).exists()


def test_newest_profile_record(data_dir: Path) -> None:
    records = RecordStore(data_dir, build_index(data_dir))
    for n, ts in ((1, NOW), (2, NOW + 10), (3, NOW - 10)):
        records.save(records.get_or_create(fake_event(n, ts, 0), EventSubject.PROFILE, "9"))
    newest = records.newest_for_user(EventSubject.PROFILE, 9)
    assert newest is not None and newest.event_id == fake_event(2)["id"]
    assert records.newest_for_user(EventSubject.RELAYS, 9) is None


# ---- the pending marker in the name -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("relays", "required", "marked"),
    [
        ({}, (), False),
        ({R1: RelayState("accepted")}, (), False),
        ({R1: RelayState("accepted"), R2: RelayState("rejected", "blocked: no")}, (), False),
        ({R1: RelayState("accepted"), R2: RelayState("pending")}, (), True),
        ({R1: RelayState("accepted")}, (R1,), False),
        ({R1: RelayState("accepted")}, (R1, R2), True),  # a reconciled relay it does not list yet
        ({R1: RelayState("rejected")}, (R1,), False),
    ],
)
def test_needs_marker(relays: dict[str, RelayState], required: tuple[str, ...], marked: bool) -> None:
    record = EventRecord(fake_event(1), EventSubject.TWEET, "1", dict(relays))
    assert needs_marker(record, required) is marked


def names_on_disk(data_dir: Path) -> list[str]:
    return sorted(p.name for p in (data_dir / "nostr_events").iterdir() if p.name.startswith("event_"))


def test_name_transitions_pending_settled_reopened(data_dir: Path) -> None:
    index = build_index(data_dir)
    records = RecordStore(data_dir, index)
    rec = records.get_or_create(fake_event(11), EventSubject.TWEET, "77", tweet_id="77")
    settled = event_filename(rec.event_id, EventSubject.TWEET, 77)
    pending = event_filename(rec.event_id, EventSubject.TWEET, 77, pending=True)
    # written before sending: every target pending -> the marked name
    rec.ensure_relays([R1, R2])
    records.save(rec)
    assert names_on_disk(data_dir) == [pending] and index.pending_events == {pending}
    # one relay answered: still work left, same name
    rec.relays[R1] = apply_answer(rec.relays[R1], "accepted", "", NOW)
    records.save(rec)
    assert names_on_disk(data_dir) == [pending]
    # every relay final (a permanent rejection counts): the marker goes, the old name is removed
    rec.relays[R2] = apply_answer(rec.relays[R2], "rejected", "blocked: no", NOW)
    records.save(rec)
    assert names_on_disk(data_dir) == [settled]
    assert index.pending_events == set() and index.events_of_tweet(77) == [settled]
    assert build_index(data_dir).tweet_records == index.tweet_records
    # a new relay: reopened under the marked name
    assert rec.ensure_relays([R3])
    records.save(rec)
    assert names_on_disk(data_dir) == [pending] and index.events_of_tweet(77) == [pending]
    fresh = build_index(data_dir)
    assert fresh.pending_events == {pending} and fresh.tweet_records == index.tweet_records


def test_both_forms_on_disk_pending_wins_in_any_listing_order(data_dir: Path) -> None:
    """A kill between writing the new name and removing the old one leaves both: the scan takes the
    pending one whatever the order, and the next save leaves exactly one file."""
    from nostrweet.cache.index import CacheIndex
    from nostrweet.cache.layout import parse_event_filename

    records = RecordStore(data_dir, build_index(data_dir))
    rec = records.get_or_create(fake_event(12), EventSubject.TWEET, "78", tweet_id="78")
    rec.ensure_relays([R1])
    records.save(rec)  # pending form
    pending = rec.stored_name
    assert pending is not None
    events = data_dir / "nostr_events"
    settled = event_filename(rec.event_id, EventSubject.TWEET, 78)
    done = EventRecord(rec.event, rec.subject, rec.subject_id, {R1: RelayState("accepted")}, "78")
    (events / settled).write_bytes(json.dumps(done.to_json()).encode())
    for order in ([settled, pending], [pending, settled]):
        index = CacheIndex()
        for name in order:
            parsed = parse_event_filename(name)
            assert parsed is not None
            index.add_event(name, parsed)
        assert index.events_of_tweet(78) == [pending] and index.pending_events == {pending}
    assert build_index(data_dir).events_of_tweet(78) == [pending]
    # the store reads the pending one; settling it leaves the one settled file
    store = RecordStore(data_dir, build_index(data_dir))
    [back] = store.for_tweet(78)
    assert back.relays[R1].status == "pending"
    back.relays[R1] = apply_answer(back.relays[R1], "duplicate", "duplicate: have it", NOW)
    store.save(back)
    assert names_on_disk(data_dir) == [settled]
    assert json.loads((events / settled).read_text())["relays"][R1]["status"] == "accepted"


def test_old_form_names_parse_as_settled(data_dir: Path) -> None:
    events = data_dir / "nostr_events"
    events.mkdir()
    name = event_filename(fake_event(13)["id"], EventSubject.TWEET, "79")
    legacy = {"event": fake_event(13), "relays": {R1: {"status": "accepted"}}, "format": 1}
    (events / name).write_text(json.dumps(legacy))
    index = build_index(data_dir)
    assert index.events_of_tweet(79) == [name] and index.pending_events == set()
    [rec] = RecordStore(data_dir, index).for_tweet(79)
    assert rec.accepted_on() == {R1}


def test_save_many_is_one_group_commit_and_required_relays_mark(data_dir: Path) -> None:
    index = build_index(data_dir)
    records = RecordStore(data_dir, index)
    recs = []
    for n in range(20):
        rec = records.get_or_create(
            fake_event(100 + n), EventSubject.TWEET, str(500 + n), tweet_id=str(500 + n)
        )
        rec.relays[R1] = RelayState("accepted")
        recs.append(rec)
    records.save_many(recs)
    assert records.syncs == 1 and len(index.pending_events) == 0
    assert len(names_on_disk(data_dir)) == 20
    assert not [p for p in (data_dir / "nostr_events").iterdir() if p.name.endswith(".tmp")]
    # with R2 in the reconciled set, a record that does not list it carries the marker
    records.required = [R1, R2]
    records.save(recs[0])
    assert records.syncs == 2 and index.pending_events == {recs[0].stored_name}


def test_store_keeps_a_bounded_number_of_records(data_dir: Path) -> None:
    records = RecordStore(data_dir, build_index(data_dir), cache_size=8)
    for n in range(30):
        rec = records.get_or_create(fake_event(200 + n), EventSubject.TWEET, str(n + 1), tweet_id=str(n + 1))
        rec.relays[R1] = RelayState("accepted")
        records.save(rec)
    fresh = RecordStore(data_dir, build_index(data_dir), cache_size=8)
    for n in range(30):
        assert fresh.accepted_relays(n + 1) == {R1}
    assert len(fresh._cache) == 8 and fresh.reads == 30


@given(
    st.text("0123456789abcdef", min_size=64, max_size=64),
    st.sampled_from(list(EventSubject)),
    st.integers(min_value=0, max_value=MAX_NAME_ID),
    st.booleans(),
)
def test_event_name_round_trip(event_id: str, subject: EventSubject, subject_id: int, pending: bool) -> None:
    from nostrweet.cache.layout import parse_event_filename

    name = event_filename(event_id, subject, subject_id, pending=pending)
    parsed = parse_event_filename(name)
    assert parsed is not None and parsed.pending is pending
    assert (parsed.event_id, parsed.subject, parsed.subject_id) == (event_id, subject, subject_id)
    assert (parsed.pending_name if pending else parsed.settled_name) == name
    assert parse_event_filename(name.replace(".json", ".pend.json")) is None
