"""A fake X API v2 server over the recorded fixtures (aiohttp, in a background thread).

    with FakeXApi() as api:          # or the `fake_x` pytest fixture
        httpx.get(f"{api.url}/2/users/by/username/PhillyNEFL",
                  headers={"Authorization": f"Bearer {api.bearer_token}"})

Serves timelines, tweet and user lookups with expansions and field filtering, media bytes, per-endpoint
rate limits and injected faults. Every /2/ request is validated against the OpenAPI spec; a violation is
recorded in `violations` and answered 400. Run `python -m tests.fakes.x_api --port 8787` for a manual one (it refuses to start without the
recorded responses in tests/data).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from tests.data import FIXTURES
from tests.fakes.openapi_params import match_path, validate_request
from tests.fakes.x_faults import Faults, RateLimiter
from tests.fakes.x_media import media_body
from tests.fakes.x_render import Renderer, not_found, problem_400
from tests.fakes.x_world import MissingWorldError, World

DEFAULT_BEARER = "test-bearer-token"
UNAUTHORIZED = {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}
TOO_MANY = {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}


@dataclass(slots=True)
class RecordedRequest:
    """One request as the server saw it. `status` is 0 for a dropped connection."""

    method: str
    path: str
    endpoint: str | None
    query: dict[str, str]
    time: float
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)  # the response headers we sent
    over_budget: bool = False  # sent while the endpoint's budget was used up (not an injected 429)


class FakeXApi:
    """The fake server. `start()`/`stop()` (or `with`), then point the client at `.url`."""

    def __init__(
        self,
        world: World | None = None,
        *,
        bearer_token: str = DEFAULT_BEARER,
        port: int = 0,
        filter_fields: bool = True,
    ) -> None:
        self.world = world if world is not None else World.from_fixtures()
        self.bearer_token = bearer_token
        self.filter_fields = filter_fields
        self.faults = Faults()
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep  # the latency fault's wait
        self.rate_limits = RateLimiter()
        self.lock = threading.RLock()
        self.media_requests = 0
        self.media_log: list[str] = []
        self.media_status: dict[str, int] = {}  # substring of a media path -> status to answer
        self.media_redirect: dict[str, str] = {}  # substring of a media path -> Location of a 302
        self.media_content_type: dict[str, str] = {}  # substring of a media path -> content type sent
        self.media_drip: dict[str, float] = {}  # substring of a media path -> seconds between bytes
        self._requests: list[RecordedRequest] = []
        self._violations: list[str] = []
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        """Start serving on 127.0.0.1 (ephemeral port unless one was given); returns when ready."""
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()
        self._loop = loop

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._startup())
            except BaseException as exc:  # surfaced in start()
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            if self._runner is not None:
                loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-x-api", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]

    async def _startup(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/2/{tail:.*}", self._handle_api)
        app.router.add_get("/media/{host}/{path:.*}", self._handle_media)
        # at stop, a request held by the latency fault is cut off, not waited for
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self._port)
        await site.start()
        self._runner = runner
        port = runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        """Stop the server and join its thread."""
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop = None
        self._thread = None

    def __enter__(self) -> FakeXApi:
        self.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- inspection --------------------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """Every /2/ request so far, in arrival order (a copy)."""
        with self.lock:
            return list(self._requests)

    @property
    def violations(self) -> list[str]:
        """Every OpenAPI violation seen so far (a copy)."""
        with self.lock:
            return list(self._violations)

    def requests_to(self, endpoint: str) -> list[RecordedRequest]:
        """Requests whose path template is `endpoint`, e.g. '/2/users/{id}/tweets'."""
        return [r for r in self.requests if r.endpoint == endpoint]

    def set_limit(self, endpoint: str, limit: int, window_seconds: float = 900) -> None:
        """Give `endpoint` (a path template) a fresh budget of `limit` requests per window."""
        self.rate_limits.set_limit(endpoint, limit, window_seconds)

    def reset_log(self) -> None:
        """Forget recorded requests, violations and media counts (keeps limits and faults)."""
        with self.lock:
            self._requests.clear()
            self._violations.clear()
            self.media_requests = 0
            self.media_log.clear()

    def rewrite_media_url(self, url: str) -> str:
        """`https://pbs.twimg.com/a/b.jpg?x` -> `<self.url>/media/pbs.twimg.com/a/b.jpg?x`."""
        for scheme in ("https://", "http://"):
            if url.startswith(scheme):
                rest = url[len(scheme) :]
                host = rest.split("/", 1)[0]
                if host.endswith("twimg.com"):
                    return f"{self.url}/media/{rest}"
        return url

    # -- handlers ----------------------------------------------------------------------------------
    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        arrival = time.time()
        path = request.path
        found = match_path(request.method, path)
        template = found[0].template if found else None
        query = dict(request.query)
        record = RecordedRequest(request.method, path, template, query, arrival)
        with self.lock:
            self._requests.append(record)
        latency = self.faults.latency_seconds
        if latency > 0:
            await self.sleep(latency)
        if self.faults.take_drop(template):
            record.status = 0
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError
        response = self._answer(request, template, found, query, arrival, record)
        record.status = response.status
        record.headers = dict(response.headers)
        return response

    def _answer(
        self,
        request: web.Request,
        template: str | None,
        found: Any,
        query: dict[str, str],
        now: float,
        record: RecordedRequest | None = None,
    ) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.bearer_token}":
            return web.json_response(UNAUTHORIZED, status=401)
        key = template or request.path
        injected_429 = self.faults.take_429(template)
        if injected_429 is not None:
            reset = math.ceil(now + injected_429)
            self.rate_limits.exhaust(key, reset)
            return self._rate_limited(key, now)
        status_5xx = self.faults.take_5xx(template)
        if status_5xx is not None:
            body = {"title": "Service Unavailable", "detail": "Service Unavailable", "type": "about:blank"}
            return web.json_response({**body, "status": status_5xx}, status=status_5xx)
        if not self.rate_limits.consume(key, now):
            if record is not None:
                record.over_budget = True
            return self._rate_limited(key, now)
        headers = self.rate_limits.headers(key, now)
        pairs = [(k, v) for k, v in request.query.items()]
        problems = validate_request(request.method, request.path, pairs)
        if problems:
            with self.lock:
                self._violations.extend(problems)
            return web.json_response(problem_400(problems), status=400, headers=headers)
        if found is None:
            return web.json_response(not_found(request.path), status=404, headers=headers)
        with self.world.lock:
            renderer = Renderer(self.world, self.rewrite_media_url, query, filter_fields=self.filter_fields)
            status, answer = renderer.dispatch(found[0].template, found[1])
        if status == 400:  # e.g. a pagination_token this server never issued
            with self.lock:
                self._violations.extend(str(e["message"]) for e in answer.get("errors", []))
        return web.json_response(answer, status=status, headers=headers)

    def _rate_limited(self, key: str, now: float) -> web.Response:
        return web.json_response(TOO_MANY, status=429, headers=self.rate_limits.headers(key, now))

    async def _handle_media(self, request: web.Request) -> web.StreamResponse:
        host = request.match_info["host"]
        path = request.match_info["path"]
        full = f"{host}/{path}"
        with self.lock:
            self.media_requests += 1
            self.media_log.append(full + (f"?{request.query_string}" if request.query_string else ""))
            forced = next((s for sub, s in self.media_status.items() if sub in full), None)
            location = next((u for sub, u in self.media_redirect.items() if sub in full), None)
            sent_type = next((t for sub, t in self.media_content_type.items() if sub in full), None)
            drip = next((d for sub, d in self.media_drip.items() if sub in full), None)
        if forced is not None:
            return web.Response(status=forced, text="media error injected")
        if location is not None:
            raise web.HTTPFound(location)
        body, content_type = media_body(host, path, request.query.get("format"), self.url)
        if drip is not None:  # one byte at a time, `drip` seconds apart
            response = web.StreamResponse(headers={"Content-Type": sent_type or content_type})
            await response.prepare(request)
            for byte in body:
                await response.write(bytes([byte]))
                await asyncio.sleep(drip)
            return response
        return web.Response(body=body, headers={"Content-Type": sent_type or content_type})


def banner(world: World, url: str, bearer_token: str, *, top: int = 5) -> list[str]:
    """What `python -m tests.fakes.x_api` prints: the URL, the token, the biggest timelines whose
    author the world really has (by username), and a command to try with the biggest of them."""
    lines = [f"fake X API listening on {url}", f"bearer token: {bearer_token}", "users with big timelines:"]
    listed: list[str] = []
    for uid, _ in world.timeline_sizes():
        username = str(world.users.get(uid, {}).get("username") or "")
        visible = len(world.timeline(uid))
        if not username or visible == 0 or world.user_by_username(username) is None:
            continue
        listed.append(username)
        lines.append(f"  @{username}  (id {uid}, {visible} tweets)")
        if len(listed) == top:
            break
    if listed:
        lines.append(
            f"try: nostrweet --twitter-api-url {url} --bearer-token {bearer_token} user-tweets {listed[0]}"
        )
    return lines


def _main() -> None:
    parser = argparse.ArgumentParser(description="Run the fake X API v2 server in the foreground.")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--bearer-token", default=DEFAULT_BEARER)
    parser.add_argument("--fixtures", type=Path, default=FIXTURES, help="the recorded responses to serve")
    args = parser.parse_args()
    try:
        world = World.from_fixtures(args.fixtures)
    except MissingWorldError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    api = FakeXApi(world, port=args.port, bearer_token=args.bearer_token)
    try:
        api.start()
    except OSError as exc:
        print(f"error: cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        raise SystemExit(1) from None
    try:
        with contextlib.suppress(KeyboardInterrupt):
            for line in banner(world, api.url, api.bearer_token):
                print(line, flush=True)
            while True:
                time.sleep(3600)
    finally:
        api.stop()


if __name__ == "__main__":
    _main()
