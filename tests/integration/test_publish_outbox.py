"""The publisher and the outbox through the Python API, against nostr-sdk's in-process relay."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from mnemonic import Mnemonic

from nostrweet.nostr.event import SignedEvent
from nostrweet.nostr.keys import KeyDeriver
from nostrweet.nostr.relays import QueryFilter, RelayPool
from nostrweet.publish.outbox import Outbox
from nostrweet.publish.publisher import Publisher
from nostrweet.settings import Secret
from nostrweet.store import CacheStore
from tests.fakes.relay_fixtures import SdkRelay
from tests.fakes.x_api import FakeXApi
from tests.integration.publish_helpers import make_cli, records

pytestmark = pytest.mark.integration

USER = "MarchePinna"


def keys() -> KeyDeriver:
    return KeyDeriver(Secret(Mnemonic("english").generate(128)))


async def ids_on(url: str, kinds: tuple[int, ...] = (0, 1, 6)) -> set[str]:
    pool = RelayPool([url])
    await pool.start()
    try:
        return {e.id for e in await pool.query(QueryFilter(kinds=kinds, limit=1000), timeout=3)}
    finally:
        await pool.close()


async def test_pending_record_is_resent_by_outbox_and_unrecorded_tweets_published(
    sdk_relay_server: SdkRelay, fake_x: FakeXApi, tmp_path: Path
) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    cli.run("user-tweets", USER, "--count", "20")
    url = sdk_relay_server.url
    deriver = keys()
    sdk_relay_server.stop()

    # 1. The relay is down: everything is recorded pending (written before sending), exit would be 1.
    store = CacheStore(cli.data_dir)
    pool = RelayPool([url], ok_timeout=2, connect_timeout=1)
    await pool.start()
    publisher = Publisher(store, deriver, pool, relays=[url])
    summary = await publisher.publish_user(USER)
    await pool.close()
    assert not summary.ok and summary.count("failed") == len(summary.outcomes) > 0
    pending = records(cli.data_dir)
    assert pending and all(r["relays"][url]["status"] == "pending" for r in pending.values())
    assert all(r["relays"][url]["next_attempt"] > time.time() for r in pending.values())

    # A tweet cached after that run (no record at all) is published by the outbox too.
    cli.run("fetch-tweet", "1574184144313122816")

    # 2. The relay is back. A new process (fresh store and records) runs the outbox once.
    sdk_relay_server.start()
    store = CacheStore(cli.data_dir)
    pool = RelayPool([url])
    await pool.start()
    publisher = Publisher(store, deriver, pool, relays=[url])
    outbox = Outbox(publisher)
    owner = store.tweet_owner(1574184144313122816)
    assert owner is not None
    publisher.polling.add(owner)  # a poll of this process works the tweet's user: it is left to the poll
    held = await outbox.run_once(now=time.time())
    assert held.published == [] and held.resent == []
    publisher.polling.discard(owner)
    early = await outbox.run_once(now=time.time())  # backoff not over: nothing is re-sent yet
    assert early.resent == [] and early.waiting == len(pending)
    # ... but the tweet that has no record is published at once
    assert [o.subject_id for o in early.published] == ["1574184144313122816"]
    assert early.published[0].status == "published"
    report = await outbox.run_once(now=time.time() + 3600)
    await pool.close()
    assert len(report.resent) == len(pending) and report.ok
    assert report.published == []  # tried once per process
    after = records(cli.data_dir)
    assert set(after) >= set(pending)  # the same events, nothing rebuilt
    assert all(r["relays"][url]["status"] == "accepted" for r in after.values())
    on_relay = await ids_on(url)
    assert {r["event"]["id"] for r in after.values()} <= on_relay

    # 3. Everything settled: the next pass sends nothing and reads no record again.
    pool = RelayPool([url])
    await pool.start()
    publisher.pool = pool
    quiet = await outbox.run_once(now=time.time() + 7200)
    await pool.close()
    assert quiet.resent == [] and quiet.published == [] and quiet.read == 0


async def test_outbox_adds_a_newly_configured_relay(
    sdk_relay: str, sdk_relay_server: SdkRelay, fake_x: FakeXApi, tmp_path: Path
) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    cli.run("user-tweets", USER, "--count", "20")
    deriver = keys()
    store = CacheStore(cli.data_dir)
    pool = RelayPool([sdk_relay])
    await pool.start()
    summary = await Publisher(store, deriver, pool, relays=[sdk_relay]).publish_user(USER)
    await pool.close()
    assert summary.ok

    second = SdkRelay()
    second.start()
    try:
        relays = [sdk_relay, second.url]
        pool = RelayPool(relays)
        await pool.start()
        publisher = Publisher(CacheStore(cli.data_dir), deriver, pool, relays=relays)
        report = await Outbox(publisher).run_once()
        await pool.close()
        assert report.resent and all(o.status == "published" for o in report.resent)
        for record in records(cli.data_dir).values():
            assert {u for u, st in record["relays"].items() if st["status"] == "accepted"} == set(relays)
        assert await ids_on(second.url) == await ids_on(sdk_relay)
    finally:
        second.close()


async def test_duplicate_check_finds_earlier_tools_events(
    sdk_relay: str, fake_x: FakeXApi, tmp_path: Path
) -> None:
    """An event of the earlier tool (twitter.com r tag, the same user's legacy key) counts as posted."""
    from nostrweet.nostr.event import UnsignedEvent, sign_event

    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    cli.run("user-tweets", USER, "--count", "20")
    store = CacheStore(cli.data_dir)
    first = str(store.tweet_ids_of(USER.lower())[0])
    phrase = Secret(Mnemonic("english").generate(128))
    doc = store.read_tweet(first)
    assert doc is not None and doc.data.author_id is not None
    legacy_key = KeyDeriver(phrase, "legacy").for_user(doc.data.author_id)
    old = sign_event(
        UnsignedEvent(
            legacy_key.pubkey_hex, 1_600_000_000, 1, (("r", f"https://twitter.com/i/status/{first}"),), "old"
        ),
        legacy_key,
    )
    pool = RelayPool([sdk_relay])
    await pool.start()
    assert (await pool.publish(old))[sdk_relay].is_accepted
    publisher = Publisher(store, KeyDeriver(phrase), pool, relays=[sdk_relay])
    outcome = await publisher.publish_tweet(first)
    assert outcome.status == "already" and outcome.event_id == old.id
    forced = Publisher(store, KeyDeriver(phrase), pool, relays=[sdk_relay], force=True)
    again = await forced.publish_tweet(first)
    await pool.close()
    assert again.event_id == old.id and again.status == "published"  # --force re-sends the same event
    [record] = [r for n, r in records(cli.data_dir).items() if n.endswith(f"_tweet_{first}.json")]
    assert SignedEvent.from_dict(record["event"]).id == old.id
