"""One asyncio WebSocket connection to a relay (``websockets``), feeding the sans-I/O core.

Everything NIP-01 is decided by :class:`~nostrweet.nostr.protocol.ClientProtocol`; this module only
moves frames: it opens the socket (``open_timeout``; ``websockets`` pings it to keep it alive), writes
the frames the core gives, and one reader task feeds every frame that comes back to the core and
hands the typed messages on:

- an :class:`~nostrweet.nostr.protocol.Ok` resolves the future of its EVENT (or AUTH);
- subscription messages go to the :meth:`RelayConnection.fetch` that opened it;
- an ``AUTH`` challenge is kept for :meth:`RelayConnection.authenticate`;
- a repaired OK (the relay sent no event id, PyPI ``nostr-relay``) moves the connection to a fresh
  socket with what is still open sent again on it: that relay throttles a connection after a
  rejection (2 s, 4, 8 … before each later message). An event the old socket had stored is then
  answered ``duplicate:``, which counts as accepted;
- when the socket is lost, every send still waiting learns it at once (its future gets None).

A frame larger than ``max_frame_bytes`` closes the connection (1009) before its payload is read.

:func:`fetch_limits` reads the relay's NIP-11 document over HTTP (``http.client`` on a worker thread),
once per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import logging
import secrets
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from nostrweet.nostr.auth import auth_event
from nostrweet.nostr.event import SignedEvent
from nostrweet.nostr.keys import MirrorKey
from nostrweet.nostr.nip11 import ACCEPT, MAX_DOCUMENT_BYTES, RelayLimits, document_url, read_limits
from nostrweet.nostr.protocol import (
    MAX_FRAME_BYTES,
    MAX_TRACKED,
    Auth,
    ClientProtocol,
    Closed,
    Eose,
    Event,
    Notice,
    Ok,
    ProtocolError,
    RelayMessage,
)

log = logging.getLogger(__name__)

Clock = Callable[[], float]


class ConnectionLostError(ConnectionError):
    """The relay's socket is closed: nothing more can be sent on this connection."""


async def _open_socket(url: str, open_timeout: float, max_frame_bytes: int) -> ClientConnection:
    return await connect(
        url,
        open_timeout=open_timeout,
        close_timeout=1,
        max_size=max_frame_bytes,
        compression=None,
    )


def _read_document(url: str, timeout: float) -> bytes | None:
    """GET the NIP-11 document (blocking; at most ``timeout`` per socket operation): the body, or None
    when the answer is not 200 or longer than MAX_DOCUMENT_BYTES."""
    parts = urlsplit(url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = kind(parts.hostname or "", parts.port, timeout=timeout)
    try:
        conn.request(
            "GET", urlunsplit(("", "", parts.path or "/", parts.query, "")), headers={"Accept": ACCEPT}
        )
        response = conn.getresponse()
        if response.status != 200:
            return None
        body = response.read(MAX_DOCUMENT_BYTES + 1)
        return body if len(body) <= MAX_DOCUMENT_BYTES else None
    finally:
        conn.close()


async def fetch_limits(url: str, timeout: float) -> RelayLimits:  # noqa: ASYNC109
    """The relay's NIP-11 ``limitation``; no limits when it serves no readable document in time.

    The standard library's ``http.client`` on a worker thread: one small GET per connection does not
    need an HTTP client library, whose import would cost a short command more than the request.
    """
    try:
        body = await asyncio.wait_for(asyncio.to_thread(_read_document, document_url(url), timeout), timeout)
        return read_limits(json.loads(body)) if body is not None else RelayLimits()
    except (http.client.HTTPException, ValueError, OSError):  # TimeoutError is an OSError
        return RelayLimits()


class RelayConnection:
    """A live connection to one relay; open it with :meth:`open`."""

    def __init__(
        self,
        url: str,
        ws: ClientConnection,
        *,
        open_timeout: float = 5.0,
        max_frame_bytes: int = MAX_FRAME_BYTES,
        max_tracked: int = MAX_TRACKED,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
    ) -> None:
        self.url = url
        self.open_timeout = open_timeout
        self.max_frame_bytes = max_frame_bytes
        self.clock = clock
        self.wall_clock = wall_clock
        self.protocol = ClientProtocol(max_frame_bytes=max_frame_bytes, max_tracked=max_tracked)
        self.last_seen = clock()
        """When the last frame came (on ``clock``): a relay that answers slowly is not dead."""
        self.closed = False
        self.close_reason = ""
        self.challenge: str | None = None
        self.authenticated: set[str] = set()
        """The pubkeys that answered this socket's AUTH challenge."""
        self.on_lost: Callable[[str], None] | None = None
        self.on_ok_latency: Callable[[str, float], None] | None = None
        """Told (relay URL, seconds) for each OK, from its EVENT frame's send (metrics)."""
        self._ws = ws
        self._futures: dict[str, asyncio.Future[Ok | None]] = {}
        self._sent_at: dict[str, float] = {}  # event id -> when its EVENT frame went (as _futures)
        self._subscriptions: dict[str, asyncio.Queue[RelayMessage | None]] = {}
        self._challenged = asyncio.Event()
        self._background: set[asyncio.Task[None]] = set()
        self._reader = asyncio.create_task(self._read(), name=f"relay-reader {url}")

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        open_timeout: float = 5.0,
        max_frame_bytes: int = MAX_FRAME_BYTES,
        max_tracked: int = MAX_TRACKED,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
    ) -> RelayConnection:
        """Connect (at most ``open_timeout``); OSError, TimeoutError or a websockets error otherwise."""
        ws = await _open_socket(url, open_timeout, max_frame_bytes)
        return cls(
            url,
            ws,
            open_timeout=open_timeout,
            max_frame_bytes=max_frame_bytes,
            max_tracked=max_tracked,
            clock=clock,
            wall_clock=wall_clock,
        )

    # --- sending ----------------------------------------------------------------------------------

    async def _send(self, frame: str) -> None:
        if self.closed:
            raise ConnectionLostError(self.close_reason or "connection closed")
        try:
            await self._ws.send(frame)
        except ConnectionClosed as exc:
            raise ConnectionLostError(f"connection closed: {exc}") from None

    def _future(self, event_id: str) -> asyncio.Future[Ok | None]:
        future = self._futures.get(event_id)
        if future is None or future.done():
            future = asyncio.get_running_loop().create_future()
            self._futures[event_id] = future
            self._sent_at[event_id] = self.clock()
        return future

    async def send_event(self, event: SignedEvent) -> asyncio.Future[Ok | None]:
        """Write the EVENT frame; the future gets its :class:`Ok`, or None if the socket is lost
        first. Raises :class:`ConnectionLostError` if it is closed already."""
        future = self._future(event.id)
        try:
            await self._send(self.protocol.send_event(event))
        except ConnectionLostError:
            self.forget(event.id)
            raise
        return future

    def forget(self, event_id: str) -> None:
        """Stop waiting for an event's OK (its sender gave up)."""
        self._futures.pop(event_id, None)
        self._sent_at.pop(event_id, None)
        self.protocol.forget(event_id)

    def quick_ack(self) -> None:
        """Ask the kernel to acknowledge what comes next at once (Linux ``TCP_QUICKACK``; else nothing).

        Once the last EVENT of a batch is out, nothing carries our ACK back, and a relay without
        ``TCP_NODELAY`` holds its remaining OKs until the delayed ACK comes (~40 ms).
        """
        quickack = getattr(socket, "TCP_QUICKACK", None)
        transport = self._ws.transport
        sock = transport.get_extra_info("socket") if transport is not None else None
        if quickack is not None and sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)

    async def authenticate(self, key: MirrorKey, timeout: float) -> Ok | None:  # noqa: ASYNC109
        """Answer this socket's AUTH challenge as ``key`` (NIP-42); the relay's OK, or None when no
        challenge or no answer came within ``timeout`` s. Each identity authenticates once per socket."""
        if key.pubkey_hex in self.authenticated:
            return Ok("", True, "")
        if self.challenge is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._challenged.wait(), timeout)
        if self.challenge is None or self.closed:
            return None
        event = auth_event(key, self.url, self.challenge, int(self.wall_clock()))
        future = self._future(event.id)
        try:
            await self._send(self.protocol.auth(event))
            ok = await asyncio.wait_for(future, timeout)
        except (ConnectionLostError, TimeoutError):
            self.forget(event.id)
            return None
        if ok is not None and ok.accepted:
            self.authenticated.add(key.pubkey_hex)
        return ok

    async def fetch(
        self,
        filters: Sequence[Mapping[str, Any]],
        timeout: float,  # noqa: ASYNC109
    ) -> tuple[list[SignedEvent], str | None]:
        """REQ until EOSE: the events, and why it ended early (``CLOSED`` message, lost, timeout) or None."""
        sub = secrets.token_hex(8)
        queue: asyncio.Queue[RelayMessage | None] = asyncio.Queue()
        self._subscriptions[sub] = queue
        events: list[SignedEvent] = []
        ended: str | None = None
        try:
            await self._send(self.protocol.req(sub, filters))
            async with asyncio.timeout(timeout):
                while True:
                    msg = await queue.get()
                    if isinstance(msg, Event):
                        events.append(msg.event)
                    elif isinstance(msg, Eose):
                        break
                    elif isinstance(msg, Closed):
                        ended = msg.message or "closed by the relay"
                        break
                    else:
                        ended = self.close_reason or "connection lost"
                        break
        except ConnectionLostError as exc:
            ended = str(exc)
        except TimeoutError:
            ended = "timeout"
        finally:
            self._subscriptions.pop(sub, None)
            if sub in self.protocol.open_subscriptions and not self.closed:
                with contextlib.suppress(ConnectionLostError):
                    await self._send(self.protocol.close(sub))
        return events, ended

    # --- receiving --------------------------------------------------------------------------------

    async def _read(self) -> None:
        while True:
            ws = self._ws
            try:
                data = await ws.recv()
            except ConnectionClosed as exc:
                if ws is not self._ws:
                    continue  # the socket we replaced on purpose; read from the new one
                self._lost(f"connection lost: {exc}")
                return
            except Exception as exc:  # never leave the connection half alive
                self._lost(f"connection failed: {exc.__class__.__name__}")
                return
            self.last_seen = self.clock()
            msg = self.protocol.receive(data)
            self._dispatch(msg)
            if isinstance(msg, Ok) and msg.repaired:
                log.info("relay %s answered an OK without event id; matched it to %s", self.url, msg.event_id)
                await self._fresh_socket()

    def _dispatch(self, msg: RelayMessage) -> None:
        if isinstance(msg, Ok):
            future = self._futures.pop(msg.event_id, None)
            sent = self._sent_at.pop(msg.event_id, None)
            if sent is not None and self.on_ok_latency is not None:
                self.on_ok_latency(self.url, max(0.0, self.clock() - sent))
            if future is not None and not future.done():
                future.set_result(msg)
        elif isinstance(msg, Event | Eose | Closed):
            queue = self._subscriptions.get(msg.subscription)
            if queue is not None:
                queue.put_nowait(msg)
        elif isinstance(msg, Auth):
            self.challenge = msg.challenge
            self.authenticated.clear()
            self._challenged.set()
        elif isinstance(msg, Notice):
            log.info("relay %s says: %.300s", self.url, msg.message)
        elif isinstance(msg, ProtocolError):
            log.debug("relay %s: ignoring a frame: %s", self.url, msg.reason)

    async def _fresh_socket(self) -> None:
        """Move to a fresh socket (shedding a per-connection penalty) and resend what is still open."""
        try:
            fresh = await _open_socket(self.url, self.open_timeout, self.max_frame_bytes)
        except Exception as exc:  # keep the old socket: slow is better than lost
            log.info("relay %s: could not open a fresh connection (%s)", self.url, exc)
            return
        old, self._ws = self._ws, fresh
        self.challenge = None
        self.authenticated.clear()
        self._challenged.clear()
        for frame in self.protocol.resend_frames():
            with contextlib.suppress(ConnectionClosed):
                await fresh.send(frame)
        task = asyncio.create_task(old.close())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _lost(self, reason: str) -> None:
        """The socket is gone: every send still waiting, and every fetch, learns it now."""
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        futures, self._futures = self._futures, {}
        self._sent_at.clear()
        for future in futures.values():
            if not future.done():
                future.set_result(None)
        for queue in self._subscriptions.values():
            queue.put_nowait(None)
        self._challenged.set()
        if self.on_lost is not None:
            self.on_lost(reason)

    async def close(self) -> None:
        """Close the socket and stop reading."""
        self.on_lost = None
        self._lost("closed")
        self._reader.cancel()
        with contextlib.suppress(BaseException):
            await self._reader
        with contextlib.suppress(Exception):
            await self._ws.close()
        for task in list(self._background):
            with contextlib.suppress(BaseException):
                await task
