"""The daemon's HTTP server: aiohttp.web on the daemon's own event loop (docs/OPERATIONS.md).

Every answer is computed from one :class:`~nostrweet.daemon.control.DaemonSnapshot` read on the loop (no
I/O), made into JSON, Prometheus text or HTML in a worker thread, and kept for a second, so a request costs
the loop a few hundred microseconds and never waits on the polling. Clients are kept in
bounds: at most ``max_connections`` at once (the next one gets a 503 and is closed at once), request lines
and headers of at most 8 KiB, bodies of at most ``max_body`` bytes, idle keep-alive connections closed after
5 s, and every connection closed ``connection_seconds`` after it opened, whatever it is doing, so a client
that trickles its request in holds nothing for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jinja2
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from nostrweet.bridge.nip05 import NIP05_PATH, nip05_answer
from nostrweet.daemon.control import DaemonControl, DaemonSnapshot
from nostrweet.http import views
from nostrweet.http.api import admin_api
from nostrweet.http.metrics import CONTENT_TYPE, Metrics
from nostrweet.secret import Secret

log = logging.getLogger("nostrweet.http")

MAX_CONNECTIONS = 64
MAX_BODY = 16 * 1024
MAX_LINE = 8 * 1024
CONNECTION_SECONDS = 30.0
KEEPALIVE_SECONDS = 5.0
REFRESH_SECONDS = 10
CACHE_SECONDS = 1.0  # /healthz, /readyz, /metrics and the page are made at most once a second each
MAKE_AHEAD = 0.8  # an answer this old (a fraction of cache_seconds) has the next one made in the background
SHUTDOWN_SECONDS = 2.0  # answers in flight when the daemon stops (well inside its 10 s grace)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Answer = tuple[int, bytes, dict[str, str]]  # status, body, headers


@dataclass(frozen=True)
class Nip05Source:
    """Who the NIP-05 answer names: ``lookup(name or None)`` gives name → hex pubkey (only that name when
    one is asked for), ``relays`` every mirror's relays, ``relays_of`` a user's own."""

    lookup: Callable[[str | None], Mapping[str, str]]
    relays: Sequence[str] = ()
    relays_of: Callable[[str], Sequence[str] | None] = lambda _name: None


@dataclass(frozen=True)
class HttpSettings:
    """Where to listen and what to serve."""

    host: str
    port: int
    admin_token: Secret | None = None
    nip05: Nip05Source | None = None
    backfill_default: int = 20
    max_connections: int = MAX_CONNECTIONS
    max_body: int = MAX_BODY
    connection_seconds: float = CONNECTION_SECONDS
    refresh_seconds: int = REFRESH_SECONDS
    cache_seconds: float = CACHE_SECONDS
    extra_headers: Mapping[str, str] = field(default_factory=dict)
    webhook_log: Callable[[int], list[dict[str, Any]]] | None = None  # newest deliveries (SPEC §12)
    outbox_events: Callable[[str, int], list[dict[str, Any]]] | None = (
        None  # a relay's unaccepted, oldest first
    )


_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("nostrweet.http", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)

PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> web.Response:
    """A JSON answer."""
    return web.Response(
        status=status,
        body=json.dumps(body, separators=(",", ":")).encode(),
        content_type="application/json",
        headers=dict(headers or {}),
    )


def _json(status: int, body: Any) -> Answer:
    return (
        status,
        json.dumps(body, separators=(",", ":")).encode(),
        {"Content-Type": "application/json", "Cache-Control": "no-store"},
    )


class _Busy(asyncio.Protocol):
    """What a connection over the limit gets: a 503 and the door closed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        body = b'{"error":"too many connections"}'
        transport.write(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
        )
        transport.close()


class _Counted(RequestHandler):
    """aiohttp's connection handler, counted from its creation to its end (the limit's count)."""

    __slots__ = ("_done",)

    def __init__(self, done: Callable[[], None], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._done = done

    def connection_lost(self, exc: BaseException | None) -> None:
        try:
            super().connection_lost(exc)
        finally:
            self._done()


class HttpServer:
    """Serves ``/healthz``, ``/readyz``, ``/metrics``, ``/``, ``/api/v1`` and NIP-05 for one daemon."""

    def __init__(
        self, control: DaemonControl, settings: HttpSettings, metrics: Metrics | None = None
    ) -> None:
        self.control = control
        self.settings = settings
        self.metrics = metrics or Metrics(control.snapshot)
        self._runner: web.AppRunner | None = None
        self._server: asyncio.Server | None = None
        self.port = settings.port
        self.open_connections = 0
        self._cache: dict[str, tuple[float, Answer]] = {}  # key -> (when its snapshot was taken, answer)
        self._making: dict[str, asyncio.Future[Answer]] = {}  # answers being made in a worker thread
        self._generation = 0  # forget() moves it on: an answer begun before is not kept
        self.clock: Callable[[], float] = time.monotonic  # the answers' age (tests set a fake)

    # -- the application ---------------------------------------------------------------------
    def app(self) -> web.Application:
        """The aiohttp application (also used directly by tests)."""
        app = web.Application(client_max_size=self.settings.max_body, middlewares=[self._errors])
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/metrics", self.metrics_page)
        app.router.add_get("/", self.dashboard)
        app.router.add_get(NIP05_PATH, self.nip05)
        app.add_subapp(
            "/api/v1",
            admin_api(
                self.control,
                self.settings.admin_token,
                backfill_default=self.settings.backfill_default,
                max_body=self.settings.max_body,
                on_change=self.forget,
                webhook_log=self.settings.webhook_log,
                outbox_events=self.settings.outbox_events,
            ),
        )
        return app

    def forget(self) -> None:
        """Drop the answers made so far: a change through the API shows at once."""
        self._cache.clear()
        self._making.clear()
        self._generation += 1

    async def _cached(self, key: str, make: Callable[[DaemonSnapshot], Answer]) -> web.Response:
        """The answer made at most ``cache_seconds`` ago, else a new one: however many clients ask,
        the loop makes each page at most once a second (for 1,000 users /metrics takes ~30 ms).

        The snapshot is read on the loop (the daemon's state is the loop's); the answer is made from it
        in a worker thread, so the loop goes on serving and polling meanwhile. Once an answer is
        ``MAKE_AHEAD`` of its life old, the next request starts the next one in the background and is
        answered at once, so under steady traffic nobody waits for a page to be made (and each is still
        made about once a second, not more: the polling shares the cores with the making).
        """
        hit = self._cache.get(key)
        age = math.inf if hit is None else self.clock() - hit[0]
        if age >= self.settings.cache_seconds:
            answer = await asyncio.shield(self._making.get(key) or self._start(key, make))
        else:
            assert hit is not None
            answer = hit[1]
            if age >= self.settings.cache_seconds * MAKE_AHEAD and key not in self._making:
                self._start(key, make)  # the next answer, made in the background
        status, body, headers = answer
        return web.Response(status=status, body=body, headers=headers)

    def _start(self, key: str, make: Callable[[DaemonSnapshot], Answer]) -> asyncio.Future[Answer]:
        """Start making the answer for ``key`` from a snapshot read now."""
        taken = self.clock()
        snapshot = self.control.snapshot()
        generation = self._generation
        running = asyncio.ensure_future(asyncio.to_thread(make, snapshot))
        self._making[key] = running

        def done(future: asyncio.Future[Answer]) -> None:
            if self._making.get(key) is future:
                del self._making[key]
            if future.cancelled():
                return
            error = future.exception()
            if error is not None:
                log.warning("HTTP %s not made: %s", key, error.__class__.__name__)
            elif generation == self._generation:
                self._cache[key] = (taken, future.result())

        running.add_done_callback(done)
        return running

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """No traceback reaches a client or the log: one line, a 500."""
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("HTTP %s %s failed: %s", request.method, request.path, exc.__class__.__name__)
            return json_response(500, {"error": "internal error"})

    async def healthz(self, request: web.Request) -> web.Response:
        """SPEC §8 ``/healthz``."""
        return await self._cached("healthz", lambda snap: _json(*views.health(snap)))

    async def readyz(self, request: web.Request) -> web.Response:
        """SPEC §8 ``/readyz``."""
        return await self._cached("readyz", lambda snap: _json(*views.readiness(snap)))

    async def metrics_page(self, request: web.Request) -> web.Response:
        """Prometheus text format."""
        return await self._cached(
            "metrics", lambda snap: (200, self.metrics.render(snap), {"Content-Type": CONTENT_TYPE})
        )

    async def dashboard(self, request: web.Request) -> web.Response:
        """The HTML page: server-side, no JavaScript, refreshes itself."""

        def make(snap: DaemonSnapshot) -> Answer:
            values = views.page_values(snap, self.settings.refresh_seconds)
            html = _templates.get_template("dashboard.html").render(**values)
            return 200, html.encode(), {"Content-Type": "text/html; charset=utf-8", **PAGE_HEADERS}

        return await self._cached("page", make)

    async def nip05(self, request: web.Request) -> web.Response:
        """NIP-05 ``/.well-known/nostr.json[?name=]``: 404 unless ``--nip05-domain`` is set."""
        source = self.settings.nip05
        if source is None:
            return json_response(404, {"error": "NIP-05 is not served: no --nip05-domain"})
        name = request.query.get("name")
        if name is not None:
            name = name.strip().lower()[:64]
        pubkeys = source.lookup(name)
        relays_of = {n: list(r) for n in pubkeys if (r := source.relays_of(n)) is not None}
        answer = nip05_answer(pubkeys, source.relays, relays_of=relays_of, name=name)
        return web.Response(status=answer.status, body=answer.body, headers=dict(answer.headers))

    # -- running -----------------------------------------------------------------------------
    async def start(self) -> None:
        """Listen (OSError when the address cannot be bound)."""
        runner = web.AppRunner(
            self.app(),
            access_log=None,
            keepalive_timeout=KEEPALIVE_SECONDS,
            max_line_size=MAX_LINE,
            max_field_size=MAX_LINE,
            handle_signals=False,
            shutdown_timeout=SHUTDOWN_SECONDS,
        )
        await runner.setup()
        self._runner = runner
        server = runner.server
        assert server is not None
        loop = asyncio.get_running_loop()

        def closed() -> None:
            self.open_connections -= 1

        def factory() -> asyncio.BaseProtocol:
            # counted here, not in server.connections: several connections may be accepted in one go,
            # before any of them is registered there
            if self.open_connections >= self.settings.max_connections:
                return _Busy()
            handler = _Counted(closed, server, loop=loop, **server._kwargs)
            self.open_connections += 1
            loop.call_later(self.settings.connection_seconds, self._expire, handler)
            return handler

        try:
            self._server = await loop.create_server(
                factory, self.settings.host, self.settings.port, reuse_address=True
            )
        except BaseException:
            await runner.cleanup()
            raise
        sock = self._server.sockets[0]
        self.port = int(sock.getsockname()[1])
        log.info("HTTP server on http://%s:%d", self.settings.host, self.port)

    def _expire(self, handler: RequestHandler) -> None:
        """A connection's life is over: closed after the request in hand, and at once 5 s later."""
        handler.close()
        asyncio.get_running_loop().call_later(KEEPALIVE_SECONDS, handler.force_close)

    async def close(self) -> None:
        """Stop listening and close every connection."""
        if self._server is not None:
            self._server.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
        self._server = None
        self._runner = None
