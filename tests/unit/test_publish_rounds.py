"""Rounds of a publish (publisher.publish_tweets): the next round is built while one is in flight, its
duplicate check goes to the relay before that round's events, and rounds go out in order, each
after the one before is answered. A fake pool records what reaches the relay; no socket is opened."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from nostrweet.nostr.answers import RelayAnswer
from nostrweet.nostr.event import SignedEvent
from nostrweet.nostr.keys import KeyDeriver
from nostrweet.publish import publisher as publisher_module
from nostrweet.publish.publisher import Publisher
from nostrweet.settings import Secret
from nostrweet.store import CacheStore

MNEMONIC = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
RELAY = "ws://relay.invalid"


def doc(tweet_id: int) -> dict[str, Any]:
    return {
        "data": {
            "id": str(tweet_id),
            "text": f"tweet {tweet_id}",
            "author_id": "11",
            "created_at": "2024-01-01T00:00:00.000Z",
        },
        "includes": {"users": [{"id": "11", "username": "foo", "name": "Foo"}]},
        "nostrweet": {"format": 1},
    }


class FakePool:
    """Answers every query with nothing and accepts every event, a little later; logs the order."""

    def __init__(self) -> None:
        self.log: list[tuple[str, list[str]]] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def query(
        self,
        flt: Any,
        *,
        timeout: float,  # noqa: ASYNC109 - the pool's signature
        relays: Sequence[str] | None = None,
    ) -> list[SignedEvent]:
        self.log.append(("query", sorted(flt.to_dict().get("#r", []))))
        return []

    async def publish_many(
        self,
        items: Sequence[tuple[SignedEvent, Sequence[str] | None]],
        *,
        in_flight: int = 64,
        auth_keys: Mapping[str, Any] | None = None,
    ) -> list[dict[str, RelayAnswer]]:
        self.log.append(("send", [e.content.partition("\n")[0] for e, _ in items]))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0.01)  # the relay stores them
        self.in_flight -= 1
        self.log.append(("answered", [e.content.partition("\n")[0] for e, _ in items]))
        return [{RELAY: RelayAnswer(RELAY, "accepted", "")} for _ in items]


def publisher_on(store: CacheStore, pool: FakePool, *, force: bool) -> Publisher:
    """A publisher of ``store``'s tweets to the fake pool (profiles not published)."""
    return Publisher(
        store,
        KeyDeriver(Secret(MNEMONIC)),
        pool,  # type: ignore[arg-type]
        relays=[RELAY],
        force=force,
        publish_profiles=False,
    )


@pytest.mark.parametrize("force", [False, True])
def test_rounds_interleave_and_go_out_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, force: bool
) -> None:
    monkeypatch.setattr(publisher_module, "BATCH", 3)
    store = CacheStore(tmp_path)
    for n in range(1, 9):
        store.write_tweet(doc(1000 + n))
    pool = FakePool()
    publisher = publisher_on(store, pool, force=force)
    ids = [str(1000 + n) for n in range(1, 9)]
    outcomes = asyncio.run(publisher.publish_tweets(ids))
    store.close()

    assert [o.status for o in outcomes] == ["published"] * 8
    sends = [texts for what, texts in pool.log if what == "send"]
    assert sends == [[f"tweet {i}" for i in ids[k : k + 3]] for k in (0, 3, 6)]  # in order, a round each
    assert pool.most_in_flight == 1  # a round goes out once the one before is answered
    assert publisher.refs.rounds == {}
    if not force:
        queries = [n for n, (what, _) in enumerate(pool.log) if what == "query"]
        first_sends = [n for n, (what, _) in enumerate(pool.log) if what == "send"]
        # round k+1's duplicate check is asked before round k's events go out
        assert queries[1] < first_sends[0] and queries[2] < first_sends[1]


def test_a_tweet_that_fails_to_build_leaves_the_rest_of_its_sign_group_published(tmp_path: Path) -> None:
    """Tweets are built a group at a time, then signed in a row: one that cannot be built (no mirror
    key for a non-numeric author id) gives its error; the others of its group are signed, in order,
    and a second publish sends the very events recorded by the first."""
    from nostrweet.nostr.event import verify_event
    from nostrweet.publish.building import SIGN_GROUP

    store = CacheStore(tmp_path)
    ids = [str(2000 + n) for n in range(SIGN_GROUP + 4)]
    broken = ids[3]
    for tweet_id in ids:
        raw = doc(int(tweet_id))
        if tweet_id == broken:
            raw["data"]["author_id"] = "x11"
            raw["includes"]["users"][0]["id"] = "x11"
        store.write_tweet(raw)

    def publish() -> tuple[list[Any], list[SignedEvent]]:
        pool = FakePool()
        sent: list[SignedEvent] = []
        original = pool.publish_many

        async def recording(items: Sequence[tuple[SignedEvent, Sequence[str] | None]], **kw: Any) -> Any:
            sent.extend(e for e, _ in items)
            return await original(items, **kw)

        pool.publish_many = recording  # type: ignore[method-assign]
        publisher = publisher_on(store, pool, force=True)
        return asyncio.run(publisher.publish_tweets(ids)), sent

    outcomes, sent = publish()
    by_id = {o.subject_id: o for o in outcomes}
    assert by_id[broken].status == "error" and "x11" in by_id[broken].message
    assert [o.status for t, o in by_id.items() if t != broken] == ["published"] * (len(ids) - 1)
    assert [e.content.partition("\n")[0] for e in sent] == [f"tweet {t}" for t in ids if t != broken]
    assert all(verify_event(e) for e in sent)
    assert [by_id[t].event_id for t in ids if t != broken] == [e.id for e in sent]

    again, resent = publish()
    store.close()
    assert [e.id for e in resent] == [e.id for e in sent]  # recorded events, not rebuilt ones
    assert {o.subject_id: o.event_id for o in again if o.subject_id != broken} == {
        t: o.event_id for t, o in by_id.items() if t != broken
    }
