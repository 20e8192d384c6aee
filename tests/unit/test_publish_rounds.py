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


@pytest.mark.parametrize("force", [False, True])
def test_rounds_interleave_and_go_out_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, force: bool
) -> None:
    monkeypatch.setattr(publisher_module, "BATCH", 3)
    store = CacheStore(tmp_path)
    for n in range(1, 9):
        store.write_tweet(doc(1000 + n))
    pool = FakePool()
    publisher = Publisher(
        store,
        KeyDeriver(Secret(MNEMONIC)),
        pool,  # type: ignore[arg-type]
        relays=[RELAY],
        force=force,
        publish_profiles=False,
    )
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
