"""How every request to the X API is sent: rate budgets, 429 waits, jittered retries, typed errors.

The request policy of SPEC §5 (issue #2), apart from what is asked:
- every request first reserves a slot in its endpoint's :class:`RateBudget` (waiting for the reset
  if the budget is used up); every response's ``x-rate-limit-*`` headers update the budget;
- a 429 marks the budget empty until ``x-rate-limit-reset`` (+1 s) and the request is sent again after
  the reset; a reset further away than ``max_429_wait`` fails with one line instead of waiting;
- 5xx answers and network errors (connect, read, dropped connection, timeout) are retried with
  jittered exponential backoff (1 s doubling, ±50 %, at most ``max_tries`` tries);
- 401/403 raise :class:`TwitterAuthError` naming the token problem; 404 NotFoundError; other 4xx
  TwitterApiError; a 2xx without a JSON object TwitterApiError; an answer over ``max_answer_bytes``
  TwitterApiError, after reading no more than that.
API requests go through a sender of :mod:`nostrweet.twitter.transport` (aiohttp, or the httpx client
when the session is given an httpx transport); media downloads use :attr:`ApiSession.http` (httpx).
The bearer token is added to each API request only, never to a shared HTTP client, so requests to
media hosts through :attr:`ApiSession.http` never carry it; it is never logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from nostrweet.errors import NotFoundError, TwitterApiError, TwitterAuthError
from nostrweet.secret import Secret
from nostrweet.twitter.ratelimit import RateLimiter
from nostrweet.twitter.transport import (
    MAX_ANSWER_BYTES,
    AiohttpSender,
    Answer,
    AnswerTooLarge,
    HttpxSender,
    Sender,
    TransportFailure,
)

# The records keep the logger name they had before this module was split out of the client.
log = logging.getLogger("nostrweet.twitter.client")

USER_AGENT = "nostrweet"
CONNECT_TIMEOUT = 10.0


class ApiSession:
    """One HTTP client, one bearer token, one :class:`RateLimiter` and the retry policy above."""

    def __init__(
        self,
        api_url: str,
        bearer_token: Secret,
        *,
        limiter: RateLimiter | None = None,
        max_429_wait: float = 900,
        max_tries: int = 5,
        backoff_base: float = 1.0,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._token = bearer_token
        self.max_429_wait = max_429_wait
        self.max_tries = max_tries
        self.backoff_base = backoff_base
        self.clock = clock
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.limiter = limiter or RateLimiter(max_wait=max_429_wait, clock=clock, sleep=sleep)
        self.requests_sent = 0
        self.max_answer_bytes = max_answer_bytes
        self.http = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(timeout, connect=CONNECT_TIMEOUT),
            headers={"User-Agent": USER_AGENT},
            follow_redirects=True,
        )
        self.sender: Sender = (
            HttpxSender(self.http)
            if transport is not None
            else AiohttpSender(timeout=timeout, connect_timeout=CONNECT_TIMEOUT, user_agent=USER_AGENT)
        )

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self.sender.aclose()
        await self.http.aclose()

    def backoff_delay(self, attempt: int) -> float:
        """Jittered exponential backoff: base·2^attempt, ±50 %."""
        return float(self.backoff_base * (2**attempt) * self.rng.uniform(0.5, 1.5))

    async def _update_budget(self, endpoint: str, response: Answer) -> None:
        await self.limiter.record(
            endpoint,
            _int_header(response, "x-rate-limit-limit"),
            _int_header(response, "x-rate-limit-remaining"),
            _int_header(response, "x-rate-limit-reset"),
        )

    async def get_json(self, endpoint: str, path: str, params: dict[str, str]) -> dict[str, Any]:
        """GET ``<api>/path`` with the rules of the module docstring; the decoded JSON object."""
        url = f"{self.api_url}{path}"
        headers = {"Authorization": f"Bearer {self._token.reveal()}"}
        failures = 0
        limited = 0
        while True:
            await self.limiter.acquire(endpoint)
            try:
                self.requests_sent += 1
                response = await self.sender.get(url, params, headers, self.max_answer_bytes)
            except AnswerTooLarge:
                raise TwitterApiError(
                    f"X API {endpoint} answered more than {self.max_answer_bytes} bytes; not read"
                ) from None
            except TransportFailure as exc:
                failures += 1
                if failures >= self.max_tries:
                    raise TwitterApiError(
                        f"X API unreachable at {self.api_url} ({exc.kind}) after {failures} tries"
                    ) from None
                delay = self.backoff_delay(failures - 1)
                log.warning(
                    "X API %s: %s; retry in %.1f s",
                    endpoint,
                    exc.kind,
                    delay,
                    extra={"endpoint": endpoint, "retry_count": failures},
                )
                await self.sleep(delay)
                continue
            await self._update_budget(endpoint, response)
            status = response.status
            if status == 429:
                limited += 1
                await self._wait_429(endpoint, response, limited)
                continue
            if status >= 500:
                failures += 1
                if failures >= self.max_tries:
                    raise TwitterApiError(
                        f"X API {endpoint} answered HTTP {status} {failures} times; giving up"
                    )
                delay = self.backoff_delay(failures - 1)
                log.warning(
                    "X API %s answered HTTP %d; retry in %.1f s",
                    endpoint,
                    status,
                    delay,
                    extra={"endpoint": endpoint, "retry_count": failures},
                )
                await self.sleep(delay)
                continue
            if status in (401, 403):
                raise TwitterAuthError(_auth_message(status, response))
            if status == 404:
                raise NotFoundError(f"X API: {path} not found (HTTP 404)")
            if status >= 400:
                raise TwitterApiError(
                    f"X API {endpoint} rejected the request: HTTP {status} {_detail(response)}"
                )
            body = _json(response)
            if not isinstance(body, dict):
                raise TwitterApiError(f"X API {endpoint} answered HTTP {status} without a JSON object")
            return body

    async def _wait_429(self, endpoint: str, response: Answer, times: int) -> None:
        reset = _int_header(response, "x-rate-limit-reset")
        if times > self.max_tries + 5:
            raise TwitterApiError(f"X API {endpoint} kept answering 429 Too Many Requests")
        if reset is None:
            delay = min(self.backoff_delay(times - 1) * 15, self.max_429_wait)
            log.warning("X API %s answered 429 without a reset time; waiting %.1f s", endpoint, delay)
            await self.sleep(delay)
            return
        wait = reset + 1 - self.clock()
        if wait > self.max_429_wait:
            raise TwitterApiError(
                f"X API rate limit of {endpoint} resets in {int(wait)} s, longer than the "
                f"{self.max_429_wait:g} s we wait"
            )
        log.warning(
            "X API %s answered 429: waiting %.1f s until the rate-limit reset", endpoint, max(wait, 0)
        )
        # Mark the budget empty until the reset; the next acquire() does the waiting.
        await self.limiter.exhausted(endpoint, reset)


def _json(response: Answer) -> Any:
    """The answer's body as JSON, or None if it is not JSON."""
    try:
        return json.loads(response.body)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        return None


def _int_header(response: Answer, name: str) -> int | None:
    value = response.header(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _detail(response: Answer) -> str:
    body = _json(response)
    if isinstance(body, dict):
        text = body.get("detail") or body.get("title")
        if not text and isinstance(body.get("errors"), list) and body["errors"]:
            first = body["errors"][0]
            text = first.get("message") or first.get("detail") if isinstance(first, dict) else None
        return f"({' '.join(str(text).split())})" if text else ""
    return ""


def _auth_message(status: int, response: Answer) -> str:
    if status == 401:
        return (
            "X API rejected the bearer token (HTTP 401 Unauthorized): check --bearer-token / "
            "TWITTER_BEARER_TOKEN; it may be wrong, revoked or expired"
        )
    return (
        "X API refused access with this bearer token (HTTP 403 Forbidden"
        + (f" {_detail(response)}" if _detail(response) else "")
        + "): the app's access level may not include this endpoint"
    )
