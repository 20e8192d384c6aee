"""Pipelined publishing on one relay connection: EVENT frames written back to back, OKs matched by id.

nostr-sdk's ``Client.send_event`` costs ~2 ms of CPU per event (its future is polled from Python), and
more sends in flight make each one dearer. For a batch the relay pool writes the frames itself through
our transport (:meth:`~nostrweet.nostr.transport._Adapter.send_event`), keeping up to ``window`` events
awaiting their OK, the way a bare client pipelines them. The transport resolves each event's future from
its OK (repairing id-less ones) and drops it when the connection is lost.

A relay that stays silent for ``ok_timeout`` while events wait costs that one timeout for the whole batch:
every event still waiting is then reported with the same failure, and the relay is marked down once
(:func:`publish_to_relay`, which also turns OKs into :class:`RelayAnswer` and retries ``rate-limited:``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Protocol

from nostrweet.nostr.answers import RelayAnswer, classify_ok
from nostrweet.nostr.event import SignedEvent
from nostrweet.nostr.missing_ok import MarkDown
from nostrweet.nostr.relay_state import RelayState

Ok = tuple[bool, str]
Result = Ok | str
"""Per event: ``(accepted, message)`` from the relay's OK, or the reason no OK came (a failure text)."""

LOST = "connection lost"
TIMEOUT = "timeout"


class DirectConnection(Protocol):
    """What the pipeline needs from a relay connection (the transport's adapter)."""

    last_seen: float

    async def send_event(self, event_id: str, frame: str) -> asyncio.Future[Ok | None]: ...

    def forget(self, event_id: str) -> None: ...

    def quick_ack(self) -> None: ...


def event_frame(event: SignedEvent) -> str:
    """The NIP-01 ``["EVENT", <event>]`` frame of an event."""
    return f'["EVENT",{event.to_json()}]'


async def send_pipelined(
    conn: DirectConnection, events: Sequence[SignedEvent], *, window: int, ok_timeout: float
) -> list[Result]:
    """Send every event on ``conn`` with at most ``window`` awaiting their OK; one result per event.

    Waiting stops when every event has its OK, when the connection is lost, or when the connection has
    been silent for ``ok_timeout`` (no frame received since the later of its last frame and the start of
    the batch): the events still waiting then get :data:`TIMEOUT` or the loss's reason.
    """
    window = max(1, window)
    results: list[Result | None] = [None] * len(events)
    waiting: dict[int, tuple[str, asyncio.Future[Ok | None]]] = {}  # index → id, future: no OK yet
    wake = asyncio.Event()
    started = time.monotonic()
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
            quiet = time.monotonic() - max(conn.last_seen, started)
            if quiet >= ok_timeout:
                return TIMEOUT
            if limit == 0:
                conn.quick_ack()  # nothing more to send: our ACK must not wait (see the transport)
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
            future = await conn.send_event(event.id, event_frame(event))
        except Exception as exc:
            failure = str(exc) or LOST
            break
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


async def publish_to_relay(
    relay: RelayState,
    events: Sequence[SignedEvent],
    *,
    connection: Callable[[RelayState], DirectConnection | None],
    mark_down: MarkDown,
    window: int,
    ok_timeout: float,
    retries: int,
    backoff: float,
) -> list[RelayAnswer]:
    """Pipeline ``events`` to one relay; one answer per event (not counted).

    ``rate-limited:`` answers are sent again up to ``retries`` times after ``backoff`` × 2^attempt s.
    No OK (silence, lost connection) → ``pending`` with the reason, and ``mark_down`` once.
    ``connection`` gives the relay's live connection, or None (then every event is ``pending``).
    """
    answers = await _publish_once(relay, events, connection, mark_down, window, ok_timeout)
    for attempt in range(retries):
        limited = [k for k, a in enumerate(answers) if a.outcome == "rate_limited"]
        if not limited:
            break
        await asyncio.sleep(backoff * 2**attempt)
        again = await _publish_once(
            relay, [events[k] for k in limited], connection, mark_down, window, ok_timeout
        )
        for k, answer in zip(limited, again, strict=True):
            answers[k] = answer
    return answers


async def _publish_once(
    relay: RelayState,
    events: Sequence[SignedEvent],
    connection: Callable[[RelayState], DirectConnection | None],
    mark_down: MarkDown,
    window: int,
    ok_timeout: float,
) -> list[RelayAnswer]:
    url = relay.url
    conn = connection(relay)
    if conn is None:
        reason = relay.last_error or "relay not connected"
        return [RelayAnswer(url, "pending", reason) for _ in events]
    results = await send_pipelined(conn, events, window=window, ok_timeout=ok_timeout)
    answers: list[RelayAnswer] = []
    failure: str | None = None
    for result in results:
        if isinstance(result, str):
            failure = failure or result
            answers.append(RelayAnswer(url, "pending", result))
        else:
            answers.append(RelayAnswer(url, classify_ok(*result), result[1]))
    if failure is not None:
        mark_down(relay, failure)  # once per batch: a dead relay costs one timeout
    return answers
