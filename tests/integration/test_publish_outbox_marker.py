"""The outbox reads only what the listing marks as pending; a new relay is backfilled by one pass.

Against nostr-sdk's in-process relay, through the Python API. File reads are counted by wrapping
``io.open`` and ``os.open`` (what ``Path.read_bytes`` and the atomic writer use).
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mnemonic import Mnemonic

from nostrweet.cache.store import CacheStore
from nostrweet.nostr.keys import KeyDeriver
from nostrweet.nostr.record import BACKOFF_CAP
from nostrweet.nostr.relays import QueryFilter, RelayPool
from nostrweet.publish.outbox import Outbox
from nostrweet.publish.publisher import Publisher
from nostrweet.publish.records import RECONCILED_FILE, RecordStore
from nostrweet.settings import Secret
from tests.fakes.relay_fixtures import SdkRelay
from tests.fakes.x_api import FakeXApi
from tests.integration.publish_helpers import make_cli, records

pytestmark = pytest.mark.integration

USER = "MarchePinna"


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Names of the event record files opened (read or written) while the test runs."""
    seen: list[str] = []
    real_io_open, real_os_open = io.open, os.open

    def note(path: Any) -> None:
        name = os.fsdecode(path) if isinstance(path, str | bytes | os.PathLike) else ""
        if "nostr_events" in name and "event_" in os.path.basename(name):
            seen.append(os.path.basename(name))

    def io_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        note(file)
        return real_io_open(file, *args, **kwargs)

    def os_open(path: Any, *args: Any, **kwargs: Any) -> int:
        note(path)
        return real_os_open(path, *args, **kwargs)

    monkeypatch.setattr(io, "open", io_open)
    monkeypatch.setattr(os, "open", os_open)
    yield seen


async def ids_on(url: str) -> set[str]:
    pool = RelayPool([url])
    await pool.start()
    try:
        return {e.id for e in await pool.query(QueryFilter(kinds=[0, 1, 6, 10002], limit=1000), timeout=3)}
    finally:
        await pool.close()


async def outbox_pass(
    data_dir: Path, deriver: KeyDeriver, relays: list[str], **kw: Any
) -> tuple[Any, RecordStore]:
    """One outbox pass in a fresh 'process' (new store, publisher, outbox)."""
    pool = RelayPool(relays)
    await pool.start()
    try:
        publisher = Publisher(CacheStore(data_dir), deriver, pool, relays=relays)
        # as the daemon's first pass: every pending relay is due, whatever its backoff
        report = await Outbox(publisher, **kw).run_once(now=time.time() + BACKOFF_CAP + 1)
    finally:
        await pool.close()
    return report, publisher.records


def marked(data_dir: Path) -> list[str]:
    return sorted(p.name for p in (data_dir / "nostr_events").glob("event_*.pending.json"))


async def test_settled_cache_outbox_reads_no_record_and_new_relay_is_backfilled(
    sdk_relay: str, fake_x: FakeXApi, tmp_path: Path, opened: list[str]
) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    cli.run("user-tweets", USER, "--count", "20")
    deriver = KeyDeriver(Secret(Mnemonic("english").generate(128)))
    store = CacheStore(cli.data_dir)
    pool = RelayPool([sdk_relay])
    await pool.start()
    summary = await Publisher(store, deriver, pool, relays=[sdk_relay]).publish_user(USER)
    await pool.close()
    assert summary.ok
    total = len(records(cli.data_dir))
    assert total > 10 and marked(cli.data_dir) == []  # everything accepted: no marker left

    # First outbox on this cache: no relays.json yet, so one reconcile pass reads each record once.
    opened.clear()
    first, _ = await outbox_pass(cli.data_dir, deriver, [sdk_relay])
    assert first.reopened == 0 and first.resent == [] and first.read == total
    reconciled = json.loads((cli.data_dir / "nostr_events" / RECONCILED_FILE).read_text())
    assert reconciled["scopes"] == {"*": [sdk_relay]}

    # Settled cache, same relays: a fresh process's pass opens no record file at all.
    opened.clear()
    quiet, recs = await outbox_pass(cli.data_dir, deriver, [sdk_relay])
    assert opened == [] and recs.reads == 0
    assert quiet.resent == [] and quiet.published == [] and quiet.settled == total

    # A relay is added: one streaming pass reopens every record for it, and the outbox sends them.
    second = SdkRelay()
    second.start()
    try:
        relays = [sdk_relay, second.url]
        opened.clear()
        grown, recs = await outbox_pass(cli.data_dir, deriver, relays, batch=7)
        assert grown.reopened == total and len(grown.resent) == total and grown.ok
        assert len(recs._cache) <= recs.cache_size
        assert all(set(r["relays"]) == set(relays) for r in records(cli.data_dir).values())
        assert all(
            st["status"] == "accepted" for r in records(cli.data_dir).values() for st in r["relays"].values()
        )
        assert marked(cli.data_dir) == []
        assert await ids_on(second.url) == await ids_on(sdk_relay)
        reconciled = json.loads((cli.data_dir / "nostr_events" / RECONCILED_FILE).read_text())
        assert reconciled["scopes"] == {"*": sorted(relays)}
        # ... and then the next process reads nothing again
        opened.clear()
        again, recs = await outbox_pass(cli.data_dir, deriver, relays)
        assert opened == [] and recs.reads == 0 and again.resent == []
    finally:
        second.close()


async def test_reconcile_killed_midway_resumes_and_only_pending_records_are_read(
    sdk_relay: str, fake_x: FakeXApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    cli.run("user-tweets", USER, "--count", "20")
    deriver = KeyDeriver(Secret(Mnemonic("english").generate(128)))
    await outbox_pass(cli.data_dir, deriver, [sdk_relay])  # publishes every cached tweet, reconciles
    total = len(records(cli.data_dir))

    second = SdkRelay()
    second.start()
    try:
        relays = [sdk_relay, second.url]
        # killed during the reconcile pass: after the second batch of reopened records was written
        calls = {"n": 0}
        real = RecordStore.save_many

        def dying(self: RecordStore, recs: Any) -> None:
            real(self, recs)
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt("killed")

        monkeypatch.setattr(RecordStore, "save_many", dying)
        with pytest.raises(KeyboardInterrupt):
            await outbox_pass(cli.data_dir, deriver, relays, batch=5)
        monkeypatch.setattr(RecordStore, "save_many", real)
        half = marked(cli.data_dir)
        assert 0 < len(half) < total
        reconciled = json.loads((cli.data_dir / "nostr_events" / RECONCILED_FILE).read_text())
        assert reconciled["scopes"] == {"*": [sdk_relay]}  # not yet marked done

        # Relay 2 is down for the next start: the pass reopens the rest, everything stays pending.
        second.stop()
        down, _ = await outbox_pass(cli.data_dir, deriver, relays)
        assert down.reopened == total - len(half)
        assert len(marked(cli.data_dir)) == total

        # Relay 2 is back: a fresh process reads exactly the pending records, nothing else.
        second.start()
        report, recs = await outbox_pass(cli.data_dir, deriver, relays, batch=9)
        assert report.reopened == 0 and recs.reads >= total  # pending ones (+ accepted_relays lookups)
        assert marked(cli.data_dir) == []
        assert await ids_on(second.url) == await ids_on(sdk_relay)
        quiet, recs = await outbox_pass(cli.data_dir, deriver, relays)
        assert recs.reads == 0 and quiet.resent == []
    finally:
        second.close()
