"""Pipelined publishing on one relay connection: EVENT frames written back to back, OKs matched by id.

The relay pool sends every batch this way, the way a bare client pipelines: up to ``window`` events
awaiting their OK at once, the next one written as soon as an OK comes. The connection resolves each
event's future from its OK (repaired by the protocol core when the relay sent no id) and with None when
the socket is lost.

A relay that stays silent for ``ok_timeout`` while events wait costs that one timeout for the whole
batch: every event still waiting is then reported with the same failure text.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from functools import partial
from typing import Protocol

from nostrweet.nostr.event import SignedEvent
from nostrweet.nostr.protocol import Ok

Result = Ok | str
"""Per event: the relay's OK, or the reason no OK came (a failure text)."""

LOST = "connection lost"
TIMEOUT = "timeout"


class EventConnection(Protocol):
    """What the pipeline needs from a relay connection (:class:`~nostrweet.nostr.connection.RelayConnection`)."""

    last_seen: float
    clock: Callable[[], float]

    async def send_event(self, event: SignedEvent) -> asyncio.Future[Ok | None]: ...

    def forget(self, event_id: str) -> None: ...

    def quick_ack(self) -> None: ...


async def send_pipelined(
    conn: EventConnection, events: Sequence[SignedEvent], *, window: int, ok_timeout: float
) -> list[Result]:
    """Send every event on ``conn`` with at most ``window`` awaiting their OK; one result per event.

    Waiting stops when every event has its OK, when the connection is lost, or when the connection has
    been silent for ``ok_timeout`` (no frame received since the later of its last frame and the start of
    the batch, on the connection's clock): the events still waiting then get :data:`TIMEOUT` or the
    loss's reason.
    """
    window = max(1, window)
    results: list[Result | None] = [None] * len(events)
    waiting: dict[int, tuple[str, asyncio.Future[Ok | None]]] = {}  # index → id, future: no OK yet
    wake = asyncio.Event()
    started = conn.clock()
    failure: str | None = None

    def done(index: int, future: asyncio.Future[Ok | None]) -> None:
        if waiting.pop(index, None) is None:
            return
        answer = None if future.cancelled() else future.result()
        results[index] = answer if answer is not None else LOST
        wake.set()

    async def drain(limit: int) -> str | None:
        """Wait until at most ``limit`` events wait; the failure text if the connection went quiet."""
        while len(waiting) > limit:
            quiet = conn.clock() - max(conn.last_seen, started)
            if quiet >= ok_timeout:
                return TIMEOUT
            if limit == 0:
                conn.quick_ack()  # nothing more to send: our ACK must not wait
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), ok_timeout - quiet)
        return None

    for index, event in enumerate(events):
        if len(waiting) >= window:
            # Refill as soon as one OK comes, as a bare client does: waiting for several (in bursts)
            # stalls ~40 ms per burst on relays that do not set TCP_NODELAY (their later OKs wait for
            # our delayed ACK, which a new EVENT frame carries at once).
            failure = await drain(window - 1)
            if failure is not None:
                break
        try:
            future = await conn.send_event(event)
        except Exception as exc:
            failure = str(exc) or LOST
            break
        if future.done():
            results[index] = future.result() or LOST
            continue
        waiting[index] = (event.id, future)
        future.add_done_callback(partial(done, index))
    if failure is None:
        failure = await drain(0)
    for index, (event_id, future) in list(waiting.items()):
        answer = future.result() if future.done() and not future.cancelled() else None
        if answer is None:
            conn.forget(event_id)
        results[index] = answer if answer is not None else (failure or LOST)
    waiting.clear()
    return [r if r is not None else (failure or LOST) for r in results]
