"""RelayPool against two real relays: nostr-sdk's LocalRelay (in-process) and PyPI nostr-relay."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from nostrweet.nostr.event import verify_event
from nostrweet.nostr.relays import QueryFilter, RelayPool
from tests.fakes.nostr_helpers import make_event, random_key
from tests.fakes.nostr_relay_proc import RelayProcess
from tests.fakes.relay_fixtures import SdkRelay

pytestmark = pytest.mark.integration

BOTH = ["sdk_relay", "pypi_relay"]


async def wait_until(predicate: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("relay_fixture", BOTH)
async def test_publish_read_back_and_duplicate(relay_fixture: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue(relay_fixture)
    key = random_key()
    event = make_event(key, "hello relays", tags=[["r", "https://x.com/i/status/42"]])
    async with RelayPool([url], ok_timeout=5, connect_timeout=2) as pool:
        first = await pool.publish(event)
        assert first[url].outcome == "accepted", first
        again = await pool.publish(event)
        assert again[url].is_accepted
        assert again[url].outcome == "duplicate", again
        assert again[url].message.startswith("duplicate:")
        got = await pool.query(QueryFilter(authors=[key.pubkey_hex]))
        assert got == [event]
        assert verify_event(got[0])
        status = pool.status()[url]
        assert status.connected and status.accepted == 2 and status.rejected == 0


@pytest.mark.parametrize("relay_fixture", BOTH)
async def test_find_by_r_both_url_forms(relay_fixture: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue(relay_fixture)
    key = random_key()
    new_form = make_event(key, "new", tags=[["r", "https://x.com/i/status/7"]])
    old_form = make_event(
        key, "old", tags=[["r", "https://twitter.com/i/status/8"]], created_at=new_form.created_at - 1
    )
    other = make_event(key, "other", tags=[["r", "https://x.com/i/status/9"]])
    async with RelayPool([url], ok_timeout=5) as pool:
        for ev in (new_form, old_form, other):
            assert (await pool.publish(ev))[url].is_accepted
        found = await pool.find_by_r(["https://x.com/i/status/7", "https://twitter.com/i/status/7"])
        assert found == [new_form]
        found = await pool.find_by_r(["https://x.com/i/status/8", "https://twitter.com/i/status/8"])
        assert found == [old_form]
        both = await pool.find_by_r(["https://x.com/i/status/7", "https://twitter.com/i/status/8"])
        assert both == [new_form, old_form]  # newest first


async def test_query_deduplicates_across_relays(sdk_relay: str, pypi_relay: str) -> None:
    key = random_key()
    events = [make_event(key, f"n{i}", created_at=1_700_000_000 + i) for i in range(5)]
    async with RelayPool([sdk_relay, pypi_relay], ok_timeout=5) as pool:
        for answers in await pool.publish_many([(e, None) for e in events]):
            assert all(a.is_accepted for a in answers.values()), answers
        got = await pool.query(QueryFilter(authors=[key.pubkey_hex], kinds=[1]))
        assert [e.id for e in got] == [e.id for e in reversed(events)]
        limited = await pool.query(QueryFilter(authors=[key.pubkey_hex], since=1_700_000_003))
        assert {e.content for e in limited} == {"n3", "n4"}


async def test_dead_relay_costs_one_timeout(sdk_relay: str, dead_relay_url: str) -> None:
    key = random_key()
    events = [make_event(key, f"e{i}") for i in range(20)]
    async with RelayPool([sdk_relay, dead_relay_url], ok_timeout=1.0, connect_timeout=1.0) as pool:
        for event in events:  # one by one on purpose: each must not wait for the dead relay
            answers = await pool.publish(event)
            assert answers[sdk_relay].outcome == "accepted"
            assert answers[dead_relay_url].outcome == "pending"
            # answered from the relay's state, not after waiting for an OK that cannot come
            assert answers[dead_relay_url].message.startswith("cannot connect"), answers
        status = pool.status()
        assert not status[dead_relay_url].connected and status[dead_relay_url].pending == 20
        assert status[sdk_relay].accepted == 20


async def test_relay_that_stops_answering_is_marked_down_once() -> None:
    """A relay the pool believed up, whose OKs never come: one timeout, then immediate pending."""
    relay = SdkRelay()
    relay.start()
    key = random_key()
    try:
        async with RelayPool([relay.url], ok_timeout=1.0, connect_timeout=1.0, max_retry_interval=60) as pool:
            relay.stop()
            await wait_until(lambda: not pool.status()[relay.url].connected)
            results = await pool.publish_many([(make_event(key, f"x{i}"), None) for i in range(10)])
            assert all(r[relay.url].outcome == "pending" for r in results)
            # the lost socket marked it down at once (and reconnecting fails): no event waited for an OK
            assert all(r[relay.url].message != "timeout" for r in results), results
    finally:
        relay.close()


async def test_sdk_relay_down_then_up(sdk_relay_server: SdkRelay) -> None:
    url = sdk_relay_server.url
    key = random_key()
    event = make_event(key, "later")
    async with RelayPool([url], ok_timeout=2, connect_timeout=1, max_retry_interval=0.5) as pool:
        sdk_relay_server.stop()
        await wait_until(lambda: not pool.status()[url].connected)
        assert (await pool.publish(event))[url].outcome == "pending"
        sdk_relay_server.start()
        await wait_until(lambda: pool.status()[url].connected)
        assert (await pool.publish(event))[url].outcome == "accepted"
        assert await pool.query(QueryFilter(ids=[event.id])) == [event]


async def test_pypi_relay_down_then_up(pypi_relay_process: RelayProcess) -> None:
    url = pypi_relay_process.url
    key = random_key()
    before = make_event(key, "before")
    during = make_event(key, "during")
    async with RelayPool([url], ok_timeout=3, connect_timeout=1, max_retry_interval=0.5) as pool:
        assert (await pool.publish(before))[url].outcome == "accepted"
        pypi_relay_process.stop()
        await wait_until(lambda: not pool.status()[url].connected)
        assert (await pool.publish(during))[url].outcome == "pending"
        pypi_relay_process.start()
        await wait_until(lambda: pool.status()[url].connected)
        assert (await pool.publish(during))[url].outcome == "accepted"
        assert (await pool.publish(before))[url].outcome == "duplicate"  # the data survived the restart
        got = await pool.query(QueryFilter(authors=[key.pubkey_hex]))
        assert {e.id for e in got} == {before.id, during.id}


async def test_recent_only_relay_rejects_old_event(pypi_relay_recent_only: str) -> None:
    url = pypi_relay_recent_only
    key = random_key()
    old = make_event(key, "from 2019", created_at=1_550_000_000)
    fresh = make_event(key, "today")
    async with RelayPool([url], ok_timeout=4, connect_timeout=2) as pool:
        assert (await pool.publish(fresh))[url].outcome == "accepted"
        answer = (await pool.publish(old))[url]
        assert answer.outcome == "rejected", answer
        assert answer.is_final and not answer.is_accepted
        assert answer.message
        status = pool.status()[url]
        assert status.connected, "a rejection must not mark the relay down"
        assert status.rejected == 1 and status.accepted == 1


async def test_rate_limited_is_retried_with_backoff() -> None:
    relay = SdkRelay(notes_per_minute=2)
    relay.start()
    key = random_key()
    try:
        async with RelayPool([relay.url], ok_timeout=2, rate_limit_retries=1, rate_limit_backoff=0.1) as pool:
            answers = [await pool.publish(make_event(key, f"r{i}")) for i in range(4)]
            outcomes = [a[relay.url].outcome for a in answers]
            assert "accepted" in outcomes
            assert "rate_limited" in outcomes, outcomes
            limited = next(a[relay.url] for a in answers if a[relay.url].outcome == "rate_limited")
            assert limited.message.startswith("rate-limited:")
            assert not limited.is_final
    finally:
        relay.close()


@pytest.mark.parametrize("relay_fixture", BOTH)
async def test_publish_many_keeps_many_in_flight(relay_fixture: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue(relay_fixture)
    key = random_key()
    events = [make_event(key, f"bulk {i}") for i in range(200)]
    async with RelayPool([url], ok_timeout=10) as pool:
        results = await pool.publish_many([(e, None) for e in events], in_flight=64)
        assert [r[url].outcome for r in results] == ["accepted"] * 200
        # that they are in flight at once: test_frames_are_pipelined_not_sent_one_round_trip_at_a_time


async def test_auth_relay_answered_with_publishing_identity(sdk_relay_auth: str) -> None:
    url = sdk_relay_auth
    alice, bob = random_key("1"), random_key("2")
    a_event, b_event = make_event(alice, "alice"), make_event(bob, "bob")
    async with RelayPool([url], ok_timeout=3) as pool:
        without = (await pool.publish(a_event))[url]
        assert without.outcome == "pending" and without.message.startswith("auth-required:")
        assert (await pool.publish(a_event, auth_key=alice))[url].is_accepted
        assert (await pool.publish(b_event, auth_key=bob))[url].is_accepted
        results = await pool.publish_many(
            [(make_event(alice, f"a{i}"), None) for i in range(5)], auth_keys={alice.pubkey_hex: alice}
        )
        assert all(r[url].is_accepted for r in results)
        got = await pool.query(QueryFilter(authors=[alice.pubkey_hex, bob.pubkey_hex]))
        assert len(got) == 7


async def test_recent_only_mixed_batch_old_rejected_new_accepted_fast(pypi_relay_recent_only: str) -> None:
    """nostr-relay answers the old event with an id-less OK and then throttles the connection.

    The wrapper matches that OK to the event (relay's message kept), moves to a fresh connection for the
    rest, and neither loses the other OKs nor marks the relay down.
    """
    url = pypi_relay_recent_only
    key = random_key()
    old = make_event(key, "from 2017", created_at=1_500_000_000)
    fresh = [make_event(key, f"new {i}") for i in range(5)]
    async with RelayPool([url], ok_timeout=10, connect_timeout=2) as pool:
        results = await pool.publish_many([(e, None) for e in [old, *fresh]])
        first = results[0][url]
        assert first.outcome == "rejected" and "too old" in first.message, first
        assert all(r[url].is_accepted for r in results[1:]), results
        status = pool.status()[url]
        assert status.connected and status.rejected == 1 and status.accepted == 5
        got = await pool.query(QueryFilter(authors=[key.pubkey_hex]))
        assert {e.id for e in got} == {e.id for e in fresh}


async def test_recent_only_many_rejections_slow_relay_not_marked_down(pypi_relay_recent_only: str) -> None:
    """Several id-less rejections cost the relay's penalty each; a short ok_timeout does not mark it down."""
    url = pypi_relay_recent_only
    key = random_key()
    olds = [make_event(key, f"old {i}", created_at=1_500_000_000 + i) for i in range(3)]
    fresh = [make_event(key, f"new {i}") for i in range(3)]
    async with RelayPool([url], ok_timeout=2.5, connect_timeout=2) as pool:
        results = await pool.publish_many([(e, None) for e in [*olds, *fresh]])
        assert [r[url].outcome for r in results[:3]] == ["rejected"] * 3, results
        assert all("too old" in r[url].message for r in results[:3])
        assert all(r[url].is_accepted for r in results[3:]), results
        assert pool.status()[url].connected


# --- the pipelined publish path ----------------------------------------------------------------------


async def test_frames_are_pipelined_not_sent_one_round_trip_at_a_time() -> None:
    """A relay that answers nothing until 10 EVENT frames are in: only a client that writes them back
    to back, without waiting for each OK, gets its answers."""
    seen: list[str] = []

    async def handler(ws: ServerConnection) -> None:
        held: list[str] = []
        async for raw in ws:
            msg = json.loads(raw)
            if msg[0] != "EVENT":
                continue
            seen.append(msg[1]["id"])
            held.append(msg[1]["id"])
            if len(seen) >= 10:
                for event_id in held:
                    await ws.send(json.dumps(["OK", event_id, True, ""]))
                held.clear()

    key = random_key()
    events = [make_event(key, f"held {i}") for i in range(10)]
    async with serve(handler, "127.0.0.1", 0) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        async with RelayPool([url], ok_timeout=5, pipeline_window=10) as pool:
            results = await pool.publish_many([(e, None) for e in events])
    assert [r[url].outcome for r in results] == ["accepted"] * 10
    assert seen == [e.id for e in events]


async def test_pipelined_batch_to_both_relays(sdk_relay: str, pypi_relay: str) -> None:
    """A batch to relays that need no AUTH: accepted, then duplicate, counted once per answer."""
    key = random_key()
    events = [make_event(key, f"p{i}") for i in range(300)]
    async with RelayPool([sdk_relay, pypi_relay], ok_timeout=5, pipeline_window=64) as pool:
        results = await pool.publish_many([(e, None) for e in events])
        assert all(r[u].outcome == "accepted" for r in results for u in (sdk_relay, pypi_relay)), results[:3]
        again = await pool.publish_many([(e, None) for e in events[:10]])
        assert all(r[u].outcome == "duplicate" for r in again for u in (sdk_relay, pypi_relay)), again
        for url in (sdk_relay, pypi_relay):
            status = pool.status()[url]
            assert status.connected and status.accepted == 310 and status.pending == 0
        got = await pool.query(QueryFilter(authors=[key.pubkey_hex]), relays=[pypi_relay])
        assert {e.id for e in got} == {e.id for e in events}


async def test_pipelined_dead_relay_costs_nothing_per_event(sdk_relay: str, dead_relay_url: str) -> None:
    key = random_key()
    async with RelayPool([sdk_relay, dead_relay_url], ok_timeout=1.0, connect_timeout=1.0) as pool:
        for round_ in range(3):
            batch = [make_event(key, f"d{round_} {i}") for i in range(20)]
            results = await pool.publish_many([(e, None) for e in batch])
            assert all(r[sdk_relay].outcome == "accepted" for r in results)
            assert all(r[dead_relay_url].outcome == "pending" for r in results)
            assert all(r[dead_relay_url].message.startswith("cannot connect") for r in results)
        assert pool.status()[dead_relay_url].pending == 60


async def test_pipelined_silent_relay_costs_one_timeout(sdk_relay: str) -> None:
    """A relay that accepts the connection but never answers: one ok_timeout for the whole batch, then
    it is down and answered pending at once; the other relay is not held up."""
    silent_seen: list[str] = []

    async def swallow(ws: ServerConnection) -> None:
        async for message in ws:
            silent_seen.append(str(message))

    async with serve(swallow, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        silent = f"ws://127.0.0.1:{port}"
        key = random_key()
        async with RelayPool(
            [sdk_relay, silent], ok_timeout=1.0, connect_timeout=1.0, max_retry_interval=60
        ) as pool:
            assert pool.status()[silent].connected
            results = await pool.publish_many([(make_event(key, f"s{i}"), None) for i in range(50)])
            assert all(r[sdk_relay].outcome == "accepted" for r in results)
            assert [r[silent].outcome for r in results] == ["pending"] * 50
            assert all(r[silent].message == "timeout" for r in results)
            assert len(silent_seen) == 50  # every frame was written on the silent connection
            assert not pool.status()[silent].connected
            results = await pool.publish_many([(make_event(key, f"t{i}"), None) for i in range(50)])
            assert all(r[silent].outcome == "pending" for r in results)
            assert len(silent_seen) == 50  # down: nothing more was sent, so nothing more was awaited


async def test_pipelined_rate_limited_retried_with_backoff() -> None:
    relay = SdkRelay(notes_per_minute=2)
    relay.start()
    key = random_key()
    try:
        waits: list[float] = []

        async def sleep(seconds: float) -> None:
            waits.append(seconds)
            await asyncio.sleep(seconds)

        async with RelayPool(
            [relay.url], ok_timeout=2, rate_limit_retries=2, rate_limit_backoff=0.2, sleep=sleep
        ) as pool:
            results = await pool.publish_many([(make_event(key, f"r{i}"), None) for i in range(6)])
            outcomes = [r[relay.url].outcome for r in results]
            assert "accepted" in outcomes
            assert "rate_limited" in outcomes, outcomes
            limited = next(r[relay.url] for r in results if r[relay.url].outcome == "rate_limited")
            assert limited.message.startswith("rate-limited:") and not limited.is_final
            assert waits == [0.2, 0.4], "the rate-limited events were not retried after the backoff"
            assert pool.status()[relay.url].connected
    finally:
        relay.close()


async def test_pipelined_auth_required_falls_back_to_identity_client(sdk_relay_auth: str) -> None:
    """The first pipelined batch to an AUTH relay is answered auth-required: with the key, those
    events go again through the identity's own client; without it, they stay pending."""
    url = sdk_relay_auth
    alice, bob = random_key("1"), random_key("2")
    async with RelayPool([url], ok_timeout=3) as pool:
        stranger = await pool.publish_many([(make_event(bob, f"b{i}"), None) for i in range(3)])
        assert all(r[url].outcome == "pending" for r in stranger)
        assert all(r[url].message.startswith("auth-required:") for r in stranger)
        events = [make_event(alice, f"a{i}") for i in range(5)]
        results = await pool.publish_many([(e, None) for e in events], auth_keys={alice.pubkey_hex: alice})
        assert [r[url].outcome for r in results] == ["accepted"] * 5, results
        got = await pool.query(QueryFilter(authors=[alice.pubkey_hex, bob.pubkey_hex]))
        assert {e.id for e in got} == {e.id for e in events}


async def test_nip11_limits_answer_what_the_relay_would_refuse_without_sending_it() -> None:
    """A relay whose NIP-11 document states limits: events over them are rejected with the limit as
    the reason and never sent; the others go as usual."""
    received: list[str] = []
    document = {"limitation": {"max_event_tags": 1, "created_at_lower_limit": 3600}}

    def nip11(connection: Any, request: Any) -> Any:
        if request.headers.get("Accept") == "application/nostr+json":
            return connection.respond(200, json.dumps(document))
        return None

    async def handler(ws: ServerConnection) -> None:
        async for raw in ws:
            msg = json.loads(raw)
            if msg[0] == "EVENT":
                received.append(msg[1]["id"])
                await ws.send(json.dumps(["OK", msg[1]["id"], True, ""]))

    key = random_key()
    fine = make_event(key, "fine", tags=[["t", "a"]])
    tags = make_event(key, "tags", tags=[["t", "a"], ["t", "b"]])
    old = make_event(key, "old", created_at=1_500_000_000)
    async with serve(handler, "127.0.0.1", 0, process_request=nip11) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        async with RelayPool([url], ok_timeout=5) as pool:
            results = await pool.publish_many([(e, None) for e in (fine, tags, old)])
            status = pool.status()[url]
    answers = [r[url] for r in results]
    assert [a.outcome for a in answers] == ["accepted", "rejected", "rejected"]
    assert "max_event_tags" in answers[1].message and "created_at_lower_limit" in answers[2].message
    assert received == [fine.id]
    assert status.connected and status.rejected == 2
