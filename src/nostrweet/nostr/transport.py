"""The WebSocket transport under nostr-sdk's ``Client``: it repairs OKs that carry no event id.

Some relays (PyPI ``nostr-relay`` 1.14, whenever a validator or storage check fails) answer an EVENT with
``["OK", "", false, "invalid: ..."]``. nostr-sdk cannot parse an OK without an event id and drops it, so
the event waits the whole ``ok_timeout`` and the relay's reason is lost. The same relay also throttles the
connection after such an error (it sleeps 2 s, then 4, 8, ... before every later message), so the rest of
a pipelined batch crawls behind it.

This transport sits between nostr-sdk and the socket and sees every frame:

- it remembers, per connection and in send order, the EVENT ids still waiting for their OK;
- an OK that has no event id (``""``, null or no element) is given the oldest waiting id (a relay
  answers the messages of one connection in order), so nostr-sdk matches it and the relay's message
  reaches the caller. An OK whose id is there but is not 64 lower-case hex matches nothing: it is
  dropped, never handed to the oldest waiting event;
- only a JSON ``true`` accepts: an OK whose flag is not a JSON boolean (``"false"``) is rewritten as
  ``false`` with an ``error:`` message (:data:`~nostrweet.nostr.answers.MALFORMED_OK`), a failed
  send that is retried later, not a final rejection;
- after such an OK it opens a fresh connection, sends the events still waiting (and the subscriptions
  still open) again on it and closes the penalised one; nostr-sdk does not notice. An event the old
  connection had already stored is then answered ``duplicate:``, which counts as accepted.

Frames from a relay are bounded (:data:`MAX_FRAME_BYTES`): a larger one closes that connection.

It also carries the relay pool's pipelined publish path (:meth:`_Adapter.send_event`): EVENT frames
written straight on the connection, nostr-sdk bypassed, each with a future resolved by its OK (repaired or
not). Those OKs are answered here and not handed to nostr-sdk, which never sent those events.

:func:`repair_ok` is the pure part (table-tested).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from collections import OrderedDict
from typing import Any

import nostr_sdk
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from nostrweet.nostr.answers import read_ok

log = logging.getLogger(__name__)


def _event_id_of(frame: str) -> str | None:
    """The id of an outgoing ``["EVENT", {...}]`` frame, else None."""
    if not frame.startswith('["EVENT"'):
        return None
    try:
        msg = json.loads(frame)
        event_id = msg[1]["id"]
    except (ValueError, LookupError, TypeError):
        return None
    return event_id if isinstance(event_id, str) else None


def repair_ok(frame: str, waiting: OrderedDict[str, None]) -> tuple[str | None, str | None, bool]:
    """Match an incoming frame against the EVENT ids waiting for an OK (oldest first); pure but for
    ``waiting``, from which the answered id is removed.

    Returns ``(frame, answered_id, repaired)``: the frame to hand to nostr-sdk, the id it answers (None
    for other frames) and whether it was given an id. An OK is handed on with a JSON boolean flag
    (see :meth:`~nostrweet.nostr.answers.OkMessage.answer`); one without an id gets the oldest waiting
    id; one with an id that is not 64 lower-case hex is dropped (frame None). Other frames (and text
    that does not parse) pass unchanged.
    """
    if not frame.startswith('["OK"'):
        return frame, None, False
    try:
        msg = json.loads(frame)
    except ValueError:
        return frame, None, False
    ok = read_ok(msg)
    if ok is None:
        return None, None, False
    accepted, message = ok.answer()
    if ok.event_id is not None:
        waiting.pop(ok.event_id, None)
        if ok.accepted is None:
            return json.dumps(["OK", ok.event_id, accepted, message]), ok.event_id, False
        return frame, ok.event_id, False
    if not waiting:
        return None, None, False
    oldest = next(iter(waiting))
    del waiting[oldest]
    fixed = ["OK", oldest, accepted, message or "error: the relay answered without an event id"]
    return json.dumps(fixed), oldest, True


def _generic(text: str) -> Exception:
    return nostr_sdk.NostrSdkError.Generic(text)  # type: ignore[no-any-return]


MAX_FRAME_BYTES = 1 << 20
"""The largest frame read from a relay (1 MiB; real events are a few KiB, relays cap them well below
this). A bigger frame closes that connection (close code 1009) before its payload is read, so a
hostile relay cannot make us buffer megabytes; the relay is then down and retried later."""

MAX_TRACKED = 1024
"""Per connection: recent OK answers kept, and EVENTs / subscriptions awaiting their answer. Beyond it
the oldest are forgotten (an EVENT that never got its OK, a REQ never closed), so a connection that
lives for months keeps a flat amount of memory."""


class _Adapter(nostr_sdk.WebSocketAdapter):  # type: ignore[misc]
    """One logical connection to a relay, possibly carried over several sockets in turn."""

    def __init__(
        self, url: str, ws: ClientConnection, open_timeout: float, max_tracked: int = MAX_TRACKED
    ) -> None:
        self.url = url
        self.open_timeout = open_timeout
        self.max_tracked = max(1, max_tracked)
        self._ws = ws
        self._waiting: OrderedDict[str, None] = OrderedDict()
        self._sent: dict[str, str] = {}  # event id → its EVENT frame, while waiting
        self._subs: dict[str, str] = {}  # subscription id → its REQ frame, while open
        self._swap = asyncio.Lock()
        self.last_seen = time.monotonic()
        self.answers: OrderedDict[str, tuple[bool, str]] = OrderedDict()  # recent OKs, by event id
        # Pipelined publish path: event id → the future its OK resolves (None: the connection was lost).
        self._direct: dict[str, asyncio.Future[tuple[bool, str] | None]] = {}
        self._shared: set[str] = set()  # direct ids nostr-sdk also sent: their OK goes to it too
        self.closed = False

    def waiting(self, event_id: str) -> bool:
        """Whether this event was sent here and its OK has not come yet."""
        return event_id in self._waiting

    def _remember(self, frame: str) -> None:
        with contextlib.suppress(ValueError):
            ok = read_ok(json.loads(frame))
            if ok is None or ok.event_id is None:
                return
            self.answers[ok.event_id] = ok.answer()
            while len(self.answers) > self.max_tracked:
                self.answers.popitem(last=False)

    def _track(self, event_id: str, frame: str) -> None:
        self._waiting[event_id] = None
        self._sent[event_id] = frame
        while len(self._waiting) > self.max_tracked:  # the oldest never got its OK
            stale, _ = self._waiting.popitem(last=False)
            self._sent.pop(stale, None)

    async def send_event(self, event_id: str, frame: str) -> asyncio.Future[tuple[bool, str] | None]:
        """Write an EVENT frame on the connection ourselves; the future gets ``(accepted, message)``
        from its OK, or None if the connection is lost first. Raises if the socket is closed."""
        if self.closed:
            raise _generic("connection closed")
        future = self._direct.get(event_id)
        if future is None or future.done():
            future = asyncio.get_running_loop().create_future()
            self._direct[event_id] = future
        self._track(event_id, frame)
        try:
            await self._ws.send(frame)
        except ConnectionClosed as exc:
            self._direct.pop(event_id, None)
            raise _generic(f"connection closed: {exc}") from None
        return future

    def quick_ack(self) -> None:
        """Ask the kernel to acknowledge what comes next at once (Linux ``TCP_QUICKACK``; else nothing).

        Once the last EVENT of a batch is out, nothing carries our ACK back, and a relay without
        ``TCP_NODELAY`` holds its remaining OKs until the delayed ACK comes (~40 ms).
        """
        quickack = getattr(socket, "TCP_QUICKACK", None)
        sock = self._ws.transport.get_extra_info("socket") if self._ws.transport else None
        if quickack is not None and sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)

    def forget(self, event_id: str) -> None:
        """Stop waiting for a direct send's OK (its caller gave up)."""
        self._direct.pop(event_id, None)
        self._shared.discard(event_id)

    def _lost(self) -> None:
        """The connection is gone: every direct send still waiting learns it now, not at a timeout."""
        self.closed = True
        direct, self._direct = self._direct, {}
        self._shared.clear()
        for future in direct.values():
            if not future.done():
                future.set_result(None)

    async def send(self, msg: Any) -> None:
        if not msg.is_text():
            return  # nostr-sdk only sends text; pings are handled by websockets itself
        text: str = msg.text
        event_id = _event_id_of(text)
        if event_id is not None:
            self._track(event_id, text)
            if event_id in self._direct:
                self._shared.add(event_id)
        elif text.startswith('["REQ"') or text.startswith('["CLOSE"'):
            with contextlib.suppress(ValueError, LookupError, TypeError):
                sub = str(json.loads(text)[1])
                if text.startswith('["REQ"'):
                    self._subs[sub] = text
                    while len(self._subs) > self.max_tracked:
                        self._subs.pop(next(iter(self._subs)))
                else:
                    self._subs.pop(sub, None)
        try:
            await self._ws.send(text)
        except ConnectionClosed as exc:
            raise _generic(f"connection closed: {exc}") from None

    async def recv(self) -> Any:
        while True:
            ws = self._ws
            try:
                data = await ws.recv()
            except ConnectionClosed:
                if ws is not self._ws:
                    continue  # the socket we replaced on purpose; read from the new one
                self._lost()
                return None
            self.last_seen = time.monotonic()
            if isinstance(data, bytes):
                return nostr_sdk.WebSocketMessage.BINARY(data)
            if data.startswith('["EOSE"') or data.startswith('["CLOSED"'):
                with contextlib.suppress(ValueError, LookupError, TypeError):
                    if data.startswith('["CLOSED"'):
                        self._subs.pop(str(json.loads(data)[1]), None)
            frame, answered, repaired = repair_ok(data, self._waiting)
            if frame is None:
                log.debug("relay %s: ignoring an OK that names no event of ours: %.200r", self.url, data)
                continue
            direct = False
            if answered is not None:
                self._sent.pop(answered, None)
                self._remember(frame)
                direct = self._answer_direct(answered)
            if repaired:
                log.info("relay %s answered an OK without event id; matched it to %s", self.url, answered)
                await self._reconnect()
            if direct:
                continue  # nostr-sdk did not send this event: the OK is ours alone
            return nostr_sdk.WebSocketMessage.TEXT(frame)

    def _answer_direct(self, event_id: str) -> bool:
        """Resolve a direct send's future with its OK; True if nostr-sdk does not wait for it."""
        future = self._direct.pop(event_id, None)
        if future is None:
            return False
        if not future.done():
            future.set_result(self.answers.get(event_id, (False, "")))
        if event_id in self._shared:
            self._shared.discard(event_id)
            return False
        return True

    async def _reconnect(self) -> None:
        """Move to a fresh socket (shedding a per-connection penalty) and resend what is still open."""
        async with self._swap:
            try:
                fresh = await connect(
                    self.url, open_timeout=self.open_timeout, close_timeout=1, max_size=MAX_FRAME_BYTES
                )
            except Exception as exc:  # keep the old socket: slow is better than lost
                log.info("relay %s: could not open a fresh connection (%s)", self.url, exc)
                return
            old, self._ws = self._ws, fresh
            for frame in list(self._subs.values()) + list(self._sent.values()):
                with contextlib.suppress(ConnectionClosed):
                    await fresh.send(frame)
            task = asyncio.create_task(old.close())
            _closing.add(task)
            task.add_done_callback(_closing.discard)

    async def close_connection(self) -> None:
        self._lost()
        with contextlib.suppress(Exception):
            await self._ws.close()


_closing: set[asyncio.Task[None]] = set()


class RepairingTransport(nostr_sdk.CustomWebSocketTransport):  # type: ignore[misc]
    """A nostr-sdk WebSocket transport (python ``websockets``) that repairs id-less OKs; see the module."""

    def __init__(self, open_timeout: float = 5.0, max_tracked: int = MAX_TRACKED) -> None:
        self.open_timeout = open_timeout
        self.max_tracked = max_tracked
        self.adapters: dict[str, _Adapter] = {}  # relay URL → its current connection

    def adapter(self, url: str) -> _Adapter | None:
        """The current connection to a relay (URL with or without a trailing slash)."""
        return self.adapters.get(url.rstrip("/"))

    def support_ping(self) -> bool:
        return False

    async def connect(self, url: str, proxy: Any) -> Any:
        try:
            ws = await connect(url, open_timeout=self.open_timeout, close_timeout=1, max_size=MAX_FRAME_BYTES)
        except Exception as exc:
            raise _generic(f"cannot connect to {url}: {exc}") from None
        adapter = _Adapter(url, ws, self.open_timeout, self.max_tracked)
        self.adapters[url.rstrip("/")] = adapter
        return nostr_sdk.WebSocketAdapterWrapper(adapter)
