"""The publisher's view of the records in the state (``PublishRecords``), on both backends."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from nostrweet.cache.layout import EventSubject
from nostrweet.nostr.record import EventRecord, RelayState
from nostrweet.publish.records import PublishRecords
from nostrweet.state.engine import State, open_state

R1, R2 = "wss://one.example", "wss://two.example"


@pytest.fixture
def state(state_url: str) -> Iterator[State]:
    opened = open_state(state_url)
    yield opened
    opened.close()


def event(n: int, kind: int = 1, created_at: int = 1_700_000_000) -> dict[str, object]:
    return {"id": f"{n:064x}", "pubkey": "ab" * 32, "kind": kind, "created_at": created_at, "tags": []}


def tweet_record(n: int, tweet_id: int, **relays: str) -> EventRecord:
    states = {url: RelayState(status) for url, status in relays.items()}
    return EventRecord(event(n), EventSubject.TWEET, str(tweet_id), states, str(tweet_id))


def test_a_batch_is_one_transaction_and_reads_back_the_same(state: State) -> None:
    records = PublishRecords(state)
    batch = [tweet_record(n, 100 + n % 5, **{R1: "pending"}) for n in range(1, 21)]
    assert all(r.stored_name is None for r in batch)
    records.save_many(batch)
    assert records.syncs == 1 and all(r.stored_name == r.event_id for r in batch)
    fresh = PublishRecords(state)
    for tweet_id in range(100, 105):
        got = sorted(fresh.for_tweet(tweet_id), key=lambda r: r.event_id)
        want = sorted((r for r in batch if r.subject_id == str(tweet_id)), key=lambda r: r.event_id)
        assert [(r.event, r.relays, r.tweet_id) for r in got] == [
            (r.event, r.relays, r.tweet_id) for r in want
        ]


def test_preload_reads_a_round_with_one_query(state: State) -> None:
    PublishRecords(state).save_many(tweet_record(n, 200 + n, **{R1: "accepted"}) for n in range(1, 11))
    records = PublishRecords(state)
    records.preload([str(200 + n) for n in range(1, 16)])  # five of them have no record
    assert records.reads == 1
    for n in range(1, 16):
        assert records.accepted_relays(200 + n) == ({R1} if n <= 10 else set())
    assert records.reads == 1  # answered from memory, the empty ones too


def test_get_or_create_and_the_memory_follow_the_writes(state: State) -> None:
    records = PublishRecords(state)
    new = records.get_or_create(event(1), EventSubject.TWEET, "7", tweet_id="7")
    assert new.stored_name is None and new.relays == {}
    new.relays[R1] = RelayState("accepted")
    records.save(new)
    assert records.get_or_create(event(1), EventSubject.TWEET, "7") is new
    assert records.accepted_relays(7) == {R1}
    new.relays[R2] = RelayState("rejected", "blocked: no")
    records.save(new)
    assert PublishRecords(state).for_tweet(7)[0].relays == new.relays  # what the state holds


def test_newest_replaceable_event_and_bounded_memory(state: State) -> None:
    records = PublishRecords(state, cache_size=2)
    for n, created in ((1, 10), (2, 30), (3, 20)):
        records.save(
            EventRecord(event(n, 0, created), EventSubject.PROFILE, "5", {R1: RelayState("accepted")})
        )
    newest = records.newest_for_user(EventSubject.PROFILE, "5")
    assert newest is not None and newest.event_id == f"{2:064x}"
    assert records.newest_for_user(EventSubject.RELAYS, "5") is None
    for tweet_id in range(10):
        records.for_tweet(tweet_id)
        assert len(records._cache) <= 2


def test_answers_to_stored_records_write_only_their_relay_states(state: State) -> None:
    records = PublishRecords(state)
    batch = [tweet_record(n, 300 + n, **{R1: "pending", R2: "pending"}) for n in range(1, 6)]
    records.save_many(batch)
    for r in batch:
        r.relays[R1] = RelayState("accepted")
        r.relays[R2] = RelayState("rejected", "blocked: no")
    records.save_many(batch)
    assert records.syncs == 2
    for r in batch:
        [got] = PublishRecords(state).for_tweet(r.subject_id)
        assert (got.event, got.relays) == (r.event, r.relays)


def test_preload_users_reads_profiles_and_relay_lists_once_per_kind(state: State) -> None:
    writer = PublishRecords(state)
    for n, (subject, kind) in enumerate(((EventSubject.PROFILE, 0), (EventSubject.RELAYS, 10002)), 1):
        for user in range(1, 4):
            writer.save(
                EventRecord(event(10 * n + user, kind), subject, str(user), {R1: RelayState("accepted")})
            )
    records = PublishRecords(state)
    asyncio.run(records.preload_users(["1", "2", "3", "4"]))  # 4 has none
    assert records.reads == 2
    for user in range(1, 5):
        profile = records.newest_for_user(EventSubject.PROFILE, user)
        relays = records.newest_for_user(EventSubject.RELAYS, user)
        assert (profile is not None, relays is not None) == (user < 4, user < 4)
        assert profile is None or profile.stored_name == profile.event_id
    assert records.reads == 2  # every answer came from memory
    asyncio.run(records.preload_users(["1", "4"]))
    assert records.reads == 2  # nothing left to read
