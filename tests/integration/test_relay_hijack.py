"""A stranger's note carrying a tweet's ``r`` tag never stands in for that tweet's mirror (SPEC §4).

The stranger (a random key) publishes notes with the tweet's URL in both forms on one relay first.
The CLI, and the daemon's pipeline, must still publish our own event to every relay, record it as
the tweet's event, and never send the stranger's note anywhere.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mnemonic import Mnemonic

from nostrweet.nostr.event import SignedEvent, UnsignedEvent, sign_event
from nostrweet.nostr.keys import KeyDeriver, MirrorKey
from nostrweet.nostr.relays import QueryFilter, RelayPool
from nostrweet.settings import Secret
from nostrweet.store import CacheStore
from tests.fakes.x_api import FakeXApi
from tests.fakes.x_world import World
from tests.integration.publish_helpers import make_cli, records, running_pipeline

pytestmark = pytest.mark.integration

USER = "MarchePinna"
DAEMON_USER = ("1154498013626327041", "WhoDisTweet")


def stranger() -> MirrorKey:
    return KeyDeriver(Secret(Mnemonic("english").generate(128))).for_user("1")


def hijack_notes(key: MirrorKey, tweet_id: str) -> list[SignedEvent]:
    """The stranger's notes for a tweet: one per URL form, older than anything we publish."""
    return [
        sign_event(UnsignedEvent(key.pubkey_hex, 1_600_000_000 + n, 1, (("r", url),), "not the tweet"), key)
        for n, url in enumerate(
            (f"https://x.com/i/status/{tweet_id}", f"https://twitter.com/i/status/{tweet_id}")
        )
    ]


async def plant(relay: str, events: list[SignedEvent]) -> None:
    async with RelayPool([relay]) as pool:
        for event in events:
            assert (await pool.publish(event))[relay].is_accepted


async def events_on(relay: str, tweet_ids: list[str]) -> list[SignedEvent]:
    urls = [f"https://{host}/i/status/{t}" for t in tweet_ids for host in ("x.com", "twitter.com")]
    async with RelayPool([relay]) as pool:
        return await pool.query(QueryFilter(kinds=[1, 6], tags={"r": urls}, limit=1000), timeout=5)


def tweet_record_events(data_dir: Path, tweet_id: str) -> list[SignedEvent]:
    return [
        SignedEvent.from_dict(r["event"])
        for n, r in records(data_dir).items()
        if n.endswith(f"_tweet_{tweet_id}.json")
    ]


@pytest.mark.parametrize("planted_on", ["sdk_relay", "pypi_relay"])
async def test_cli_publishes_our_event_despite_a_strangers_r_tag(
    planted_on: str, sdk_relay: str, pypi_relay: str, fake_x: FakeXApi, tmp_path: Path
) -> None:
    relays = [sdk_relay, pypi_relay]
    first = sdk_relay if planted_on == "sdk_relay" else pypi_relay
    other = pypi_relay if first == sdk_relay else sdk_relay
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    cli.run("user-tweets", USER, "--count", "5")
    store = CacheStore(cli.data_dir)
    tweet_id = str(store.tweet_ids_of(USER.lower())[-1])
    doc = store.read_tweet(tweet_id)
    assert doc is not None and doc.data.author_id is not None
    ours = KeyDeriver(Secret(cli.mnemonic)).for_user(doc.data.author_id)
    planted = hijack_notes(stranger(), tweet_id)
    await plant(first, planted)

    cli.run("post-tweet-to-nostr", tweet_id, "-r", first, "-r", other)

    [event] = tweet_record_events(cli.data_dir, tweet_id)
    assert event.pubkey == ours.pubkey_hex and event.id not in {p.id for p in planted}
    [record] = [r for n, r in records(cli.data_dir).items() if n.endswith(f"_tweet_{tweet_id}.json")]
    assert {r: record["relays"][r]["status"] for r in relays} == {r: "accepted" for r in relays}
    for relay in relays:
        found = {e.id: e for e in await events_on(relay, [tweet_id])}
        assert event.id in found, relay
    # the stranger's notes stay where the stranger put them: we never re-send them
    assert {e.id for e in await events_on(other, [tweet_id])} == {event.id}


async def test_daemon_poll_publishes_our_events_despite_strangers_r_tags(
    sdk_relay: str, pypi_relay: str, fake_x: FakeXApi, x_world: World, data_dir: Path
) -> None:
    uid, name = DAEMON_USER
    x_world.hold_back(uid, keep=3)
    tweet_ids = x_world.timeline(uid)[:3]
    assert tweet_ids
    key = stranger()
    planted = [e for t in tweet_ids for e in hijack_notes(key, t)]
    await plant(sdk_relay, planted)

    relays = (sdk_relay, pypi_relay)
    async with running_pipeline(fake_x, data_dir, [name], relays, backfill=3) as pipeline:
        deriver = pipeline.keys.deriver
        result = await pipeline.poll_user(name)
    assert result.posted >= len(tweet_ids)
    planted_ids = {p.id for p in planted}
    for tweet_id in tweet_ids:
        doc = CacheStore(data_dir).read_tweet(tweet_id)
        assert doc is not None and doc.data.author_id is not None
        ours = deriver.for_user(doc.data.author_id).pubkey_hex
        [event] = tweet_record_events(data_dir, tweet_id)
        assert event.pubkey == ours and event.id not in planted_ids
    for relay in relays:
        on_relay = await events_on(relay, tweet_ids)
        mine = {e.id for e in on_relay if e.id not in planted_ids}
        assert len(mine) == len(tweet_ids), relay
    assert not planted_ids & {e.id for e in await events_on(pypi_relay, tweet_ids)}
