"""Async X API v2 client: the endpoints we call, each one method returning typed values.

Requests go to ``<api_url>/2/...``. Each answer is decoded once, here at the boundary, into the typed
models of :mod:`nostrweet.twitter.models`; every object keeps the raw JSON it was read from
(:class:`~nostrweet.twitter.wire.Decoded`), which is what the cache stores. Problems inside a 200 are
returned to the caller (not-found ids become ``not_found``).

This module is the public face; the parts live next to it:
- :mod:`nostrweet.twitter.api` (pure): parameters, endpoint templates, response → result values;
- :mod:`nostrweet.twitter.wire` (pure): the typed decoding of X's objects and its leniency;
- :mod:`nostrweet.twitter.session`: the request policy (rate budgets, 429 waits, jittered retries,
  typed errors for 4xx) and the HTTP client;
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable

import httpx

from nostrweet.errors import NotFoundError
from nostrweet.names import normalize_username
from nostrweet.secret import Secret
from nostrweet.twitter.api import (
    BATCH,
    EP_TIMELINE,
    EP_TWEET,
    EP_TWEETS,
    EP_USER_BY_USERNAME,
    EP_USERS,
    MEDIA_FIELDS,
    POLL_FIELDS,
    TWEET_EXPANSIONS,
    TWEET_FIELDS,
    TWEET_PARAMS,
    USER_FIELDS,
    USER_PARAMS,
    LookupResult,
    TimelinePage,
    chunks,
    collect_lookup,
    dedup,
    problem_is_not_found,
    timeline_page,
    user_data,
    users_by_id,
)
from nostrweet.twitter.models import User
from nostrweet.twitter.ratelimit import RateLimiter
from nostrweet.twitter.session import ApiSession
from nostrweet.twitter.wire import Decoded

__all__ = [
    "BATCH",
    "EP_TIMELINE",
    "EP_TWEET",
    "EP_TWEETS",
    "EP_USERS",
    "EP_USER_BY_USERNAME",
    "MEDIA_FIELDS",
    "POLL_FIELDS",
    "TWEET_EXPANSIONS",
    "TWEET_FIELDS",
    "TWEET_PARAMS",
    "USER_FIELDS",
    "USER_PARAMS",
    "ApiSession",
    "LookupResult",
    "TimelinePage",
    "TwitterClient",
    "problem_is_not_found",
]


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
        page_size: int | None = None,
    ) -> None:
        self.page_size = page_size  # a cap on every timeline page (`[daemon] max_tweets_per_poll`)
        self.session = ApiSession(
            api_url,
            bearer_token,
            limiter=limiter,
            max_429_wait=max_429_wait,
            max_tries=max_tries,
            backoff_base=backoff_base,
            timeout=timeout,
            transport=transport,
            clock=clock,
            sleep=sleep,
            rng=rng,
        )

    @property
    def api_url(self) -> str:
        """The API root, without a trailing slash."""
        return self.session.api_url

    @property
    def limiter(self) -> RateLimiter:
        """The per-endpoint rate budgets every request goes through."""
        return self.session.limiter

    @property
    def requests_sent(self) -> int:
        """How many API requests were sent (each retry counts)."""
        return self.session.requests_sent

    def backoff_delay(self, attempt: int) -> float:
        """Jittered exponential backoff: base·2^attempt, ±50 %."""
        return self.session.backoff_delay(attempt)

    async def __aenter__(self) -> TwitterClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self.session.aclose()

    # -- users --------------------------------------------------------------------------------

    async def user_answer(self, username: str) -> Decoded[User]:
        """The user ``username`` with its raw object; NotFoundError if there is none (or it is
        suspended), TwitterApiError if X answers one nostrweet cannot read."""
        name = normalize_username(username)
        path = f"/2/users/by/username/{name}"
        body = await self.session.get_json(EP_USER_BY_USERNAME, path, dict(USER_PARAMS))
        return user_data(body, name)

    async def user_by_username(self, username: str) -> User:
        """The user ``username``; NotFoundError if there is none."""
        return (await self.user_answer(username)).value

    async def users_answer(self, ids: list[str]) -> dict[str, Decoded[User]]:
        """Users by id with their raw objects, in batches of 100; ids that cannot be had are left out."""
        found: dict[str, Decoded[User]] = {}
        for chunk in chunks(dedup(ids)):
            params = dict(USER_PARAMS, ids=",".join(chunk))
            found.update(users_by_id(await self.session.get_json(EP_USERS, "/2/users", params)))
        return found

    async def users_by_ids(self, ids: list[str]) -> dict[str, User]:
        """Users by id (batches of 100); ids that cannot be had are left out."""
        return {k: v.value for k, v in (await self.users_answer(ids)).items()}

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
        """One page of a user's tweets, newest first.

        ``max_results`` is capped by the client's ``page_size``, then clamped to 5..100.
        """
        if self.page_size is not None:
            max_results = min(max_results, self.page_size)
        params = dict(TWEET_PARAMS, max_results=str(min(100, max(5, max_results))))
        if since_id:
            params["since_id"] = str(since_id)
        if until_id:
            params["until_id"] = str(until_id)
        if pagination_token:
            params["pagination_token"] = pagination_token
        if start_time:
            params["start_time"] = start_time
        body = await self.session.get_json(EP_TIMELINE, f"/2/users/{user_id}/tweets", params)
        return timeline_page(body)

    async def tweets_by_ids(self, ids: list[str]) -> LookupResult:
        """Look tweets up by id in batches of 100 (``/2/tweets?ids=``), with every expansion we need."""
        result = LookupResult()
        for chunk in chunks(dedup(ids)):
            params = dict(TWEET_PARAMS, ids=",".join(chunk))
            body = await self.session.get_json(EP_TWEETS, "/2/tweets", params)
            collect_lookup(result, body, chunk)
        return result

    async def tweet(self, tweet_id: str) -> LookupResult:
        """Look one tweet up (``/2/tweets/:id``)."""
        result = LookupResult()
        try:
            body = await self.session.get_json(EP_TWEET, f"/2/tweets/{tweet_id}", dict(TWEET_PARAMS))
        except NotFoundError:
            body = {}
        collect_lookup(result, body, [str(tweet_id)])
        return result
