"""The admin API under ``/api/v1`` (SPEC §8): JSON in and out, a bearer token, bounded bodies.

Without a token configured every path answers 404. With one, a request without ``Authorization: Bearer
<token>`` (compared in constant time) gets 401. Errors are ``{"error": "<one line>"}``: 400 for a body that
is not a JSON object, too large, or has a bad field; 404 for an unknown user or path; 409 for a change the
daemon refuses. The token is never logged (the server keeps no access log).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from nostrweet.daemon.control import ControlError, DaemonControl
from nostrweet.errors import InputError
from nostrweet.http import views
from nostrweet.http.token import authorized
from nostrweet.names import normalize_username
from nostrweet.secret import Secret

log = logging.getLogger("nostrweet.http")

MAX_BACKFILL = 3200  # X serves at most the 3,200 newest tweets of a timeline


class ApiError(Exception):
    """An answer ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error(status: int, message: str) -> web.Response:
    headers = {"WWW-Authenticate": 'Bearer realm="nostrweet"'} if status == 401 else {}
    return web.json_response({"error": message}, status=status, headers=headers)


def parse_new_user(body: Any, backfill_default: int) -> tuple[str, int]:
    """PURE: ``{"username": ..., "backfill": N}`` → (lower-case name, backfill); ApiError 400 otherwise."""
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    unknown = sorted(set(body) - {"username", "backfill"})
    if unknown:
        raise ApiError(400, f"unknown field {unknown[0][:40]!r}")
    username = body.get("username")
    if not isinstance(username, str):
        raise ApiError(400, "username: a string is required")
    try:
        name = normalize_username(username[:40])
    except InputError:
        raise ApiError(400, "username: use 1 to 15 letters, digits or '_'") from None
    backfill = body.get("backfill", backfill_default)
    if isinstance(backfill, bool) or not isinstance(backfill, int) or not 0 <= backfill <= MAX_BACKFILL:
        raise ApiError(400, f"backfill: a whole number from 0 to {MAX_BACKFILL}")
    return name, backfill


def _path_user(request: web.Request) -> str:
    raw = request.match_info["username"]
    try:
        return normalize_username(raw[:40])
    except InputError:
        raise ApiError(400, "username: use 1 to 15 letters, digits or '_'") from None


async def _json_body(request: web.Request, max_body: int) -> Any:
    if request.content_length is not None and request.content_length > max_body:
        raise ApiError(400, f"the body is over {max_body} bytes")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(400, f"the body is over {max_body} bytes") from None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise ApiError(400, "the body is not valid JSON") from None


def admin_api(
    control: DaemonControl,
    token: Secret | None,
    *,
    backfill_default: int,
    max_body: int,
    on_change: Callable[[], None] = lambda: None,
    webhook_log: Callable[[int], list[dict[str, Any]]] | None = None,
    outbox_events: Callable[[str, int], list[dict[str, Any]]] | None = None,
) -> web.Application:
    """The ``/api/v1`` sub-application; ``on_change`` is called after every change it made."""

    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        if token is None:
            return _error(404, "the admin API is off: no admin token is configured")
        if not authorized(request.headers.get("Authorization"), token):
            return _error(401, "a valid 'Authorization: Bearer <token>' header is required")
        try:
            response: web.StreamResponse = await handler(request)
            if request.method != "GET" and response.status < 400:
                on_change()
            return response
        except ApiError as exc:
            return _error(exc.status, exc.message)
        except ControlError as exc:
            return _error(exc.status, str(exc))
        except web.HTTPNotFound:
            return _error(404, f"no such API path: {request.path[:80]}")
        except web.HTTPMethodNotAllowed:
            return _error(405, f"{request.method} is not allowed on {request.path[:80]}")

    async def list_users(request: web.Request) -> web.Response:
        return web.json_response(views.api_users(control.snapshot()))

    async def add_user(request: web.Request) -> web.Response:
        name, backfill = parse_new_user(await _json_body(request, max_body), backfill_default)
        control.add_user(name, backfill)
        log.info("admin API: @%s added (backfill %d)", name, backfill, extra={"user": name})
        snap = control.snapshot()
        return web.json_response(views.api_user(name, snap.users[name], snap.now), status=201)

    async def remove_user(request: web.Request) -> web.Response:
        name = _path_user(request)
        control.remove_user(name)
        log.info("admin API: @%s removed", name, extra={"user": name})
        return web.Response(status=204)

    def action(verb: str) -> Any:
        async def handle(request: web.Request) -> web.Response:
            name = _path_user(request)
            getattr(control, verb)(name)
            log.info("admin API: @%s %s", name, verb.replace("_", " "), extra={"user": name})
            return web.json_response({"ok": True}, status=202)

        return handle

    def _limit(request: web.Request) -> int:
        raw = request.query.get("limit", "100")
        if not raw.isdigit() or not 1 <= int(raw) <= 1000:
            raise ApiError(400, "limit must be a whole number from 1 to 1000")
        return int(raw)

    async def outbox(request: web.Request) -> web.Response:
        limit = _limit(request)
        snap = control.snapshot()
        relays: dict[str, Any] = {}
        for url, info in snap.relays.items():
            entry: dict[str, Any] = {"pending": int(info.get("pending", 0) or 0)}
            if outbox_events is not None:
                entry["events"] = outbox_events(url, limit)  # oldest first
            relays[url] = entry
        return web.json_response({"relays": relays})

    async def retry(request: web.Request) -> web.Response:
        body = await _json_body(request, max_body)
        relay = body.get("relay") if isinstance(body, dict) else None
        if not isinstance(relay, str) or set(body) != {"relay"}:
            raise ApiError(400, 'the body must be {"relay": "<a configured relay URL>"}')
        control.retry_outbox(relay)
        log.info("admin API: outbox retry for %s", relay[:200], extra={"relay": relay[:200]})
        return web.json_response({"ok": True}, status=202)

    async def webhooks(request: web.Request) -> web.Response:
        limit = _limit(request)
        deliveries = webhook_log(limit) if webhook_log is not None else []
        return web.json_response({"deliveries": deliveries})

    async def not_found(request: web.Request) -> web.Response:
        raise ApiError(404, f"no such API path: {request.path[:80]}")

    app = web.Application(client_max_size=max_body, middlewares=[guard])
    app.router.add_get("/users", list_users)
    app.router.add_post("/users", add_user)
    app.router.add_delete("/users/{username}", remove_user)
    app.router.add_post("/users/{username}/pause", action("pause"))
    app.router.add_post("/users/{username}/resume", action("resume"))
    app.router.add_post("/users/{username}/poll", action("poll_now"))
    app.router.add_get("/outbox", outbox)
    app.router.add_post("/outbox/retry", retry)
    app.router.add_get("/webhooks", webhooks)
    app.router.add_route("*", "/{tail:.*}", not_found)
    return app
