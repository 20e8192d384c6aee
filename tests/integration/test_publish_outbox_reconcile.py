"""The outbox reads only the records that are due; a new relay is backfilled by one pass.

Against nostr-sdk's in-process relay, through the Python API, on the state in the data directory.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from mnemonic import Mnemonic

from nostrweet.nostr.keys import KeyDeriver
from nostrweet.nostr.record import BACKOFF_CAP
from nostrweet.nostr.relays import QueryFilter, RelayPool
from nostrweet.publish.outbox import Outbox
from nostrweet.publish.publisher import Publisher
from nostrweet.publish.records import PublishRecords
from nostrweet.settings import Secret
from nostrweet.store import CacheStore
from tests.fakes.relay_fixtures import SdkRelay
from tests.fakes.x_api import FakeXApi
from tests.integration.publish_helpers import make_cli, records

pytestmark = pytest.mark.integration

USER = "MarchePinna"


async def ids_on(url: str) -> set[str]:
    pool = RelayPool([url])
    await pool.start()
    try:
        return {e.id for e in await pool.query(QueryFilter(kinds=[0, 1, 6, 10002], limit=1000), timeout=3)}
    finally:
        await pool.close()


async def outbox_pass(
    data_dir: Path, deriver: KeyDeriver, relays: list[str], **kw: Any
) -> tuple[Any, PublishRecords]:
    """One outbox pass in a fresh 'process' (new store, publisher, outbox)."""
    pool = RelayPool(relays)
    await pool.start()
    store = CacheStore(data_dir)
    try:
        publisher = Publisher(store, deriver, pool, relays=relays)
        # as the daemon's first pass: every pending relay is due, whatever its backoff
        report = await Outbox(publisher, **kw).run_once(now=time.time() + BACKOFF_CAP + 1)
    finally:
        await pool.close()
        store.close()
    return report, publisher.records


async def test_settled_state_outbox_reads_no_record_and_new_relay_is_backfilled(
    sdk_relay: str, fake_x: FakeXApi, tmp_path: Path
) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    cli.run("user-tweets", USER, "--count", "20")
    deriver = KeyDeriver(Secret(Mnemonic("english").generate(128)))
    store = CacheStore(cli.data_dir)
    pool = RelayPool([sdk_relay])
    await pool.start()
    summary = await Publisher(store, deriver, pool, relays=[sdk_relay]).publish_user(USER)
    await pool.close()
    store.close()
    assert summary.ok
    total = len(records(cli.data_dir))
    assert total > 10

    # Settled state, same relays: a fresh process's pass reads no record at all.
    first, _ = await outbox_pass(cli.data_dir, deriver, [sdk_relay])
    assert first.reopened == 0 and first.resent == [] and first.read == 0
    quiet, recs = await outbox_pass(cli.data_dir, deriver, [sdk_relay])
    assert recs.reads == 0 and quiet.read == 0
    assert quiet.resent == [] and quiet.published == [] and quiet.waiting == 0

    # A relay is added: one pass gives every record a pending row for it, and the outbox sends them
    # in pages of 7.
    second = SdkRelay()
    second.start()
    try:
        relays = [sdk_relay, second.url]
        grown, recs = await outbox_pass(cli.data_dir, deriver, relays, batch=7)
        assert grown.reopened == total and len(grown.resent) == total and grown.ok
        assert grown.read == total
        assert all(set(r["relays"]) == set(relays) for r in records(cli.data_dir).values())
        assert all(
            st["status"] == "accepted" for r in records(cli.data_dir).values() for st in r["relays"].values()
        )
        assert await ids_on(second.url) == await ids_on(sdk_relay)
        # ... and then the next process reads nothing again
        again, recs = await outbox_pass(cli.data_dir, deriver, relays)
        assert again.read == 0 and recs.reads == 0 and again.resent == [] and again.reopened == 0
    finally:
        second.close()
