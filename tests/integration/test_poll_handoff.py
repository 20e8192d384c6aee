"""A daemon poll hands the documents it archived to the publisher in memory (issue 9).

The real pipeline, in-process, against the fake X API and nostr-sdk's relay: the tweets a poll wrote are
published without their files being read again, and their events are the very events that a publish
from the files gives (the same ids), so the hand-over changes nothing but the reading.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nostrweet.bridge.events import build_tweet_event
from nostrweet.nostr.event import sign_event
from nostrweet.nostr.keys import KeyDeriver
from nostrweet.nostr.relays import RelayPool
from nostrweet.publish.building import load_context
from nostrweet.settings import Secret
from nostrweet.store import CacheStore
from nostrweet.twitter.models import TweetDocument
from tests.fakes.x_api import FakeXApi
from tests.fakes.x_world import PHILLY_USER_ID, PHILLY_USERNAME, World
from tests.integration.publish_helpers import running_pipeline, tweet_records

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

MNEMONIC = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"


async def test_a_poll_publishes_what_it_archived_without_reading_the_files(
    fake_x: FakeXApi, x_world: World, sdk_relay: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    x_world.hold_back(PHILLY_USER_ID, keep=3)
    name = PHILLY_USERNAME.lower()
    deriver = KeyDeriver(Secret(MNEMONIC))
    reads: list[str] = []
    real_read = CacheStore.read_tweet

    def counting_read(self: CacheStore, tweet_id: int | str) -> TweetDocument | None:
        reads.append(str(tweet_id))
        return real_read(self, tweet_id)

    pool = RelayPool([sdk_relay], ok_timeout=5.0)
    async with running_pipeline(
        fake_x, data_dir, [name], [sdk_relay], backfill=20, mnemonic=MNEMONIC, pool=pool
    ) as pipeline:
        await pipeline.poll_user(name)  # the first poll: the tweets visible so far
        released = x_world.release(PHILLY_USER_ID, 6)
        assert released
        monkeypatch.setattr(CacheStore, "read_tweet", counting_read)
        await pipeline.poll_user(name)
        monkeypatch.undo()
        records = tweet_records(data_dir)
        published = [t for t in released if t in records]
        assert published, "the poll published none of the released tweets"
        assert not set(reads) & set(released), f"files read again right after they were written: {reads}"
        # the events built from the documents in memory are those the files give
        publisher = pipeline.publisher_for(name)
        for tweet_id in published:
            doc = pipeline.store.read_tweet(tweet_id)
            assert doc is not None and doc.data.author_id is not None
            ctx = load_context(doc, deriver, publisher.refs, {}, sdk_relay)
            rebuilt = sign_event(build_tweet_event(doc, ctx), deriver.for_user(doc.data.author_id))
            assert records[tweet_id] == [rebuilt.id]
