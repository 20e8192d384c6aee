"""The pipelined send loop (nostr.pipeline) over a scripted connection: window, OK matching, one timeout.

No test here measures wall-clock time: a failure shows in the results (TIMEOUT where an answer was due)."""

from __future__ import annotations

import asyncio
import json
import time

from nostrweet.nostr.event import SignedEvent
from nostrweet.nostr.pipeline import LOST, TIMEOUT, send_pipelined
from nostrweet.nostr.protocol import ClientProtocol, Ok
from tests.fakes.nostr_helpers import make_event, random_key


class ScriptedConnection:
    """Records frames; answers each after ``delay`` by a rule, or never (``silent``), or drops."""

    def __init__(self, *, delay: float = 0.0, silent: bool = False, fail_after: int | None = None) -> None:
        self.clock = time.monotonic
        self.last_seen = 0.0
        self.delay = delay
        self.silent = silent
        self.fail_after = fail_after
        self.frames: list[str] = []
        self.futures: dict[str, asyncio.Future[Ok | None]] = {}
        self.forgotten: list[str] = []
        self.max_waiting = 0
        self.quick_acks = 0

    def answer_for(self, event: dict[str, object]) -> Ok:
        content = str(event["content"])
        if content.startswith("old"):
            return ok(str(event["id"]), False, "invalid: too old")
        return ok(str(event["id"]))

    async def send_event(self, event: SignedEvent) -> asyncio.Future[Ok | None]:
        event_id, frame = event.id, ClientProtocol().send_event(event)
        if self.fail_after is not None and len(self.frames) >= self.fail_after:
            await asyncio.sleep(0.05)  # the OKs of what went out before come in first
            raise ConnectionError("connection closed: gone")
        self.frames.append(frame)
        future: asyncio.Future[Ok | None] = asyncio.get_running_loop().create_future()
        self.futures[event_id] = future
        waiting = sum(1 for f in self.futures.values() if not f.done())
        self.max_waiting = max(self.max_waiting, waiting)
        if not self.silent:
            event = json.loads(frame)[1]
            asyncio.get_running_loop().call_later(self.delay, self._answer, future, self.answer_for(event))
        return future

    def _answer(self, future: asyncio.Future[Ok | None], ok: Ok) -> None:
        self.last_seen = self.clock()
        if not future.done():
            future.set_result(ok)

    def forget(self, event_id: str) -> None:
        self.forgotten.append(event_id)

    def quick_ack(self) -> None:
        self.quick_acks += 1


def ok(event_id: str, accepted: bool = True, message: str = "") -> Ok:
    return Ok(event_id, accepted, message)


def oks(batch: list[SignedEvent], accepted: bool = True, message: str = "") -> list[Ok]:
    return [ok(e.id, accepted, message) for e in batch]


def events(n: int, prefix: str = "e") -> list[SignedEvent]:
    key = random_key()
    return [make_event(key, f"{prefix}{i}") for i in range(n)]


async def test_every_event_gets_its_own_ok_in_order() -> None:
    batch = [*events(3, "old"), *events(5, "new")]
    conn = ScriptedConnection(delay=0.001)
    results = await send_pipelined(conn, batch, window=4, ok_timeout=2)
    assert results == oks(batch[:3], False, "invalid: too old") + oks(batch[3:])
    assert [json.loads(f)[1]["id"] for f in conn.frames] == [e.id for e in batch]
    assert conn.forgotten == []


async def test_window_bounds_events_awaiting_ok() -> None:
    conn = ScriptedConnection(delay=0.005)
    batch = events(100)
    results = await send_pipelined(conn, batch, window=10, ok_timeout=2)
    assert results == oks(batch)
    assert conn.max_waiting == 10  # refilled as each OK comes, never above the window
    assert conn.quick_acks >= 1  # asked once the last frame was out


async def test_silent_connection_costs_one_timeout_for_the_batch() -> None:
    conn = ScriptedConnection(silent=True)
    batch = events(30)
    results = await send_pipelined(conn, batch, window=8, ok_timeout=0.3)
    assert results == [TIMEOUT] * 30
    assert len(conn.frames) == 8  # the window filled, then nothing came back: the rest never went out
    assert sorted(conn.forgotten) == sorted(e.id for e in batch[:8])


async def test_slow_but_steady_connection_is_waited_for() -> None:
    """Each OK comes after 0.1 s; the whole batch takes longer than ok_timeout, yet nothing times out."""
    conn = ScriptedConnection()
    batch = events(6)

    async def trickle() -> None:
        for event in batch:  # all six are written at once (window 6), before the first answer
            await asyncio.sleep(0.1)
            conn._answer(conn.futures[event.id], ok(event.id))

    conn.silent = True
    task = asyncio.create_task(trickle())
    results = await send_pipelined(conn, batch, window=6, ok_timeout=0.25)
    await task
    assert results == oks(batch)


async def test_send_failure_answers_the_rest_with_its_reason() -> None:
    conn = ScriptedConnection(delay=0.001, fail_after=5)
    batch = events(12)
    results = await send_pipelined(conn, batch, window=64, ok_timeout=2)
    assert results[:5] == oks(batch[:5])
    assert results[5:] == ["connection closed: gone"] * 7


async def test_send_failure_does_not_wait_for_oks_that_cannot_come() -> None:
    conn = ScriptedConnection(silent=True, fail_after=3)
    # a long ok_timeout: waiting it out would answer TIMEOUT, not the failure
    results = await send_pipelined(conn, events(5), window=64, ok_timeout=30)
    assert results == ["connection closed: gone"] * 5


async def test_lost_connection_resolves_waiting_events() -> None:
    conn = ScriptedConnection(silent=True)
    batch = events(4)

    async def drop() -> None:
        await asyncio.sleep(0.05)
        for future in conn.futures.values():
            future.set_result(None)  # what the transport does when the socket closes

    task = asyncio.create_task(drop())
    results = await send_pipelined(conn, batch, window=8, ok_timeout=30)  # TIMEOUT if it waited
    await task
    assert results == [LOST] * 4
