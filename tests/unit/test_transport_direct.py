"""The transport's direct (pipelined) sends over a real local WebSocket server, with recv() driven the way
nostr-sdk drives it: OKs of direct sends resolve their futures and are not handed on; id-less OKs are
repaired onto the oldest waiting event; a closed socket resolves what still waits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

import nostr_sdk
import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from nostrweet.nostr.pipeline import event_frame
from nostrweet.nostr.transport import _Adapter
from tests.fakes.nostr_helpers import make_event, random_key

Rule = Callable[[list[object]], list[str]]


def ok_with_id(msg: list[object]) -> list[str]:
    event = msg[1]
    assert isinstance(event, dict)
    return [json.dumps(["OK", event["id"], True, ""])]


def ok_without_id(msg: list[object]) -> list[str]:
    return [json.dumps(["OK", "", False, "invalid: no id here"])]


@pytest.fixture
async def relay_url() -> AsyncIterator[tuple[str, list[Rule]]]:
    """A tiny relay: answers each EVENT by the first rule in the list (rules can be swapped mid-test)."""
    rules: list[Rule] = [ok_with_id]

    async def handler(ws: ServerConnection) -> None:
        async for raw in ws:
            msg = json.loads(raw)
            if msg[0] == "EVENT":
                for frame in rules[0](msg):
                    await ws.send(frame)
            elif msg[0] == "REQ":
                await ws.send(json.dumps(["EOSE", msg[1]]))
            elif msg[0] == "BYE":
                await ws.close()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}", rules


async def open_adapter(url: str) -> _Adapter:
    ws = await connect(url, open_timeout=2, close_timeout=1)
    return _Adapter(url, ws, 2.0)


def sdk_text(text: str) -> object:
    return nostr_sdk.WebSocketMessage.TEXT(text)


async def test_direct_oks_resolve_futures_and_are_not_handed_on(relay_url: tuple[str, list[Rule]]) -> None:
    url, _ = relay_url
    adapter = await open_adapter(url)
    reader = asyncio.create_task(adapter.recv())  # nostr-sdk's reader, waiting for a frame
    key = random_key()
    events = [make_event(key, f"d{i}") for i in range(5)]
    futures = [await adapter.send_event(e.id, event_frame(e)) for e in events]
    answers = await asyncio.wait_for(asyncio.gather(*futures), 2)
    assert answers == [(True, "")] * 5
    assert not reader.done(), "an OK of a direct send reached nostr-sdk"
    await adapter.send(sdk_text(json.dumps(["REQ", "s1", {}])))  # nostr-sdk's own traffic still flows
    frame = await asyncio.wait_for(reader, 2)
    assert json.loads(frame.text) == ["EOSE", "s1"]  # type: ignore[attr-defined]
    assert not any(adapter.waiting(e.id) for e in events)
    await adapter.close_connection()


async def test_event_sent_by_both_paths_gets_its_ok_to_both(relay_url: tuple[str, list[Rule]]) -> None:
    url, _ = relay_url
    adapter = await open_adapter(url)
    event = make_event(random_key(), "both")
    future = await adapter.send_event(event.id, event_frame(event))
    await adapter.send(sdk_text(event_frame(event)))
    frame = await asyncio.wait_for(adapter.recv(), 2)  # the first OK: resolves ours and goes on
    assert json.loads(frame.text)[1] == event.id  # type: ignore[attr-defined]
    assert future.done() and future.result() == (True, "")
    await adapter.close_connection()


async def test_id_less_ok_is_matched_to_the_oldest_direct_send(relay_url: tuple[str, list[Rule]]) -> None:
    url, rules = relay_url
    adapter = await open_adapter(url)
    rules[0] = ok_without_id
    reader = asyncio.create_task(adapter.recv())
    key = random_key()
    first, second = make_event(key, "one"), make_event(key, "two")
    f1 = await adapter.send_event(first.id, event_frame(first))
    assert await asyncio.wait_for(f1, 2) == (False, "invalid: no id here")
    rules[0] = ok_with_id  # the fresh connection the transport moves to after a repair answers normally
    f2 = await adapter.send_event(second.id, event_frame(second))
    assert await asyncio.wait_for(f2, 2) == (True, "")
    assert not reader.done()
    reader.cancel()
    await adapter.close_connection()


async def test_closed_socket_resolves_waiting_direct_sends(relay_url: tuple[str, list[Rule]]) -> None:
    url, rules = relay_url
    adapter = await open_adapter(url)
    rules[0] = lambda msg: []  # never answers
    future = await adapter.send_event("ab" * 32, event_frame(make_event(random_key(), "lost")))
    reader = asyncio.create_task(adapter.recv())
    await adapter._ws.send(json.dumps(["BYE"]))  # the server closes the socket
    assert await asyncio.wait_for(reader, 2) is None
    assert future.done() and future.result() is None
    assert adapter.closed
    with pytest.raises(Exception, match="closed"):
        await adapter.send_event("cd" * 32, "[]")
