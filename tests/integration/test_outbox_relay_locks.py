"""The outbox on a PostgreSQL state shared by several instances (SPEC §7), against real in-process relays:

- it works only the relays no other instance works: a relay another instance holds is skipped by the pass
  and left pending, and sent at the next pass once it is free;
- an event another instance built (its tweet file is not here) is sent with its author's mirror key
  for NIP-42 AUTH, found through the state's rows.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mnemonic import Mnemonic

from nostrweet.nostr.keys import KeyDeriver
from nostrweet.nostr.relays import QueryFilter, RelayPool
from nostrweet.publish.outbox import Outbox
from nostrweet.publish.publisher import Publisher
from nostrweet.settings import Secret
from nostrweet.state.engine import open_state
from nostrweet.state.records import RecordRepo
from nostrweet.state.relay_locks import RelayLocks
from nostrweet.state.users import UserRepo, UserRow
from nostrweet.store import CacheStore
from tests.fakes.relay_fixtures import SdkRelay
from tests.fakes.x_api import FakeXApi
from tests.integration.publish_helpers import make_cli

pytestmark = pytest.mark.integration

USER = "MarchePinna"


@pytest.fixture
def late_relays() -> Iterator[list[SdkRelay]]:
    """Two relays that do not serve until the test starts them."""
    relays = [SdkRelay(), SdkRelay()]
    yield relays
    for relay in relays:
        relay.close()


async def ids_on(url: str) -> set[str]:
    pool = RelayPool([url])
    await pool.start()
    try:
        found = await pool.query(QueryFilter(kinds=[0, 1, 6, 10002, 10063], limit=1000), timeout=3)
        return {e.id for e in found}
    finally:
        await pool.close()


async def test_a_relay_held_by_another_instance_is_skipped_until_free(
    late_relays: list[SdkRelay], fake_x: FakeXApi, tmp_path: Path, pg_url: str
) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    cli.run("--state-url", pg_url, "user-tweets", USER, "--count", "5")
    one, two = (r.url for r in late_relays)
    deriver = KeyDeriver(Secret(Mnemonic("english").generate(128)))
    store = CacheStore(cli.data_dir, state_url=pg_url)
    repo = RecordRepo(store.state)

    # both relays down: every record is pending on both
    pool = RelayPool([one, two], ok_timeout=2, connect_timeout=1)
    await pool.start()
    summary = await Publisher(store, deriver, pool, relays=[one, two]).publish_user(USER)
    await pool.close()
    assert summary.outcomes and not summary.ok
    recorded = {r.event_id for r in repo.pending(time.time() + 10**7, [one, two], limit=10**6)}
    assert recorded

    for relay in late_relays:
        relay.start()
    other = open_state(pg_url)  # another instance, working the first relay's outbox right now
    try:
        pool = RelayPool([one, two])
        await pool.start()
        publisher = Publisher(store, deriver, pool, relays=[one, two])
        outbox = Outbox(publisher, publish_unrecorded=False)
        with RelayLocks(other, name="other").hold([one]) as held:
            assert held.relays == [one]
            report = await outbox.run_once(now=time.time() + 10**7)
        assert report.busy == [one]
        assert report.resent and all(o.sent for o in report.resent)
        assert await ids_on(two) == recorded and await ids_on(one) == set()
        records = repo.get_many(recorded)
        assert {r.relays[two].status for r in records} == {"accepted"}
        assert {r.relays[one].status for r in records} == {"pending"}

        # free again: the next pass sends what the first relay lacks, and only that
        report = await outbox.run_once(now=time.time() + 10**7)
        await pool.close()
        assert report.busy == [] and len(report.resent) == len(recorded)
        assert await ids_on(one) == recorded
        assert {st.status for r in repo.get_many(recorded) for st in r.relays.values()} == {"accepted"}
    finally:
        other.close()
        store.close()


async def test_an_event_another_instance_built_is_sent_with_its_authors_key(
    fake_x: FakeXApi, tmp_path: Path, pg_url: str, dead_relay_url: str
) -> None:
    """The tweet files are in the other instance's data directory: the key for NIP-42 AUTH comes from the
    state (the tweet's row names its owner, the owner's row its user id)."""
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    cli.run("--state-url", pg_url, "user-tweets", USER, "--count", "5")
    deriver = KeyDeriver(Secret(Mnemonic("english").generate(128)))
    store = CacheStore(cli.data_dir, state_url=pg_url)
    pool = RelayPool([dead_relay_url], ok_timeout=1, connect_timeout=1)
    await pool.start()
    await Publisher(store, deriver, pool, relays=[dead_relay_url]).publish_user(USER)
    await pool.close()
    store.close()
    user_id = str(fake_x.world.user_by_username(USER)["id"])  # type: ignore[index]
    pubkey = deriver.for_user(user_id).pubkey_hex

    elsewhere = CacheStore(tmp_path / "b", state_url=pg_url)  # another instance: none of the files
    try:
        repo = RecordRepo(elsewhere.state)
        theirs = [
            r
            for r in repo.pending(time.time() + 10**7, [dead_relay_url], limit=10**6)
            if r.tweet_id and r.event["pubkey"] == pubkey
        ]
        assert theirs
        pool = RelayPool([dead_relay_url])
        outbox = Outbox(Publisher(elsewhere, deriver, pool, relays=[dead_relay_url]))
        # before any instance wrote the owner's row, the key is not known
        assert {outbox._unit(r, [dead_relay_url]).auth_key for r in theirs} == {None}
        UserRepo(elsewhere.state).save(UserRow(USER, user_id))  # what the polling daemon writes
        outbox = Outbox(Publisher(elsewhere, deriver, pool, relays=[dead_relay_url]))
        keys = {outbox._unit(r, [dead_relay_url]).auth_key for r in theirs}
        assert {k.pubkey_hex for k in keys if k is not None} == {pubkey} and None not in keys
    finally:
        elsewhere.close()
