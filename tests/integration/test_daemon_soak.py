"""Soak: the real daemon pipeline, in-process, over many polls with new tweets each time (SPEC §5).

The daemon runs for months; nothing it keeps may grow with the number of tweets. The pipeline is
driven poll after poll against the fake X API (new tweets released before each round) and nostr-sdk's
in-process relay, with every memory cap set small (:class:`MemoryBounds`, the pool's and the key
deriver's) so that eviction happens all the time. After each round the sizes of the long-lived
structures must be within their caps, and at the end every tweet must be on the relay exactly once,
with the event its record holds.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from nostrweet.config import UserOverrides
from nostrweet.daemon.pipeline import DaemonPipeline
from nostrweet.nostr import keys as keys_module
from nostrweet.nostr.relays import QueryFilter, RelayPool
from nostrweet.publish.outcome import MemoryBounds
from tests.fakes.x_api import FakeXApi
from tests.fakes.x_world import (
    BIG_TIMELINE_USER_ID,
    BIG_TIMELINE_USERNAME,
    PHILLY_USER_ID,
    PHILLY_USERNAME,
    World,
)
from tests.integration.publish_helpers import running_pipeline, tweet_records

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

MNEMONIC = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
BOUNDS = MemoryBounds(
    records=8, refs=4, signers=4, listed=2, media_names=4, outcomes=16, tracked=8, skip_checks=8
)
POOL_CAPS = {"max_tracked": 4}
KEY_CAP = 8
USERS = {PHILLY_USER_ID: PHILLY_USERNAME.lower(), BIG_TIMELINE_USER_ID: BIG_TIMELINE_USERNAME.lower()}
FIRST = 5  # tweets visible at the first poll
PER_ROUND = 4  # tweets released per user before each later round


def _sizes(pipeline: DaemonPipeline) -> dict[str, int]:
    """The size of every per-tweet structure of the long-lived objects (largest over publishers)."""
    sizes: Counter[str] = Counter()

    def at_least(name: str, value: int) -> None:
        sizes[name] = max(sizes[name], value)

    for pub in pipeline._publishers.values():
        at_least("outcomes", len(pub.outcomes))
        at_least("refs", len(pub.refs.lru))
        at_least("rounds", len(pub.refs.rounds))
        at_least("records", len(pub.records._cache))
        at_least("signers", len(pub.builder.signers))
        at_least("listed", len(pub._blossom_listed))
        at_least("uploaders", len(pub.builder.uploaders))
        at_least("media_names", len(pub.media._by_tweet))
    for outbox in pipeline.outbox.outboxes.values():
        at_least("tracked", len(outbox._attempted))
    at_least("skip_checks", len(pipeline.outbox.skip_checked))
    at_least("keys", len(pipeline.keys.deriver._keys))
    pool = pipeline.pool
    at_least("connections", len(pool._conns))
    for conn in pool._conns.values():
        at_least("futures", len(conn._futures))
        at_least("waiting", len(conn.protocol._waiting))
        at_least("subs", len(conn.protocol.open_subscriptions))
        at_least("fetches", len(conn._subscriptions))
    return dict(sizes)


LIMITS = {
    "outcomes": 0,  # taken after every poll and outbox pass
    "refs": BOUNDS.refs,
    "rounds": 0,
    "records": BOUNDS.records,
    "signers": BOUNDS.signers,
    "listed": BOUNDS.listed,
    "uploaders": 0,
    "media_names": BOUNDS.media_names,
    "tracked": BOUNDS.tracked,
    "skip_checks": BOUNDS.skip_checks,
    "keys": KEY_CAP,
    "connections": 1,  # one per relay
    "futures": 0,  # every send has its answer or was given up
    "waiting": POOL_CAPS["max_tracked"],
    "subs": POOL_CAPS["max_tracked"],
    "fetches": 0,
}


def _records_by_tweet(data_dir: Path) -> dict[str, list[str]]:
    """Tweet id -> event ids of its records in the state."""
    return tweet_records(data_dir)


async def _relay_events(relay: str) -> list[Any]:
    async with RelayPool([relay]) as pool:
        return await pool.query(QueryFilter(kinds=[1, 6], limit=5000), timeout=5.0)


def _is_retweet(world: World, tweet_id: str) -> bool:
    raw = world.tweets[tweet_id]
    return any(r.get("type") == "retweeted" for r in raw.get("referenced_tweets") or [])


async def test_many_polls_keep_memory_flat_and_publish_every_tweet_once(
    fake_x: FakeXApi, x_world: World, sdk_relay: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keys_module, "KEY_CACHE_SIZE", KEY_CAP)
    for uid in USERS:
        x_world.hold_back(uid, keep=FIRST)
    pool = RelayPool([sdk_relay], ok_timeout=5.0, **POOL_CAPS)
    peak: Counter[str] = Counter()
    rounds = 0
    # one user skips its retweets: the outbox then asks the per-tweet skip check (a capped cache)
    async with running_pipeline(
        fake_x,
        data_dir,
        list(USERS.values()),
        [sdk_relay],
        backfill=20,
        mnemonic=MNEMONIC,
        pool=pool,
        bounds=BOUNDS,
        overrides={BIG_TIMELINE_USERNAME.lower(): UserOverrides(skip_retweets=True)},
    ) as pipeline:
        await pipeline.run_outbox()
        while True:
            rounds += 1
            for step in (*USERS.values(), "outbox"):
                await (pipeline.run_outbox() if step == "outbox" else pipeline.poll_user(step))
                for name, value in _sizes(pipeline).items():
                    assert value <= LIMITS[name], f"round {rounds}, {step}: {name} = {value}"
                    peak[name] = max(peak[name], value)
            if not any(x_world.held_back(uid) for uid in USERS):
                break
            for uid in USERS:
                x_world.release(uid, PER_ROUND)
        pub = next(iter(pipeline._publishers.values()))
        reads_before = pub.records.reads
    assert rounds >= 20
    # the caps were reached, so eviction was exercised (not just small numbers)
    # (skip_checks is only bounded here: the outbox asks it only about records that are due, which a
    # relay that takes everything at once leaves none of)
    for name in ("refs", "records", "signers", "keys"):
        assert peak[name] == LIMITS[name], f"{name} never reached its cap: {peak[name]}"
    assert reads_before > 0

    records = _records_by_tweet(data_dir)
    events = await _relay_events(sdk_relay)
    relay_ids = {e.id for e in events}
    # every timeline tweet that is wanted has exactly one record, and its event is on the relay
    for uid, name in USERS.items():
        skips = uid == BIG_TIMELINE_USER_ID
        timeline = [t for t in x_world._by_author[uid] if not (skips and _is_retweet(x_world, t))]
        assert len(timeline) > 50
        for tid in timeline:
            assert len(records.get(tid, [])) == 1, f"@{name} tweet {tid}: records {records.get(tid)}"
            assert records[tid][0] in relay_ids, f"@{name} tweet {tid} is not on the relay"
    # what the relay holds is exactly what the records hold: one event per tweet, no other version
    assert relay_ids == {ids[0] for ids in records.values()}
    per_tweet = Counter(tag[1] for e in events for tag in e.tags if tag[0] == "proxy")
    assert len(per_tweet) == len(events) and max(per_tweet.values()) == 1
    # and each was built with the events of what it references (never with an evicted ref missing)
    linked = 0
    for event in events:
        tid = next(t[1] for t in event.tags if t[0] == "proxy").rsplit("/", 1)[1]
        targets = {t[1] for t in event.tags if t[0] in ("e", "q")}
        for ref in x_world.tweets[tid].get("referenced_tweets") or []:
            recorded = records.get(ref["id"])
            if recorded:
                assert recorded[0] in targets, f"tweet {tid}: no tag for its {ref['type']} {ref['id']}"
                linked += 1
    assert linked > 50
