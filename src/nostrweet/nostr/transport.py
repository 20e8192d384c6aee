"""The WebSocket transport under nostr-sdk's ``Client``: it repairs OKs that carry no event id.

Some relays (PyPI ``nostr-relay`` 1.14, whenever a validator or storage check fails) answer an EVENT with
``["OK", "", false, "invalid: ..."]``. nostr-sdk cannot parse an OK without an event id and drops it, so
the event waits the whole ``ok_timeout`` and the relay's reason is lost. The same relay also throttles the
connection after such an error (it sleeps 2 s, then 4, 8, ... before every later message), so the rest of
a pipelined batch crawls behind it.

This transport sits between nostr-sdk and the socket and sees every frame:

- it remembers, per connection and in send order, the EVENT ids still waiting for their OK;
- an OK whose id is empty or not a 64-hex id is given the oldest waiting id (a relay answers the messages
  of one connection in order), so nostr-sdk matches it and the relay's message reaches the caller;
- after such an OK it opens a fresh connection, sends the events still waiting (and the subscriptions
  still open) again on it and closes the penalised one; nostr-sdk does not notice. An event the old
  connection had already stored is then answered ``duplicate:``, which counts as accepted.

:func:`repair_ok` is the pure part (table-tested).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections import OrderedDict
from typing import Any

import nostr_sdk
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

log = logging.getLogger(__name__)

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


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


def repair_ok(frame: str, waiting: OrderedDict[str, None]) -> tuple[str, str | None, bool]:
    """Match an incoming frame against the EVENT ids waiting for an OK (oldest first); pure but for
    ``waiting``, from which the answered id is removed.

    Returns ``(frame, answered_id, repaired)``: the frame to hand to nostr-sdk (rewritten with the oldest
    waiting id when the relay's OK had an empty or malformed id), the id it answers (None for other
    frames) and whether it was rewritten.
    """
    if not frame.startswith('["OK"'):
        return frame, None, False
    try:
        msg = json.loads(frame)
    except ValueError:
        return frame, None, False
    if not isinstance(msg, list) or len(msg) < 3:
        return frame, None, False
    event_id = msg[1]
    if isinstance(event_id, str) and _HEX64.match(event_id):
        waiting.pop(event_id, None)
        return frame, event_id, False
    if not waiting:
        return frame, None, False
    oldest = next(iter(waiting))
    del waiting[oldest]
    message = msg[3] if len(msg) > 3 and isinstance(msg[3], str) else ""
    fixed = ["OK", oldest, bool(msg[2]), message or "error: the relay answered without an event id"]
    return json.dumps(fixed), oldest, True


def _generic(text: str) -> Exception:
    return nostr_sdk.NostrSdkError.Generic(text)  # type: ignore[no-any-return]


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

    def waiting(self, event_id: str) -> bool:
        """Whether this event was sent here and its OK has not come yet."""
        return event_id in self._waiting

    def _remember(self, frame: str) -> None:
        with contextlib.suppress(ValueError, LookupError, TypeError):
            msg = json.loads(frame)
            self.answers[msg[1]] = (bool(msg[2]), msg[3] if len(msg) > 3 else "")
            while len(self.answers) > self.max_tracked:
                self.answers.popitem(last=False)

    async def send(self, msg: Any) -> None:
        if not msg.is_text():
            return  # nostr-sdk only sends text; pings are handled by websockets itself
        text: str = msg.text
        event_id = _event_id_of(text)
        if event_id is not None:
            self._waiting[event_id] = None
            self._sent[event_id] = text
            while len(self._waiting) > self.max_tracked:  # the oldest never got its OK
                stale, _ = self._waiting.popitem(last=False)
                self._sent.pop(stale, None)
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
                return None
            self.last_seen = time.monotonic()
            if isinstance(data, bytes):
                return nostr_sdk.WebSocketMessage.BINARY(data)
            if data.startswith('["EOSE"') or data.startswith('["CLOSED"'):
                with contextlib.suppress(ValueError, LookupError, TypeError):
                    if data.startswith('["CLOSED"'):
                        self._subs.pop(str(json.loads(data)[1]), None)
            frame, answered, repaired = repair_ok(data, self._waiting)
            if answered is not None:
                self._sent.pop(answered, None)
                self._remember(frame)
            if repaired:
                log.info("relay %s answered an OK without event id; matched it to %s", self.url, answered)
                await self._reconnect()
            return nostr_sdk.WebSocketMessage.TEXT(frame)

    async def _reconnect(self) -> None:
        """Move to a fresh socket (shedding a per-connection penalty) and resend what is still open."""
        async with self._swap:
            try:
                fresh = await connect(
                    self.url, open_timeout=self.open_timeout, close_timeout=1, max_size=None
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
            ws = await connect(url, open_timeout=self.open_timeout, close_timeout=1, max_size=None)
        except Exception as exc:
            raise _generic(f"cannot connect to {url}: {exc}") from None
        adapter = _Adapter(url, ws, self.open_timeout, self.max_tracked)
        self.adapters[url.rstrip("/")] = adapter
        return nostr_sdk.WebSocketAdapterWrapper(adapter)
