"""RelayConnection over a tiny local WebSocket relay: OKs resolve their sends, id-less OKs are repaired
onto the oldest waiting event and move the connection to a fresh socket, a closed socket resolves what
still waits, REQ runs until EOSE, and AUTH is answered per identity."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from websockets.asyncio.server import ServerConnection, serve

from nostrweet.nostr.auth import AUTH_KIND
from nostrweet.nostr.connection import ConnectionLostError, RelayConnection
from nostrweet.nostr.event import SignedEvent, verify_event
from nostrweet.nostr.protocol import Ok
from tests.fakes.nostr_helpers import make_event, random_key

Rule = Callable[[list[object]], list[str]]


def ok_with_id(msg: list[object]) -> list[str]:
    event = msg[1]
    assert isinstance(event, dict)
    return [json.dumps(["OK", event["id"], True, ""])]


def ok_without_id(msg: list[object]) -> list[str]:
    return [json.dumps(["OK", "", False, "invalid: no id here"])]


@dataclass
class TinyRelay:
    """Answers each EVENT by ``rule``; stores events for REQ; sends an AUTH challenge on connect."""

    url: str = ""
    rule: Rule = ok_with_id
    sockets: int = 0
    stored: list[dict[str, object]] = field(default_factory=list)
    auths: list[SignedEvent] = field(default_factory=list)


@pytest.fixture
async def relay() -> AsyncIterator[TinyRelay]:
    state = TinyRelay()

    async def handler(ws: ServerConnection) -> None:
        state.sockets += 1
        await ws.send(json.dumps(["AUTH", f"challenge-{state.sockets}"]))
        async for raw in ws:
            msg = json.loads(raw)
            if msg[0] == "EVENT":
                state.stored.append(msg[1])
                for frame in state.rule(msg):
                    await ws.send(frame)
            elif msg[0] == "AUTH":
                event = SignedEvent.from_dict(msg[1])
                state.auths.append(event)
                await ws.send(json.dumps(["OK", event.id, True, ""]))
            elif msg[0] == "REQ":
                for stored in state.stored:
                    await ws.send(json.dumps(["EVENT", msg[1], stored]))
                await ws.send(json.dumps(["EOSE", msg[1]]))
            elif msg[0] == "BYE":
                await ws.close()

    async with serve(handler, "127.0.0.1", 0) as server:
        state.url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        yield state


async def test_oks_resolve_their_sends(relay: TinyRelay) -> None:
    conn = await RelayConnection.open(relay.url, open_timeout=2)
    events = [make_event(random_key(), f"d{i}") for i in range(5)]
    futures = [await conn.send_event(e) for e in events]
    answers = await asyncio.wait_for(asyncio.gather(*futures), 5)
    assert answers == [Ok(e.id, True, "") for e in events]
    assert not any(conn.protocol.waiting(e.id) for e in events)
    await conn.close()


async def test_id_less_ok_is_repaired_and_the_connection_moves_to_a_fresh_socket(relay: TinyRelay) -> None:
    conn = await RelayConnection.open(relay.url, open_timeout=2)
    relay.rule = ok_without_id
    key = random_key()
    first, second = make_event(key, "one"), make_event(key, "two")
    f1 = await conn.send_event(first)
    got = await asyncio.wait_for(f1, 5)
    assert got == Ok(first.id, False, "invalid: no id here", repaired=True)
    relay.rule = ok_with_id
    f2 = await conn.send_event(second)
    assert await asyncio.wait_for(f2, 5) == Ok(second.id, True, "")
    assert relay.sockets == 2, "no fresh socket after the repaired OK"
    await conn.close()


async def test_closed_socket_resolves_waiting_sends(relay: TinyRelay) -> None:
    conn = await RelayConnection.open(relay.url, open_timeout=2)
    lost: list[str] = []
    conn.on_lost = lost.append
    relay.rule = lambda msg: []  # never answers
    future = await conn.send_event(make_event(random_key(), "lost"))
    await conn._ws.send(json.dumps(["BYE"]))  # the server closes the socket
    assert await asyncio.wait_for(future, 5) is None
    assert conn.closed and lost and lost[0].startswith("connection lost")
    with pytest.raises(ConnectionLostError):
        await conn.send_event(make_event(random_key(), "after"))
    await conn.close()


async def test_fetch_runs_until_eose_and_checks_events(relay: TinyRelay) -> None:
    conn = await RelayConnection.open(relay.url, open_timeout=2)
    events = [make_event(random_key(), f"q{i}") for i in range(3)]
    await asyncio.wait_for(asyncio.gather(*[await conn.send_event(e) for e in events]), 5)
    forged = dict(events[0].to_dict(), content="changed")  # its id no longer matches
    relay.stored.append(forged)
    got, ended = await conn.fetch([{"kinds": [1]}], 5)
    assert ended is None
    assert got == events
    assert conn.protocol.open_subscriptions == []
    await conn.close()


async def test_auth_answers_the_challenge_once_per_identity(relay: TinyRelay) -> None:
    conn = await RelayConnection.open(relay.url, open_timeout=2, wall_clock=lambda: 1_700_000_000.5)
    alice, bob = random_key("1"), random_key("2")
    for key in (alice, bob, alice):
        ok = await conn.authenticate(key, 5)
        assert ok is not None and ok.accepted
    assert [a.pubkey for a in relay.auths] == [alice.pubkey_hex, bob.pubkey_hex]
    for auth in relay.auths:
        assert verify_event(auth) and auth.kind == AUTH_KIND and auth.created_at == 1_700_000_000
        assert dict(auth.tags) == {"relay": relay.url, "challenge": "challenge-1"}
    assert conn.authenticated == {alice.pubkey_hex, bob.pubkey_hex}
    await conn.close()


async def test_auth_without_a_challenge_or_refused_is_not_remembered() -> None:
    """A relay that sends no challenge: nothing to answer (None); one that refuses: its OK, and the
    identity is not counted as authenticated."""
    refused: list[str] = []

    async def handler(ws: ServerConnection) -> None:
        async for raw in ws:
            msg = json.loads(raw)
            if msg[0] == "AUTH":
                refused.append(msg[1]["id"])
                await ws.send(json.dumps(["OK", msg[1]["id"], False, "restricted: not you"]))
            elif msg[0] == "HELLO":
                await ws.send(json.dumps(["AUTH", "late-challenge"]))

    async with serve(handler, "127.0.0.1", 0) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        conn = await RelayConnection.open(url, open_timeout=2)
        key = random_key()
        assert await conn.authenticate(key, 0.2) is None  # no challenge came
        assert refused == []
        await conn._ws.send(json.dumps(["HELLO"]))
        ok = await conn.authenticate(key, 5)
        assert ok is not None and not ok.accepted and ok.message == "restricted: not you"
        assert refused and conn.authenticated == set()
        await conn.close()
