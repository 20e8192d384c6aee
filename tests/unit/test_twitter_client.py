"""The X API client against httpx.MockTransport built from recorded fixture bodies and headers.

Time is fake: the client's clock and sleep are injected, so 429 waits and backoff are instant and
their lengths can be asserted.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from nostrweet.archive.download import download
from nostrweet.errors import NotFoundError, TwitterApiError, TwitterAuthError
from nostrweet.settings import Secret
from nostrweet.twitter.client import TwitterClient
from nostrweet.twitter.ratelimit import RESET_MARGIN
from tests.conftest import FIXTURES

TOKEN = "secret-bearer-token-xyz"
NOW = 1_700_000_000.0


def recorded(name: str) -> tuple[bytes, dict[str, str]]:
    """A fixture body and its recorded headers."""
    body = (FIXTURES / f"{name}.json").read_bytes()
    meta = json.loads((FIXTURES / f"{name}.meta.json").read_text())
    return body, dict(meta["response"]["headers"])


class Clock:
    def __init__(self) -> None:
        self.now = NOW
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


Handler = Callable[[httpx.Request], httpx.Response]


def make_client(handler: Handler, clock: Clock, rng: Any = None, **kwargs: Any) -> TwitterClient:
    return TwitterClient(
        "http://api.test",
        Secret(TOKEN),
        transport=httpx.MockTransport(handler),
        clock=clock,
        sleep=clock.sleep,
        rng=rng or random.Random(1),
        **kwargs,
    )


def ok(name: str, *, now: float = NOW) -> httpx.Response:
    body, headers = recorded(name)
    headers["x-rate-limit-reset"] = str(int(now) + 900)
    return httpx.Response(200, content=body, headers=headers)


async def test_lookup_sends_token_and_fields() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return ok("tweepy/get_tweets")

    clock = Clock()
    async with make_client(handler, clock) as client:
        result = await client.tweets_by_ids(["1293593516040269825", "1293595870563381249"])
    assert set(result.tweets) == {"1293593516040269825", "1293595870563381249"}
    assert result.not_found == {}
    request = seen[0]
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.url.path == "/2/tweets"
    assert "note_tweet" in request.url.params["tweet.fields"].split(",")
    assert "variants" in request.url.params["media.fields"].split(",")
    assert "referenced_tweets.id.author_id" in request.url.params["expansions"].split(",")
    assert client.limiter.snapshot()["/2/tweets"]["remaining"] == 298


async def test_batches_of_100() -> None:
    sizes: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        ids = request.url.params["ids"].split(",")
        sizes.append(len(ids))
        data = [{"id": i, "text": "x"} for i in ids]
        return httpx.Response(200, json={"data": data})

    async with make_client(handler, Clock()) as client:
        result = await client.tweets_by_ids([str(i) for i in range(1, 251)] + ["1"])
    assert sizes == [100, 100, 50]
    assert len(result.tweets) == 250


async def test_problems_in_200_become_not_found() -> None:
    problem = {
        "value": "20",
        "detail": "Could not find tweet with ids: [20].",
        "title": "Not Found Error",
        "resource_type": "tweet",
        "parameter": "ids",
        "resource_id": "20",
        "type": "https://api.twitter.com/2/problems/resource-not-found",
    }
    protected = dict(problem, value="21", resource_id="21", title="Authorization Error")
    protected["type"] = "https://api.twitter.com/2/problems/not-authorized-for-resource"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json={"data": [{"id": "22", "text": "hi"}], "errors": [problem, protected]}
        )

    async with make_client(handler, Clock()) as client:
        result = await client.tweets_by_ids(["20", "21", "22", "23"])
    assert set(result.tweets) == {"22"}
    assert set(result.not_found) == {"20", "21", "23"}  # 23: neither data nor Problem
    assert result.not_found["21"]["title"] == "Authorization Error"


async def test_429_waits_until_reset_then_retries() -> None:
    clock = Clock()
    times: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        times.append(clock.now)
        if len(times) == 1:
            return httpx.Response(
                429,
                json={"title": "Too Many Requests", "status": 429, "type": "about:blank"},
                headers={
                    "x-rate-limit-limit": "300",
                    "x-rate-limit-remaining": "0",
                    "x-rate-limit-reset": str(int(NOW) + 2),
                },
            )
        return ok("tweepy/get_tweets", now=clock.now)

    async with make_client(handler, clock) as client:
        result = await client.tweets_by_ids(["1293593516040269825"])
    assert "1293593516040269825" in result.tweets
    assert len(times) == 2
    assert times[1] >= NOW + 2 + RESET_MARGIN - 1e-6  # no request before the reset


async def test_429_beyond_cap_fails_with_one_line() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            429, headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(int(NOW) + 3600)}
        )

    clock = Clock()
    async with make_client(handler, clock, max_429_wait=60) as client:
        with pytest.raises(TwitterApiError) as info:
            await client.tweets_by_ids(["1"])
    assert "\n" not in str(info.value) and "60" in str(info.value)
    assert clock.sleeps == []


async def test_budget_is_respected_before_sending() -> None:
    clock = Clock()
    times: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        times.append(clock.now)
        remaining = "0" if len(times) == 1 else "10"
        return httpx.Response(
            200,
            json={"data": [{"id": "1", "text": "x"}]},
            headers={
                "x-rate-limit-limit": "300",
                "x-rate-limit-remaining": remaining,
                "x-rate-limit-reset": str(int(NOW) + 30),
            },
        )

    async with make_client(handler, clock) as client:
        await client.tweets_by_ids(["1"])
        await client.tweets_by_ids(["1"])  # budget says 0 left: must wait for the reset first
    assert times[1] >= NOW + 30


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_5xx_retried_with_jittered_backoff(status: int) -> None:
    clock = Clock()
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls < 3:
            return httpx.Response(status)
        return ok("tweepy/get_tweets", now=clock.now)

    async with make_client(handler, clock) as client:
        await client.tweets_by_ids(["1293593516040269825"])
    assert calls == 3
    assert len(clock.sleeps) == 2
    assert 0.5 <= clock.sleeps[0] <= 1.5 and 1.0 <= clock.sleeps[1] <= 3.0


class FixedDraw(random.Random):
    """A random source whose every ``uniform(a, b)`` draw lies ``fraction`` of the way from a to b."""

    def __init__(self, fraction: float) -> None:
        super().__init__(0)
        self.fraction = fraction

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.fraction


@pytest.mark.parametrize(
    ("base", "attempt", "fraction", "delay"),
    [
        (1.0, 0, 0.0, 0.5),  # 1 s, -50 %
        (1.0, 0, 0.5, 1.0),
        (1.0, 0, 1.0, 1.5),  # 1 s, +50 %
        (1.0, 1, 0.0, 1.0),  # doubled
        (1.0, 1, 1.0, 3.0),
        (1.0, 2, 0.5, 4.0),
        (1.0, 4, 1.0, 24.0),
        (0.5, 3, 0.5, 4.0),  # another base
    ],
)
async def test_backoff_delay_table(base: float, attempt: int, fraction: float, delay: float) -> None:
    no_request = Clock()  # backoff_delay is pure: nothing is sent, nothing waits
    async with make_client(
        lambda request: httpx.Response(500), no_request, rng=FixedDraw(fraction), backoff_base=base
    ) as client:
        assert client.backoff_delay(attempt) == delay


async def test_5xx_retries_wait_the_policy_delays() -> None:
    clock = Clock()
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(500) if calls < 3 else ok("tweepy/get_tweets", now=clock.now)

    async with make_client(handler, clock, rng=FixedDraw(1.0)) as client:
        await client.tweets_by_ids(["1293593516040269825"])
    assert clock.sleeps == [1.5, 3.0]  # backoff_delay(0), then backoff_delay(1), before each retry


async def test_network_errors_retried_then_give_up() -> None:
    clock = Clock()
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls % 2:
            raise httpx.ConnectError("refused", request=request)
        raise httpx.RemoteProtocolError("peer closed connection", request=request)

    async with make_client(handler, clock, max_tries=5) as client:
        with pytest.raises(TwitterApiError, match="unreachable"):
            await client.user_by_username("TwitterDev")
    assert calls == 5
    assert len(clock.sleeps) == 4


async def test_read_error_then_success() -> None:
    clock = Clock()
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ReadError("connection reset", request=request)
        return ok("tweepy/get_user")

    async with make_client(handler, clock) as client:
        user = await client.user_by_username("@Twitter")
    assert user.username == "Twitter"


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_errors_name_the_token_and_never_show_it(status: int) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            status, json={"title": "Unauthorized", "status": status, "detail": "Unauthorized"}
        )

    async with make_client(handler, Clock()) as client:
        with pytest.raises(TwitterAuthError) as info:
            await client.tweets_by_ids(["1"])
    message = str(info.value)
    assert "bearer token" in message and TOKEN not in message and "\n" not in message


async def test_unknown_user_is_not_found() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "errors": [
                    {
                        "title": "Not Found Error",
                        "detail": "Could not find user with username: [nobody_here].",
                        "type": "https://api.twitter.com/2/problems/resource-not-found",
                    }
                ]
            },
        )

    async with make_client(handler, Clock()) as client:
        with pytest.raises(NotFoundError, match="nobody_here"):
            await client.user_by_username("nobody_here")


async def test_timeline_page_meta_and_params() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return ok("tweepy/get_users_tweets")

    async with make_client(handler, Clock()) as client:
        page = await client.user_timeline("783214", since_id="5", max_results=2, pagination_token="tok")
    assert page.result_count == len(page.tweets) > 0
    assert page.next_token
    params = seen[0].url.params
    assert params["max_results"] == "5" and params["since_id"] == "5" and params["pagination_token"] == "tok"


async def test_download_is_atomic_capped_and_tokenless(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("big.mp4"):
            return httpx.Response(200, content=b"x" * 5000, headers={"content-type": "video/mp4"})
        if request.url.path.endswith("gone.jpg"):
            return httpx.Response(404)
        return httpx.Response(
            200, content=b"\xff\xd8\xff" + b"j" * 100, headers={"content-type": "image/jpeg"}
        )

    async with make_client(handler, Clock()) as client:
        assert await download(
            client.session, "https://pbs.twimg.com/a.jpg", tmp_path / "a.jpg", max_bytes=1000
        )
        assert not await download(
            client.session, "https://pbs.twimg.com/big.mp4", tmp_path / "big.mp4", max_bytes=1000
        )
        assert not await download(
            client.session, "https://pbs.twimg.com/gone.jpg", tmp_path / "gone.jpg", max_bytes=1000
        )
        assert await download(
            client.session, "https://pbs.twimg.com/a.jpg", tmp_path / "a.jpg", max_bytes=1000
        )  # exists: skipped
    assert (tmp_path / "a.jpg").read_bytes().startswith(b"\xff\xd8\xff")
    assert sorted(os.listdir(tmp_path)) == ["a.jpg"]  # no temp file, nothing partial
    assert len(seen) == 3
    assert all("authorization" not in r.headers for r in seen)
