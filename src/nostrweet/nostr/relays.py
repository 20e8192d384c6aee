"""Relay pool: our small wrapper over nostr-sdk's ``Client`` (SPEC §4, "Relay answers").

The only module in ``src/`` that talks to relays through nostr-sdk. What it adds to the SDK:

- one :class:`RelayAnswer` per relay and event, classified from the NIP-01 ``OK`` message
  (:func:`classify_ok`, pure);
- a dead relay costs one timeout, not one per event: after a connect failure or an OK timeout it is
  marked down and answered ``pending`` at once, until the background monitor reconnects it;
- NIP-42 AUTH answered with the identity that publishes: we publish through one shared client without
  an authenticator; when a relay answers ``auth-required:`` we remember that, and send that identity's
  events to that relay through its own client (:mod:`~nostrweet.nostr.auth_clients` says why);
- ``rate-limited:`` answers are retried a few times with exponential backoff inside :meth:`publish`;
- many events in flight at once (:meth:`publish_many`), bounded by a semaphore; with ``pipelined``
  the batch goes to each relay as EVENT frames written back to back on its connection, OKs matched by
  id (:mod:`~nostrweet.nostr.pipeline`), not one nostr-sdk ``send_event`` per event. Relays known to
  want AUTH, and events a relay answers ``auth-required:``, take the per-event path above.

Its parts live next to it: each relay's health and counters (:mod:`~nostrweet.nostr.relay_state`,
pure), what a send without an OK means (:mod:`~nostrweet.nostr.missing_ok`), and the per-identity
AUTH clients (:mod:`~nostrweet.nostr.auth_clients`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import nostr_sdk

from nostrweet.errors import InputError, OperationalError
from nostrweet.nostr.answers import Outcome, QueryFilter, RelayAnswer, RelayStatus, classify_ok
from nostrweet.nostr.auth_clients import AuthClients
from nostrweet.nostr.event import SignedEvent, from_sdk_event, to_sdk_event
from nostrweet.nostr.keys import MirrorKey
from nostrweet.nostr.missing_ok import await_late_ok, still_connected
from nostrweet.nostr.pipeline import publish_to_relay
from nostrweet.nostr.relay_state import RelayState, is_relay_message, needs_auth
from nostrweet.nostr.transport import MAX_FRAME_BYTES, MAX_TRACKED, RepairingTransport

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


class RelayUnavailableError(OperationalError):
    """None of the relays asked could be reached."""


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


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
        max_auth_clients: int = 16,
        max_ok_messages: int = 1024,
        max_tracked: int = MAX_TRACKED,
        pipelined: bool = True,
        pipeline_window: int = 256,
    ) -> None:
        self.ok_timeout = ok_timeout
        self.connect_timeout = connect_timeout
        self.max_retry_interval = max_retry_interval
        self.rate_limit_retries = rate_limit_retries
        self.rate_limit_backoff = rate_limit_backoff
        self.max_auth_clients = max_auth_clients
        self.max_tracked = max_tracked  # per connection (transport.MAX_TRACKED)
        self.pipelined = pipelined
        # Events awaiting their OK per relay in a pipelined batch; the transport tracks at most
        # max_tracked per connection, and nostr-sdk's own sends share them.
        self.pipeline_window = max(1, min(pipeline_window, max_tracked // 2))
        self._relays: dict[str, RelayState] = {}
        self._order: list[str] = []
        for url in urls:
            self._register(url)
        self._client: Any = None
        self._auth_clients = AuthClients(self._new_client, self._add, self._forget_client)
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[None]] = set()
        # OK messages by (relay, event id): taken by the send that waits for them; the rest (OKs that
        # came after their send gave up) are dropped oldest first beyond max_ok_messages.
        self.max_ok_messages = max(1, max_ok_messages)
        self._ok_messages: dict[tuple[str, str], str] = {}
        self._closed = False
        self._set_uniffi_loop = False
        self._transports: dict[int, RepairingTransport] = {}

    # --- set-up ------------------------------------------------------------------------------

    def _register(self, url: str) -> RelayState:
        try:
            sdk_url = nostr_sdk.RelayUrl.parse(url)
        except Exception:
            raise InputError(f"invalid relay URL {url!r}: use ws:// or wss://") from None
        relay = self._relays.get(url)
        if relay is None:
            relay = RelayState(url=url, sdk_url=sdk_url)
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
        # The transport is Python code that Rust calls from its own threads; uniffi then needs to be
        # told which event loop runs it (process-global: set here, cleared in close()).
        nostr_sdk.uniffi_set_event_loop(asyncio.get_running_loop())
        self._set_uniffi_loop = True
        self._client = self._new_client()
        for relay in self._relays.values():
            await self._add(self._client, relay)
        self._tasks.append(asyncio.create_task(self._listen(), name="relay-ok-listener"))
        await asyncio.gather(*(self._connect(r) for r in self._relays.values()))
        self._tasks.append(asyncio.create_task(self._monitor(), name="relay-monitor"))

    def _new_client(self, authenticator: Any = None) -> Any:
        transport = RepairingTransport(open_timeout=self.connect_timeout, max_tracked=self.max_tracked)
        builder = (
            nostr_sdk.ClientBuilder()
            .websocket_transport(transport)
            .connect_timeout(_seconds(self.connect_timeout))
            .relay_limits(nostr_sdk.RelayLimits().message_max_size(MAX_FRAME_BYTES))
        )
        if authenticator is not None:
            builder = builder.authenticator(authenticator)
        client = builder.build()
        self._transports[id(client)] = transport
        return client

    def _forget_client(self, client: Any) -> None:
        """An AUTH client was shut down: drop its transport (and the connections' state it holds)."""
        self._transports.pop(id(client), None)

    async def _add(self, client: Any, relay: RelayState) -> None:
        opts = nostr_sdk.RelayOptions().reconnect(False)
        await client.add_relay(relay.sdk_url, opts=opts)

    async def _connect(self, relay: RelayState) -> None:
        """One connection attempt; on failure schedule the next one with backoff."""
        if relay.connecting or self._client is None:
            return
        relay.connecting = True
        loop = asyncio.get_running_loop()
        try:
            handle = await self._client.relay(relay.sdk_url)
            await handle.try_connect(_seconds(self.connect_timeout))
            relay.up = handle.status() == nostr_sdk.RelayStatus.CONNECTED
            if relay.up:
                relay.connected()
                log.debug("relay connected: %s", relay.url)
        except Exception as exc:
            relay.up = False
            relay.last_error = str(exc) or exc.__class__.__name__
        finally:
            relay.connecting = False
        if not relay.up:
            relay.schedule_retry(loop.time(), self.max_retry_interval)
            log.info(
                "relay %s is down (%s); retrying in %.1f s", relay.url, relay.last_error, relay.retry_delay
            )

    def _mark_down(self, relay: RelayState, reason: str) -> None:
        now = asyncio.get_running_loop().time()
        if relay.mark_down(reason, now, self.max_retry_interval):
            log.warning("relay %s marked down: %s", relay.url, reason)

    async def _monitor(self) -> None:
        """Notice dropped connections and reconnect down relays when their retry time comes."""
        loop = asyncio.get_running_loop()
        while not self._closed:
            await asyncio.sleep(0.2)
            for relay in list(self._relays.values()):
                if relay.connecting:
                    continue
                if relay.up:
                    handle = await self._client.relay(relay.sdk_url)
                    if handle is not None and handle.status() != nostr_sdk.RelayStatus.CONNECTED:
                        self._mark_down(relay, "connection lost")
                elif loop.time() >= relay.next_retry:
                    task = asyncio.create_task(self._connect(relay))
                    self._background.add(task)
                    task.add_done_callback(self._background.discard)

    async def _listen(self) -> None:
        """Record OK messages of accepted events, to tell ``duplicate:`` from a plain accept."""
        stream = self._client.notifications()
        while not self._closed:
            try:
                note = await stream.next()
            except Exception:
                return
            if note is None:
                return
            if not note.is_message():
                continue
            msg = note.message.as_enum()
            if msg.is_ok() and msg.message:
                key = (str(note.relay_url), msg.event_id.to_hex())
                self._ok_messages[key] = msg.message
                while len(self._ok_messages) > self.max_ok_messages:
                    self._ok_messages.pop(next(iter(self._ok_messages)))

    async def ensure_relay(self, url: str) -> None:
        """Add a relay that was not given at construction (e.g. a per-user relay) and try to connect."""
        if url in self._relays:
            return
        relay = self._register(url)
        if self._client is not None:
            await self._add(self._client, relay)
            await self._connect(relay)

    # --- publishing --------------------------------------------------------------------------

    async def publish(
        self,
        event: SignedEvent,
        relays: Sequence[str] | None = None,
        *,
        auth_key: MirrorKey | None = None,
    ) -> dict[str, RelayAnswer]:
        """Send one event; return one answer per relay (``pending`` at once for a relay that is down)."""
        targets = await self._targets(relays)
        answers = await self._publish_retrying(event, targets, auth_key)
        return {url: self._relays[url].count(answers[url]) for url in targets}

    async def _targets(self, relays: Sequence[str] | None) -> list[str]:
        if self._client is None:
            raise OperationalError("the relay pool is not started")
        targets = list(dict.fromkeys(relays)) if relays is not None else self.urls
        for url in targets:
            await self.ensure_relay(url)
        return targets

    async def _publish_retrying(
        self, event: SignedEvent, targets: Sequence[str], auth_key: MirrorKey | None
    ) -> dict[str, RelayAnswer]:
        """One event through nostr-sdk, ``rate-limited:`` answers retried with backoff; not counted."""
        answers = await self._publish_once(event, targets, auth_key)
        for attempt in range(self.rate_limit_retries):
            limited = [url for url, a in answers.items() if a.outcome == "rate_limited"]
            if not limited:
                break
            await asyncio.sleep(self.rate_limit_backoff * 2**attempt)
            answers.update(await self._publish_once(event, limited, auth_key))
        return answers

    async def _publish_once(
        self, event: SignedEvent, targets: Sequence[str], auth_key: MirrorKey | None
    ) -> dict[str, RelayAnswer]:
        answers: dict[str, RelayAnswer] = {}
        plain: list[str] = []
        authed: list[str] = []
        for url in targets:
            relay = self._relays[url]
            if not relay.up:
                answers[url] = RelayAnswer(url, "pending", relay.last_error or "relay not connected")
            elif relay.auth_required and auth_key is not None:
                authed.append(url)
            else:
                plain.append(url)
        sdk_event = to_sdk_event(event)
        if plain:
            answers.update(await self._send(self._client, sdk_event, plain))
        retry_auth = [url for url in plain if needs_auth(answers[url])]
        if auth_key is not None and retry_auth:
            for url in retry_auth:
                self._relays[url].auth_required = True
            authed.extend(retry_auth)
        if authed and auth_key is not None:
            client = await self._auth_clients.client_for(
                auth_key,
                [self._relays[u] for u in authed],
                max_clients=self.max_auth_clients,
                connect_timeout=self.connect_timeout,
            )
            answers.update(await self._send(client, sdk_event, authed, authenticate=True))
        return answers

    async def _send(
        self, client: Any, sdk_event: Any, urls: Sequence[str], *, authenticate: bool = False
    ) -> dict[str, RelayAnswer]:
        by_sdk = {str(self._relays[u].sdk_url): u for u in urls}
        kwargs: dict[str, Any] = {"ok_timeout": _seconds(self.ok_timeout)}
        if authenticate:
            kwargs["authentication_timeout"] = _seconds(self.ok_timeout)
        target = nostr_sdk.SendEventTarget.to([self._relays[u].sdk_url for u in urls])
        try:
            output = await client.send_event(sdk_event, target=target, **kwargs)
        except Exception as exc:
            reason = str(exc) or exc.__class__.__name__
            return {u: RelayAnswer(u, "pending", reason) for u in urls}
        event_id = sdk_event.id().to_hex()
        answers: dict[str, RelayAnswer] = {}
        for sdk_url in output.success:
            url = by_sdk.get(str(sdk_url))
            if url is None:
                continue
            message = self._ok_messages.pop((str(sdk_url), event_id), None)
            if message is None:  # the notification may trail the send result: our transport saw the OK
                message = self._seen_ok_message(client, url, event_id)
            answers[url] = RelayAnswer(url, classify_ok(True, message), message)
        for sdk_url, message in output.failed.items():
            url = by_sdk.get(str(sdk_url))
            if url is None:
                continue
            self._ok_messages.pop((str(sdk_url), event_id), None)
            if is_relay_message(message):
                answers[url] = RelayAnswer(url, classify_ok(False, message), message)
            elif message == "timeout" and await still_connected(client, self._relays[url]):
                answers[url] = await await_late_ok(
                    client,
                    self._relays[url],
                    sdk_event,
                    self._transports.get(id(client)),
                    ok_timeout=self.ok_timeout,
                    mark_down=self._mark_down,
                )
            else:  # not the relay's answer: a timeout or a lost connection
                self._mark_down(self._relays[url], message or "no answer")
                answers[url] = RelayAnswer(url, "pending", message or "no answer")
        for url in urls:
            answers.setdefault(url, RelayAnswer(url, "pending", "no answer"))
        return answers

    def _seen_ok_message(self, client: Any, url: str, event_id: str) -> str:
        """The message of the OK our transport passed to nostr-sdk for this event on this relay (it
        reads every frame before nostr-sdk does, so it has it whenever nostr-sdk has the OK)."""
        transport = self._transports.get(id(client))
        adapter = transport.adapter(str(self._relays[url].sdk_url)) if transport is not None else None
        seen = adapter.answers.get(event_id) if adapter is not None else None
        return seen[1] if seen is not None else ""

    async def publish_many(
        self,
        items: Sequence[tuple[SignedEvent, Sequence[str] | None]],
        *,
        in_flight: int = 64,
        auth_keys: Mapping[str, MirrorKey] | None = None,
    ) -> list[dict[str, RelayAnswer]]:
        """Publish many events; answers in input order, one per relay, counted like :meth:`publish`.

        Pipelined (the default): each relay's share is written on its connection with up to
        ``pipeline_window`` awaiting their OK; ``in_flight`` bounds the events that go one by one
        (relays that want AUTH). Otherwise up to ``in_flight`` :meth:`publish` calls run at once.
        ``auth_keys`` maps a pubkey to its key, for relays that ask for NIP-42 AUTH.
        """
        keys = auth_keys or {}
        if self.pipelined:
            return await self._publish_pipelined(items, in_flight, keys)
        gate = asyncio.Semaphore(max(1, in_flight))

        async def one(event: SignedEvent, relays: Sequence[str] | None) -> dict[str, RelayAnswer]:
            async with gate:
                return await self.publish(event, relays, auth_key=keys.get(event.pubkey))

        return list(await asyncio.gather(*(one(e, r) for e, r in items)))

    async def _publish_pipelined(
        self,
        items: Sequence[tuple[SignedEvent, Sequence[str] | None]],
        in_flight: int,
        keys: Mapping[str, MirrorKey],
    ) -> list[dict[str, RelayAnswer]]:
        """:meth:`publish_many` with each relay's share pipelined on its connection (module docstring)."""
        targets = [await self._targets(relays) for _, relays in items]
        answers: list[dict[str, RelayAnswer]] = [{} for _ in items]
        per_event: list[list[str]] = [[] for _ in items]  # relays this event goes to one by one
        batches: dict[str, list[int]] = {}
        route: dict[str, str] = {}  # relay → "down", "one" (one by one) or "batch"
        for url in dict.fromkeys(u for urls in targets for u in urls):
            relay = self._relays[url]
            direct = not relay.auth_required and self._direct(relay) is not None
            route[url] = "down" if not relay.up else "batch" if direct else "one"
        for index, urls in enumerate(targets):
            for url in urls:
                if route[url] == "batch":
                    batches.setdefault(url, []).append(index)
                elif route[url] == "one":
                    per_event[index].append(url)
                else:
                    reason = self._relays[url].last_error or "relay not connected"
                    answers[index][url] = RelayAnswer(url, "pending", reason)

        async def batch(url: str, indexes: list[int]) -> None:
            got = await self._pipeline(self._relays[url], [items[i][0] for i in indexes])
            for index, answer in zip(indexes, got, strict=True):
                if needs_auth(answer) and items[index][0].pubkey in keys:
                    self._relays[url].auth_required = True  # from now on through the identity's client
                    per_event[index].append(url)
                else:
                    answers[index][url] = answer

        await asyncio.gather(*(batch(url, indexes) for url, indexes in batches.items()))
        gate = asyncio.Semaphore(max(1, in_flight))

        async def one(index: int) -> None:
            event = items[index][0]
            async with gate:
                got = await self._publish_retrying(event, per_event[index], keys.get(event.pubkey))
            answers[index].update(got)

        await asyncio.gather(*(one(i) for i, urls in enumerate(per_event) if urls))
        return [
            {url: self._relays[url].count(answers[i][url]) for url in urls} for i, urls in enumerate(targets)
        ]

    def _direct(self, relay: RelayState) -> Any:
        """The shared client's live connection to a relay, to write frames on; None if there is none."""
        transport = self._transports.get(id(self._client))
        adapter = transport.adapter(str(relay.sdk_url)) if transport is not None else None
        return adapter if adapter is not None and not adapter.closed else None

    async def _pipeline(self, relay: RelayState, events: Sequence[SignedEvent]) -> list[RelayAnswer]:
        return await publish_to_relay(
            relay,
            events,
            connection=lambda r: self._direct(r) if r.up else None,
            mark_down=self._mark_down,
            window=self.pipeline_window,
            ok_timeout=self.ok_timeout,
            retries=self.rate_limit_retries,
            backoff=self.rate_limit_backoff,
        )

    # --- reading -----------------------------------------------------------------------------

    async def query(
        self,
        flt: QueryFilter,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - the contract's name; passed to the SDK
        relays: Sequence[str] | None = None,
    ) -> list[SignedEvent]:
        """Events matching the filter from the connected relays, deduplicated by id, newest first.

        Raises :class:`RelayUnavailableError` when none of the relays asked is connected.
        """
        if self._client is None:
            raise OperationalError("the relay pool is not started")
        targets = list(dict.fromkeys(relays)) if relays is not None else self.urls
        for url in targets:
            await self.ensure_relay(url)
        up = [self._relays[u] for u in targets if self._relays[u].up]
        if not up:
            raise RelayUnavailableError(f"no relay reachable: {', '.join(targets)}")
        sdk_filter = nostr_sdk.Filter.from_json(json.dumps(flt.to_dict()))
        req = nostr_sdk.ReqTarget.manual({r.sdk_url: [sdk_filter] for r in up})
        try:
            found = await self._client.fetch_events(req, _seconds(timeout))
        except Exception as exc:
            raise RelayUnavailableError(f"cannot read from the relays: {exc}") from None
        events: dict[str, SignedEvent] = {}
        for sdk_event in found:
            try:
                event = from_sdk_event(sdk_event)
            except Exception as exc:
                log.warning("skipping an event a relay sent that does not parse: %s", exc)
                continue
            events[event.id] = event
        return sorted(events.values(), key=lambda e: (-e.created_at, e.id))

    async def find_by_r(
        self,
        urls: Sequence[str],
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - the contract's name; passed to the SDK
    ) -> list[SignedEvent]:
        """Events carrying an ``r`` tag with any of these URLs (the duplicate check of SPEC §4)."""
        return await self.query(QueryFilter(tags={"r": list(urls)}), timeout=timeout)

    # --- state -------------------------------------------------------------------------------

    def status(self) -> dict[str, RelayStatus]:
        """Health and counters of every relay."""
        return {url: self._relays[url].status() for url in self._order}

    async def close(self) -> None:
        """Stop the background tasks and disconnect every client."""
        self._closed = True
        tasks = self._tasks + list(self._background)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        self._tasks.clear()
        clients = [self._client, *self._auth_clients.take_all()]
        for client in clients:
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.shutdown()
        # nostr-sdk closes the sockets in the background through the transport's callbacks, which
        # need the uniffi loop: let them run before it is cleared.
        await asyncio.sleep(0.1)
        self._client = None
        self._transports.clear()
        if self._set_uniffi_loop:
            nostr_sdk.uniffi_set_event_loop(None)
            self._set_uniffi_loop = False

    async def __aenter__(self) -> RelayPool:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
