"""Relay pool: one connection per relay, one send path, one retry policy (SPEC §4, "Relay answers").

Built on our own stack: the NIP-01 core (:mod:`~nostrweet.nostr.protocol`, pure), one asyncio
connection per relay (:mod:`~nostrweet.nostr.connection`) and NIP-42 AUTH (:mod:`~nostrweet.nostr.auth`).
The pool owns the connections and their health; what it guarantees:

- one :class:`RelayAnswer` per relay and event, classified from the NIP-01 ``OK`` message
  (:func:`classify_ok`, pure); ``duplicate:`` counts as accepted;
- one send path: every event, alone or in a batch, goes to each relay as that relay's share, sent by
  :mod:`~nostrweet.nostr.sending` (pipelined, NIP-11 refusals, NIP-42 AUTH, the one ``rate-limited:``
  retry policy);
- a dead relay costs one timeout, not one per event: a relay whose connection is lost, or that stays
  silent for ``ok_timeout`` while events wait, is marked down and answered ``pending`` at once until
  the background monitor has reconnected it (backoff up to ``max_retry_interval``);
- queries: REQ until EOSE on each relay asked, events checked and deduplicated (the duplicate check);
- a relay's NIP-11 document is read with each connection (:mod:`~nostrweet.nostr.nip11`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from nostrweet.errors import InputError, OperationalError
from nostrweet.nostr.answers import Outcome, QueryFilter, RelayAnswer, RelayStatus, classify_ok
from nostrweet.nostr.connection import RelayConnection, fetch_limits
from nostrweet.nostr.event import SignedEvent
from nostrweet.nostr.keys import MirrorKey
from nostrweet.nostr.nip11 import RelayLimits
from nostrweet.nostr.protocol import MAX_FRAME_BYTES, MAX_TRACKED
from nostrweet.nostr.relay_state import RelayState
from nostrweet.nostr.sending import RelaySender, SendPolicy

log = logging.getLogger(__name__)

__all__ = [
    "Outcome",
    "QueryFilter",
    "RelayAnswer",
    "RelayPool",
    "RelayStatus",
    "RelayUnavailableError",
    "classify_ok",
]

MONITOR_INTERVAL = 0.2
"""How often the monitor looks for down relays whose reconnect time has come (s)."""


class RelayUnavailableError(OperationalError):
    """None of the relays asked could be reached."""


def check_relay_url(url: str) -> str:
    """A relay URL as given, if it is ws:// or wss:// with a host; InputError otherwise."""
    try:
        parts = urlsplit(url)
        ok = parts.scheme.lower() in ("ws", "wss") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a port out of range, brackets that do not close
        ok = False
    if not ok or not url.isprintable() or any(c.isspace() for c in url):
        raise InputError(f"invalid relay URL {url!r}: use ws:// or wss://")
    return url


class RelayPool:
    """Publish to and read from a set of relays; see the module docstring for what it guarantees."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        ok_timeout: float = 10.0,
        connect_timeout: float = 5.0,
        max_retry_interval: float = 30.0,
        rate_limit_retries: int = 2,
        rate_limit_backoff: float = 1.0,
        max_tracked: int = MAX_TRACKED,
        max_frame_bytes: int = MAX_FRAME_BYTES,
        pipeline_window: int = 256,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.ok_timeout = ok_timeout
        self.connect_timeout = connect_timeout
        self.max_retry_interval = max_retry_interval
        self.rate_limit_retries = rate_limit_retries
        self.rate_limit_backoff = rate_limit_backoff
        self.max_tracked = max_tracked
        self.max_frame_bytes = max_frame_bytes
        self.pipeline_window = max(1, min(pipeline_window, max_tracked // 2))
        self.clock = clock
        self.wall_clock = wall_clock
        self.sleep = sleep
        self.on_ok_latency: Callable[[str, float], None] | None = None
        """Told (relay URL, seconds from EVENT to OK) for every OK (the daemon's metrics)."""
        self._relays: dict[str, RelayState] = {}
        self._order: list[str] = []
        self._conns: dict[str, RelayConnection] = {}
        self._limits: dict[str, RelayLimits] = {}
        for url in urls:
            self._register(url)
        self._started = False
        self._closed = False
        self._monitor_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._sender = RelaySender(
            SendPolicy(
                ok_timeout=ok_timeout,
                pipeline_window=self.pipeline_window,
                rate_limit_retries=rate_limit_retries,
                rate_limit_backoff=rate_limit_backoff,
            ),
            live=self._live,
            limits=self._limits,
            mark_down=self._mark_down,
            wall_clock=wall_clock,
            sleep=sleep,
        )

    # --- set-up ------------------------------------------------------------------------------

    def _register(self, url: str) -> RelayState:
        relay = self._relays.get(url)
        if relay is None:
            relay = RelayState(url=check_relay_url(url))
            self._relays[url] = relay
            self._order.append(url)
        return relay

    @property
    def urls(self) -> list[str]:
        """The relays of the pool, in the order given."""
        return list(self._order)

    async def start(self) -> None:
        """Connect to every relay in parallel (at most ``connect_timeout``) and start the monitor.

        A dead relay never blocks the others; it is retried in the background with backoff.
        """
        self._started = True
        await asyncio.gather(*(self._connect(r) for r in self._relays.values()))
        self._monitor_task = asyncio.create_task(self._monitor(), name="relay-monitor")

    async def _connect(self, relay: RelayState) -> None:
        """One connection attempt; on failure schedule the next one with backoff."""
        if relay.connecting or self._closed:
            return
        relay.connecting = True
        try:
            conn, limits = await asyncio.gather(
                asyncio.wait_for(
                    RelayConnection.open(
                        relay.url,
                        open_timeout=self.connect_timeout,
                        max_frame_bytes=self.max_frame_bytes,
                        max_tracked=self.max_tracked,
                        clock=self.clock,
                    ),
                    self.connect_timeout,
                ),
                fetch_limits(relay.url, self.connect_timeout),
            )
        except Exception as exc:
            relay.up = False
            relay.last_error = f"cannot connect: {str(exc) or exc.__class__.__name__}"
        else:
            if self._closed:
                await conn.close()
                return
            conn.on_lost = lambda reason: self._mark_down(relay, reason)
            conn.on_ok_latency = self._ok_latency
            self._conns[relay.url] = conn
            self._limits[relay.url] = limits
            relay.connected()
            log.debug("relay connected: %s", relay.url)
            if conn.closed:  # lost before it was handed over: its reader could not tell us
                self._mark_down(relay, conn.close_reason)
                return
        finally:
            relay.connecting = False
        if not relay.up:
            relay.schedule_retry(self.clock(), self.max_retry_interval)
            log.info(
                "relay %s is down (%s); retrying in %.1f s", relay.url, relay.last_error, relay.retry_delay
            )

    def _ok_latency(self, url: str, seconds: float) -> None:
        if self.on_ok_latency is not None:
            self.on_ok_latency(url, seconds)

    def _mark_down(self, relay: RelayState, reason: str) -> None:
        if relay.mark_down(reason, self.clock(), self.max_retry_interval):
            log.warning("relay %s marked down: %s", relay.url, reason)
        conn = self._conns.pop(relay.url, None)
        if conn is not None:  # a silent relay's socket may still be open: drop it
            self._spawn(conn.close())

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _monitor(self) -> None:
        """Reconnect down relays when their retry time comes."""
        while not self._closed:
            await asyncio.sleep(MONITOR_INTERVAL)
            now = self.clock()
            for relay in list(self._relays.values()):
                if not relay.up and not relay.connecting and now >= relay.next_retry:
                    self._spawn(self._connect(relay))

    async def ensure_relay(self, url: str) -> None:
        """Add a relay that was not given at construction (e.g. a per-user relay) and try to connect."""
        if url in self._relays:
            return
        relay = self._register(url)
        if self._started:
            await self._connect(relay)

    def _live(self, url: str) -> RelayConnection | None:
        relay = self._relays[url]
        conn = self._conns.get(url)
        return conn if relay.up and conn is not None and not conn.closed else None

    async def _targets(self, relays: Sequence[str] | None) -> list[str]:
        if not self._started or self._closed:
            raise OperationalError("the relay pool is not started")
        targets = list(dict.fromkeys(relays)) if relays is not None else self.urls
        for url in targets:
            await self.ensure_relay(url)
        return targets

    # --- publishing --------------------------------------------------------------------------

    async def publish(
        self,
        event: SignedEvent,
        relays: Sequence[str] | None = None,
        *,
        auth_key: MirrorKey | None = None,
    ) -> dict[str, RelayAnswer]:
        """Send one event; return one answer per relay (``pending`` at once for a relay that is down)."""
        keys = {auth_key.pubkey_hex: auth_key} if auth_key is not None else None
        [answers] = await self.publish_many([(event, relays)], auth_keys=keys)
        return answers

    async def publish_many(
        self,
        items: Sequence[tuple[SignedEvent, Sequence[str] | None]],
        *,
        in_flight: int = 64,
        auth_keys: Mapping[str, MirrorKey] | None = None,
    ) -> list[dict[str, RelayAnswer]]:
        """Publish many events; answers in input order, one per relay asked, each counted once.

        Each relay's share goes pipelined on its connection (``in_flight`` is kept for callers: the
        window is ``pipeline_window``). ``auth_keys`` maps a pubkey to its key, for NIP-42 AUTH.
        """
        keys = auth_keys or {}
        targets = [await self._targets(relays) for _, relays in items]
        shares: dict[str, list[int]] = {}
        for index, urls in enumerate(targets):
            for url in urls:
                shares.setdefault(url, []).append(index)
        answers: list[dict[str, RelayAnswer]] = [{} for _ in items]

        async def share(url: str, indexes: list[int]) -> None:
            got = await self._sender.deliver(self._relays[url], [items[i][0] for i in indexes], keys)
            for index, answer in zip(indexes, got, strict=True):
                answers[index][url] = answer

        await asyncio.gather(*(share(url, indexes) for url, indexes in shares.items()))
        return [
            {url: self._relays[url].count(answers[i][url]) for url in urls} for i, urls in enumerate(targets)
        ]

    # --- reading -----------------------------------------------------------------------------

    async def query(
        self,
        flt: QueryFilter,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - per relay: REQ until EOSE, at most this long
        relays: Sequence[str] | None = None,
    ) -> list[SignedEvent]:
        """Events matching the filter from the connected relays, deduplicated by id, newest first.

        Raises :class:`RelayUnavailableError` when none of the relays asked is connected.
        """
        targets = await self._targets(relays)
        conns = [c for c in (self._live(u) for u in targets) if c is not None]
        if not conns:
            raise RelayUnavailableError(f"no relay reachable: {', '.join(targets)}")
        filters = [flt.to_dict()]
        found = await asyncio.gather(*(c.fetch(filters, timeout) for c in conns))
        events: dict[str, SignedEvent] = {}
        for conn, (got, ended) in zip(conns, found, strict=True):
            if ended is not None:
                log.debug("query on %s ended early: %s", conn.url, ended)
            for event in got:
                events[event.id] = event
        return sorted(events.values(), key=lambda e: (-e.created_at, e.id))

    async def find_by_r(
        self,
        urls: Sequence[str],
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - passed to query
    ) -> list[SignedEvent]:
        """Events carrying an ``r`` tag with any of these URLs (the duplicate check of SPEC §4)."""
        return await self.query(QueryFilter(tags={"r": list(urls)}), timeout=timeout)

    # --- state -------------------------------------------------------------------------------

    def status(self) -> dict[str, RelayStatus]:
        """Health and counters of every relay."""
        return {url: self._relays[url].status() for url in self._order}

    async def close(self) -> None:
        """Stop the monitor and close every connection."""
        self._closed = True
        if self._monitor_task is not None:
            self._monitor_task.cancel()
            with contextlib.suppress(BaseException):
                await self._monitor_task
        for task in list(self._background):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        conns, self._conns = list(self._conns.values()), {}
        await asyncio.gather(*(c.close() for c in conns))

    async def __aenter__(self) -> RelayPool:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
