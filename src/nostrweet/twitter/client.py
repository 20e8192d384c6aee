"""Async X API v2 client (httpx) with per-endpoint rate budgets, 429 waits and jittered retries.

Requests go to ``<api_url>/2/...``. Responses are kept as raw JSON dicts (the cache stores them as
returned) and decoded with :mod:`nostrweet.twitter.models` where code needs typed values.

Error rules (SPEC §5, issue #2):
- every request first reserves a slot in its endpoint's :class:`RateBudget` (waiting for the reset
  if the budget is used up); every response's ``x-rate-limit-*`` headers update the budget;
- a 429 marks the budget empty until ``x-rate-limit-reset`` (+1 s) and the request is sent again after
  the reset; a reset further away than ``max_429_wait`` fails with one line instead of waiting;
- 5xx answers and network errors (connect, read, dropped connection, timeout) are retried with
  jittered exponential backoff (1 s doubling, ±50 %, at most ``max_tries`` tries);
- 401/403 raise :class:`TwitterAuthError` naming the token problem; other 4xx raise TwitterApiError;
- Problems inside a 200 are returned to the caller (not-found ids become ``not_found``).
The bearer token is only ever sent to the API root, never to media hosts, and never logged.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec

from nostrweet.cache import layout
from nostrweet.cache.store import fsync_dir
from nostrweet.errors import NotFoundError, TwitterApiError, TwitterAuthError
from nostrweet.settings import Secret
from nostrweet.twitter.models import User
from nostrweet.twitter.ratelimit import RateLimiter

log = logging.getLogger(__name__)

TWEET_EXPANSIONS = (
    "author_id,referenced_tweets.id,referenced_tweets.id.author_id,"
    "referenced_tweets.id.attachments.media_keys,attachments.media_keys,attachments.poll_ids,"
    "entities.mentions.username,in_reply_to_user_id"
)
TWEET_FIELDS = (
    "id,text,created_at,author_id,conversation_id,in_reply_to_user_id,referenced_tweets,attachments,"
    "entities,note_tweet,lang,possibly_sensitive,edit_history_tweet_ids,display_text_range"
)
MEDIA_FIELDS = "media_key,type,url,preview_image_url,width,height,alt_text,duration_ms,variants"
USER_FIELDS = "id,name,username,description,profile_image_url,url,entities,protected,created_at,location"
POLL_FIELDS = "id,options,duration_minutes,end_datetime,voting_status"

TWEET_PARAMS: dict[str, str] = {
    "expansions": TWEET_EXPANSIONS,
    "tweet.fields": TWEET_FIELDS,
    "media.fields": MEDIA_FIELDS,
    "user.fields": USER_FIELDS,
    "poll.fields": POLL_FIELDS,
}
USER_PARAMS: dict[str, str] = {"user.fields": USER_FIELDS}

# Endpoint templates: the keys of the rate budgets.
EP_USER_BY_USERNAME = "/2/users/by/username/:username"
EP_USERS = "/2/users"
EP_TIMELINE = "/2/users/:id/tweets"
EP_TWEETS = "/2/tweets"
EP_TWEET = "/2/tweets/:id"

BATCH = 100
_NOT_FOUND_TYPES = ("resource-not-found", "not-authorized-for-resource", "resource-unavailable")


def _empty_includes() -> dict[str, list[dict[str, Any]]]:
    return {"users": [], "tweets": [], "media": [], "polls": []}


@dataclass(slots=True)
class TimelinePage:
    """One page of a user timeline: raw tweets (newest first), raw includes, Problems and paging meta."""

    tweets: list[dict[str, Any]] = field(default_factory=list)
    includes: dict[str, list[dict[str, Any]]] = field(default_factory=_empty_includes)
    errors: list[dict[str, Any]] = field(default_factory=list)
    next_token: str | None = None
    newest_id: str | None = None
    oldest_id: str | None = None
    result_count: int = 0


@dataclass(slots=True)
class LookupResult:
    """Tweets looked up by id: raw tweets by id, merged raw includes, Problems, and the ids not had."""

    tweets: dict[str, dict[str, Any]] = field(default_factory=dict)
    includes: dict[str, list[dict[str, Any]]] = field(default_factory=_empty_includes)
    problems: list[dict[str, Any]] = field(default_factory=list)
    not_found: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> its Problem


def _merge_includes(into: dict[str, list[dict[str, Any]]], more: Any) -> None:
    if not isinstance(more, dict):
        return
    for key, items in more.items():
        if isinstance(items, list):
            into.setdefault(key, []).extend(i for i in items if isinstance(i, dict))


def problem_is_not_found(problem: dict[str, Any]) -> bool:
    """True for a Problem that means the resource cannot be had (deleted, protected, suspended)."""
    kind = str(problem.get("type", ""))
    return any(kind.endswith(t) for t in _NOT_FOUND_TYPES) or problem.get("title") in (
        "Not Found Error",
        "Authorization Error",
        "Forbidden",
    )


def _problem_id(problem: dict[str, Any]) -> str | None:
    value = problem.get("resource_id") or problem.get("value")
    return str(value) if value is not None else None


def _int_header(response: httpx.Response, name: str) -> int | None:
    value = response.headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _chunks(ids: list[str], size: int = BATCH) -> Iterable[list[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _dedup(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(str(i) for i in ids))


class TwitterClient:
    """Async X API v2 client; one per process, shared by every task (its limiter is shared too)."""

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
        self._http = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(timeout, connect=10.0),
            headers={"User-Agent": "nostrweet"},
            follow_redirects=True,
        )

    async def __aenter__(self) -> TwitterClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()

    # -- the request loop -------------------------------------------------------------------

    def backoff_delay(self, attempt: int) -> float:
        """Jittered exponential backoff: base·2^attempt, ±50 %."""
        return float(self.backoff_base * (2**attempt) * self.rng.uniform(0.5, 1.5))

    def _update_budget(self, endpoint: str, response: httpx.Response) -> None:
        self.limiter.update(
            endpoint,
            _int_header(response, "x-rate-limit-limit"),
            _int_header(response, "x-rate-limit-remaining"),
            _int_header(response, "x-rate-limit-reset"),
        )

    async def _get_json(self, endpoint: str, path: str, params: dict[str, str]) -> dict[str, Any]:
        """GET ``<api>/path`` with the rules of the module docstring; the decoded JSON object."""
        url = f"{self.api_url}{path}"
        headers = {"Authorization": f"Bearer {self._token.reveal()}"}
        failures = 0
        limited = 0
        while True:
            await self.limiter.acquire(endpoint)
            try:
                self.requests_sent += 1
                response = await self._http.get(url, params=params, headers=headers)
            except httpx.TransportError as exc:
                failures += 1
                if failures >= self.max_tries:
                    raise TwitterApiError(
                        f"X API unreachable at {self.api_url} ({exc.__class__.__name__}) after {failures} tries"
                    ) from None
                delay = self.backoff_delay(failures - 1)
                log.warning("X API %s: %s; retry in %.1f s", endpoint, exc.__class__.__name__, delay)
                await self.sleep(delay)
                continue
            self._update_budget(endpoint, response)
            status = response.status_code
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
                log.warning("X API %s answered HTTP %d; retry in %.1f s", endpoint, status, delay)
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
            try:
                body = response.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                raise TwitterApiError(f"X API {endpoint} answered HTTP {status} without a JSON object")
            return body

    async def _wait_429(self, endpoint: str, response: httpx.Response, times: int) -> None:
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
        budget = self.limiter.budget(endpoint)
        budget.remaining = 0
        budget.reset_epoch = reset

    # -- users --------------------------------------------------------------------------------

    async def user_by_username_raw(self, username: str) -> dict[str, Any]:
        """The raw user object of ``username``; NotFoundError if there is none (or it is suspended)."""
        name = layout.normalize_username(username)
        body = await self._get_json(EP_USER_BY_USERNAME, f"/2/users/by/username/{name}", dict(USER_PARAMS))
        data = body.get("data")
        if not isinstance(data, dict):
            problems = body.get("errors") or []
            detail = problems[0].get("detail") if problems and isinstance(problems[0], dict) else None
            raise NotFoundError(f"X user @{name} not found" + (f": {detail}" if detail else ""))
        return data

    async def user_by_username(self, username: str) -> User:
        """The user ``username``; NotFoundError if there is none."""
        return msgspec.convert(await self.user_by_username_raw(username), User, strict=False)

    async def users_by_ids_raw(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """Raw user objects by id, in batches of 100; ids that cannot be had are left out."""
        found: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(_dedup(ids)):
            params = dict(USER_PARAMS, ids=",".join(chunk))
            body = await self._get_json(EP_USERS, "/2/users", params)
            for user in body.get("data") or []:
                if isinstance(user, dict) and "id" in user:
                    found[str(user["id"])] = user
        return found

    async def users_by_ids(self, ids: list[str]) -> dict[str, User]:
        """Users by id (batches of 100); ids that cannot be had are left out."""
        raw = await self.users_by_ids_raw(ids)
        return {k: msgspec.convert(v, User, strict=False) for k, v in raw.items()}

    # -- tweets -------------------------------------------------------------------------------

    async def user_timeline(
        self,
        user_id: str,
        *,
        since_id: str | None = None,
        until_id: str | None = None,
        max_results: int = 100,
        pagination_token: str | None = None,
        start_time: str | None = None,
    ) -> TimelinePage:
        """One page of a user's tweets, newest first. ``max_results`` is clamped to 5..100."""
        params = dict(TWEET_PARAMS, max_results=str(min(100, max(5, max_results))))
        if since_id:
            params["since_id"] = str(since_id)
        if until_id:
            params["until_id"] = str(until_id)
        if pagination_token:
            params["pagination_token"] = pagination_token
        if start_time:
            params["start_time"] = start_time
        body = await self._get_json(EP_TIMELINE, f"/2/users/{user_id}/tweets", params)
        page = TimelinePage()
        page.tweets = [t for t in body.get("data") or [] if isinstance(t, dict) and "id" in t]
        _merge_includes(page.includes, body.get("includes"))
        page.errors = [p for p in body.get("errors") or [] if isinstance(p, dict)]
        meta = body.get("meta") or {}
        page.next_token = meta.get("next_token") or None
        page.newest_id = meta.get("newest_id")
        page.oldest_id = meta.get("oldest_id")
        page.result_count = int(meta.get("result_count") or len(page.tweets))
        return page

    def _collect(self, result: LookupResult, body: dict[str, Any], asked: Iterable[str]) -> None:
        data = body.get("data")
        tweets = data if isinstance(data, list) else [data] if isinstance(data, dict) else []
        for tweet in tweets:
            if isinstance(tweet, dict) and "id" in tweet:
                result.tweets[str(tweet["id"])] = tweet
        _merge_includes(result.includes, body.get("includes"))
        asked_set = set(asked)
        for problem in body.get("errors") or []:
            if not isinstance(problem, dict):
                continue
            result.problems.append(problem)
            pid = _problem_id(problem)
            kind = problem.get("resource_type")
            if pid in asked_set and kind in (None, "tweet") and problem_is_not_found(problem):
                result.not_found[pid] = problem
        for tweet_id in asked_set - result.tweets.keys() - result.not_found.keys():
            # Neither data nor a Problem: count it as not found, with a Problem of our own.
            result.not_found[tweet_id] = {
                "title": "Not Found Error",
                "detail": f"Could not find tweet with id: [{tweet_id}].",
                "type": "https://api.twitter.com/2/problems/resource-not-found",
                "resource_type": "tweet",
                "resource_id": tweet_id,
                "value": tweet_id,
            }

    async def tweets_by_ids(self, ids: list[str]) -> LookupResult:
        """Look tweets up by id in batches of 100 (``/2/tweets?ids=``), with every expansion we need."""
        result = LookupResult()
        for chunk in _chunks(_dedup(ids)):
            params = dict(TWEET_PARAMS, ids=",".join(chunk))
            body = await self._get_json(EP_TWEETS, "/2/tweets", params)
            self._collect(result, body, chunk)
        return result

    async def tweet(self, tweet_id: str) -> LookupResult:
        """Look one tweet up (``/2/tweets/:id``)."""
        result = LookupResult()
        try:
            body = await self._get_json(EP_TWEET, f"/2/tweets/{tweet_id}", dict(TWEET_PARAMS))
        except NotFoundError:
            body = {}
        self._collect(result, body, [str(tweet_id)])
        return result

    # -- media --------------------------------------------------------------------------------

    async def download(self, url: str, dest: Path, *, max_bytes: int) -> bool:
        """Stream ``url`` to ``dest`` atomically (temp file, fsync, rename), without the API token.

        True when ``dest`` is in place (already there, or downloaded). False, with a warning, when the
        media cannot be had: a 4xx answer or more than ``max_bytes``. Transient errors are retried;
        when they persist, TwitterApiError.
        """
        if _exists(dest):
            return True
        failures = 0
        while True:
            try:
                return await self._download_once(url, dest, max_bytes)
            except (httpx.TransportError, _RetryableStatus) as exc:
                failures += 1
                if failures >= self.max_tries:
                    raise TwitterApiError(
                        f"media download failed after {failures} tries: {url} ({exc})"
                    ) from None
                await self.sleep(self.backoff_delay(failures - 1))

    async def _download_once(self, url: str, dest: Path, max_bytes: int) -> bool:
        tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}{layout.TEMP_SUFFIX}")
        try:
            async with self._http.stream("GET", url) as response:
                if response.status_code >= 500 or response.status_code == 429:
                    raise _RetryableStatus(f"HTTP {response.status_code}")
                if response.status_code >= 400:
                    log.warning("media not available (HTTP %d): %s", response.status_code, url)
                    return False
                length = response.headers.get("content-length")
                if length and length.isdigit() and int(length) > max_bytes:
                    log.warning("media larger than %d bytes, skipped: %s", max_bytes, url)
                    return False
                size = 0
                # Chunks are small; a blocking write of each is cheaper than a thread hop.
                with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644), "wb") as handle:
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > max_bytes:
                            log.warning("media larger than %d bytes, skipped: %s", max_bytes, url)
                            return False
                        handle.write(chunk)
                    handle.flush()
                    os.fsync(handle.fileno())
            os.replace(tmp, dest)
            fsync_dir(dest.parent)
            return True
        finally:
            tmp.unlink(missing_ok=True)


def _exists(path: Path) -> bool:
    return path.exists()


class _RetryableStatus(Exception):
    pass


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict):
        text = body.get("detail") or body.get("title")
        if not text and isinstance(body.get("errors"), list) and body["errors"]:
            first = body["errors"][0]
            text = first.get("message") or first.get("detail") if isinstance(first, dict) else None
        return f"({' '.join(str(text).split())})" if text else ""
    return ""


def _auth_message(status: int, response: httpx.Response) -> str:
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
