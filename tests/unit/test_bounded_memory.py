"""Every per-tweet structure of the daemon's long-lived objects is capped, and a miss gives the same
answer as a hit (the cache directory is the state). No socket is opened here."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nostrweet.bridge.context import EventRef
from nostrweet.cache.layout import EventSubject, media_filename
from nostrweet.nostr import keys as keys_module
from nostrweet.nostr.event import UnsignedEvent, sign_event
from nostrweet.nostr.keys import KeyDeriver
from nostrweet.nostr.protocol import ClientProtocol
from nostrweet.nostr.record import apply_answer
from nostrweet.nostr.relays import RelayPool
from nostrweet.publish.media import MediaUploader
from nostrweet.publish.outbox import Outbox
from nostrweet.publish.outcome import LruDict, MemoryBounds, PublishOutcome
from nostrweet.publish.publisher import Publisher
from nostrweet.settings import Secret
from nostrweet.store import CacheStore

MNEMONIC = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
RELAY = "ws://127.0.0.1:9"  # never connected to: nothing here sends


@pytest.fixture(scope="module")
def deriver() -> KeyDeriver:
    return KeyDeriver(Secret(MNEMONIC))


# -- LruDict -----------------------------------------------------------------------------------


def test_lru_dict_drops_the_least_recently_used() -> None:
    lru: LruDict[str, int] = LruDict(2)
    lru["a"] = 1
    lru["b"] = 2
    assert lru.hit("a") == 1  # "a" is now the newest
    lru["c"] = 3
    assert list(lru) == ["a", "c"]
    assert lru.hit("b") is None
    lru["a"] = 4  # updating makes it the newest too
    lru["d"] = 5
    assert dict(lru) == {"a": 4, "d": 5}


@given(st.integers(1, 6), st.lists(st.integers(0, 20), max_size=60))
def test_lru_dict_never_exceeds_its_cap_and_keeps_the_newest(cap: int, keys: list[int]) -> None:
    lru: LruDict[int, int] = LruDict(cap)
    for k in keys:
        lru[k] = k
        assert len(lru) <= cap
    newest = list(dict.fromkeys(reversed(keys)))[:cap]
    assert set(lru) == set(newest)


# -- publisher ---------------------------------------------------------------------------------


def _publisher(data_dir: Path, deriver: KeyDeriver, bounds: MemoryBounds) -> Publisher:
    return Publisher(CacheStore(data_dir), deriver, RelayPool([RELAY]), relays=[RELAY], bounds=bounds)


def _record(pub: Publisher, deriver: KeyDeriver, tweet_id: str, *, pending_until: int | None = None) -> str:
    key = deriver.for_user("12")
    event = sign_event(UnsignedEvent(key.pubkey_hex, 1_700_000_000, 1, (), f"tweet {tweet_id}"), key)
    record = pub.records.get_or_create(event.to_dict(), EventSubject.TWEET, tweet_id, tweet_id=tweet_id)
    state = apply_answer(None, "accepted", "", 1_700_000_000)
    if pending_until is not None:
        state = apply_answer(None, "pending", "down", pending_until - 30)
    record.relays[RELAY] = state
    pub.records.save(record)
    return event.id


def test_refs_are_capped_and_a_miss_reads_the_record(data_dir: Path, deriver: KeyDeriver) -> None:
    bounds = MemoryBounds(refs=2, records=1)
    pub = _publisher(data_dir, deriver, bounds)
    ids = {str(100 + n): _record(pub, deriver, str(100 + n)) for n in range(5)}
    for tid in ids:
        ref = pub.ref_of(tid)
        assert ref is not None and ref.event_id == ids[tid]
        assert len(pub.refs.lru) <= 2 and len(pub.records._cache) <= 1
    # a fresh publisher (as after a restart, or once evicted) finds the same event on disk
    again = _publisher(data_dir, deriver, bounds)
    reads = again.records.reads
    first = again.ref_of("100")
    assert first is not None and first.event_id == ids["100"]
    assert json.loads(first.event_json)["id"] == ids["100"]
    assert again.records.reads == reads + 1
    assert again.ref_of("100") == first and again.records.reads == reads + 1  # now a hit
    assert again.ref_of("999") is None  # no record: no ref (one query, whose empty answer is kept)
    assert again.records.reads == reads + 2
    assert again.ref_of("999") is None and again.records.reads == reads + 2


def test_refs_of_a_round_in_progress_are_never_evicted(data_dir: Path, deriver: KeyDeriver) -> None:
    pub = _publisher(data_dir, deriver, MemoryBounds(refs=1))
    pinned = EventRef("a" * 64, "b" * 64, 1, "{}")
    pub.refs.rounds[object()] = {"5": pinned}
    for n in range(3):
        pub.refs.lru[str(n)] = EventRef(str(n) * 64, "b" * 64, 1, "{}")
    assert pub.ref_of("5") is pinned  # not on disk, not in the LRU: only the round has it


def test_outcomes_are_taken_and_capped(data_dir: Path, deriver: KeyDeriver) -> None:
    pub = _publisher(data_dir, deriver, MemoryBounds(outcomes=3))
    for n in range(5):
        pub.note(PublishOutcome(str(n), "already"))
    assert [o.subject_id for o in pub.outcomes] == ["2", "3", "4"]
    assert [o.subject_id for o in pub.take_outcomes()] == ["2", "3", "4"]
    assert pub.outcomes == [] and pub.take_outcomes() == []
    cli = _publisher(data_dir, deriver, MemoryBounds())  # the CLI keeps all for its summary
    for n in range(5):
        cli.note(PublishOutcome(str(n), "already"))
    assert len(cli.outcomes) == 5


def test_signers_are_capped(data_dir: Path, deriver: KeyDeriver) -> None:
    pub = _publisher(data_dir, deriver, MemoryBounds(signers=2))
    events = []
    for uid in ("1", "2", "3"):
        key = deriver.for_user(uid)
        event = sign_event(UnsignedEvent(key.pubkey_hex, 1, 1, (), uid), key)
        assert pub.builder.key_of(uid, event) == key
        events.append(event)
    assert len(pub.builder.signers) == 2
    assert pub.own_key(events[0]) is None  # evicted, and no cached tweet to derive it from
    assert pub.own_key(events[2]) == deriver.for_user("3")


# -- media names -------------------------------------------------------------------------------


def test_media_names_are_capped_and_found_without_a_listing(data_dir: Path) -> None:
    store = CacheStore(data_dir)
    names = [media_filename("someone", 1000 + n, 0, "jpg" if n % 2 else "mp4") for n in range(6)]
    for name in names:
        store.media_path(name).write_bytes(b"x")
    uploader = MediaUploader(store, [], None, cache_size=2)
    for n, name in enumerate(names):
        assert uploader.media_file(str(1000 + n), 0, "someone") == name  # its name and a stat
        assert len(uploader._by_tweet) <= 2
    assert uploader.scans == 0
    assert uploader.media_file("1000", 0) is None  # no username, and the tweet is not cached
    store.write_tweet(
        {
            "data": {"id": "1000", "text": "t", "author_id": "7", "created_at": "2024-01-02T03:04:05Z"},
            "includes": {"users": [{"id": "7", "username": "SomeOne", "name": "x"}]},
        }
    )
    assert uploader.media_file("1000", 0) == names[0]  # the owner of its file in the state
    assert uploader.scans == 2
    fresh = MediaUploader(store, [], None)
    assert fresh.media_file("1000", 0, "renamed") == names[0] and fresh.scans == 1  # a renamed author
    assert uploader.media_file("1000", 1, "someone") is None
    assert len(uploader._by_tweet) <= 2


# -- outbox ------------------------------------------------------------------------------------


def test_outbox_reads_no_record_that_waits_for_its_backoff(data_dir: Path, deriver: KeyDeriver) -> None:
    pub = _publisher(data_dir, deriver, MemoryBounds(tracked=3, records=1))
    later = 2_000_000_000
    for n in range(6):
        _record(pub, deriver, str(200 + n), pending_until=later)
    outbox = Outbox(pub, publish_unrecorded=False)

    async def passes() -> list[tuple[int, int]]:
        seen = []
        for _ in range(3):
            report = await outbox.run_once(now=1_700_000_100)  # nothing is due: nothing is sent
            assert not report.resent
            seen.append((report.read, report.waiting))
        return seen

    assert asyncio.run(passes()) == [(0, 6)] * 3  # counted as waiting, never read
    due = pub.records.repo.pending(later, [RELAY])  # due at their next attempt: what a pass then reads
    assert len(due) == 6


# -- keys --------------------------------------------------------------------------------------


def test_derived_keys_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keys_module, "KEY_CACHE_SIZE", 3)
    deriver = KeyDeriver(Secret(MNEMONIC))
    first = deriver.for_user("1")
    for uid in range(2, 12):
        deriver.for_user(str(uid))
        assert len(deriver._keys) <= 3
    assert deriver.for_user("1") == first  # derived again: the same key


# -- relay connection ---------------------------------------------------------------------------


def test_connection_tracking_is_capped() -> None:
    """What a long-lived connection remembers stays flat: EVENTs awaiting their OK, open REQs."""
    proto = ClientProtocol(max_tracked=3)
    ids = [f"{n:064x}" for n in range(10)]
    for n, event_id in enumerate(ids):
        proto._track(event_id, f"frame {n}")
        proto.req(f"sub{n}", [{}])
        assert len(proto._waiting) <= 3 and len(proto.open_subscriptions) <= 3
    assert list(proto._waiting) == ids[-3:]  # the oldest, never answered, were forgotten
    for event_id in ids:
        proto.receive(json.dumps(["OK", event_id, True, ""]))
    assert not proto._waiting


def test_refs_a_build_needs_are_loaded_with_one_lifecycle_question(
    data_dir: Path, deriver: KeyDeriver
) -> None:
    pub = _publisher(data_dir, deriver, MemoryBounds())
    ids = {str(200 + n): _record(pub, deriver, str(200 + n)) for n in range(3)}
    asked: list[list[str]] = []

    class Lifecycle:
        def retired(self, tweet_ids: Iterable[str | int]) -> dict[str, str | None]:
            asked.append([str(t) for t in tweet_ids])
            return {"201": "202"}  # 201 was edited: what names it names its newest version

    pub.lifecycle = Lifecycle()
    pinned = EventRef("c" * 64, "d" * 64, 1, "{}")
    pub.refs.rounds[object()] = {"7": pinned}
    loaded = pub.refs.load(["200", "201", "7", "999"])
    assert loaded == {
        "200": pub.refs.of("200", {}),
        "201": pub.refs.of("202", {}),
        "7": pinned,
    }
    assert loaded["200"].event_id == ids["200"] and loaded["201"].event_id == ids["202"]
    assert asked[0] == ["200", "201", "999"]  # one question for all; none for a ref of the round
    assert len(asked) == 2  # and one for the newest version 202 itself
