"""The X client's own transport (aiohttp) against real sockets: the OpenAPI-validating fake X server,
and a hostile server of our own for answers that never end.

The request policy itself (429 waits, retries, error mapping) is tested through httpx.MockTransport in
tests/unit/test_twitter_client.py; here the aiohttp sender must give that policy the same answers and
failures: headers read, dropped connections and timeouts retried, bodies bounded, the token never shown.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from nostrweet.errors import TwitterApiError, TwitterAuthError
from nostrweet.secret import Secret
from nostrweet.twitter.api import EP_TIMELINE
from nostrweet.twitter.client import TwitterClient
from nostrweet.twitter.transport import AiohttpSender, env_proxy
from tests.fakes.x_api import FakeXApi

pytestmark = pytest.mark.integration

PHILLY = "PhillyNEFL"


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def client_of(url: str, token: str, **kwargs: object) -> TwitterClient:
    client = TwitterClient(url, Secret(token), rng=random.Random(1), **kwargs)  # type: ignore[arg-type]
    assert isinstance(client.session.sender, AiohttpSender)
    return client


async def test_timeline_over_aiohttp_reads_answer_and_budget(fake_x: FakeXApi) -> None:
    async with client_of(fake_x.url, fake_x.bearer_token) as client:
        user = await client.user_by_username(PHILLY)
        page = await client.user_timeline(user.id, max_results=5)
        again = await client.user_timeline(user.id, since_id=page.newest_id)
    assert page.tweets and page.result_count == len(page.tweets)
    assert again.tweets == []
    timeline = fake_x.requests_to("/2/users/{id}/tweets")
    assert [r.query.get("since_id") for r in timeline] == [None, page.newest_id]
    sent = timeline[-1].headers
    budget = client.limiter.snapshot()[EP_TIMELINE]
    assert budget["limit"] == int(sent["x-rate-limit-limit"])
    assert budget["remaining"] == int(sent["x-rate-limit-remaining"])
    assert budget["reset"] == int(sent["x-rate-limit-reset"])


async def test_dropped_connection_and_5xx_are_retried(fake_x: FakeXApi) -> None:
    sleeps = Sleeps()
    fake_x.faults.drop(times=1)
    fake_x.faults.fail_5xx(times=1)
    async with client_of(fake_x.url, fake_x.bearer_token, sleep=sleeps) as client:
        user = await client.user_by_username(PHILLY)
    assert user.username == PHILLY
    # each try is one request, reserved in the budget and retried after a backoff: aiohttp's own
    # silent retry of a dropped connection would send one the budget never allowed
    assert [r.status for r in fake_x.requests] == [0, 503, 200]
    assert len(sleeps.calls) == 2


async def test_timeouts_are_retried_then_give_up(fake_x: FakeXApi) -> None:
    fake_x.faults.latency(2.0)
    sleeps = Sleeps()
    async with client_of(fake_x.url, fake_x.bearer_token, sleep=sleeps, timeout=0.2, max_tries=2) as client:
        with pytest.raises(TwitterApiError, match="unreachable") as info:
            await client.user_by_username(PHILLY)
    assert "Timeout" in str(info.value)
    assert len(sleeps.calls) == 1
    assert len(fake_x.requests) == 2


async def test_429_waits_for_the_reset(fake_x: FakeXApi) -> None:
    fake_x.faults.fail_429(times=1, reset_in=3600)
    async with client_of(fake_x.url, fake_x.bearer_token, max_429_wait=60) as client:
        with pytest.raises(TwitterApiError, match="resets in"):
            await client.user_by_username(PHILLY)
        assert client.limiter.snapshot()["/2/users/by/username/:username"]["remaining"] == 0


async def test_wrong_token_is_an_auth_error_that_never_shows_a_token(fake_x: FakeXApi) -> None:
    wrong = "not-the-token-0123456789"
    async with client_of(fake_x.url, wrong) as client:
        with pytest.raises(TwitterAuthError) as info:
            await client.user_by_username(PHILLY)
    assert wrong not in str(info.value) and fake_x.bearer_token not in str(info.value)


async def test_answer_over_the_limit_is_not_read_past_it(fake_x: FakeXApi) -> None:
    async with client_of(fake_x.url, fake_x.bearer_token) as client:
        client.session.max_answer_bytes = 200
        with pytest.raises(TwitterApiError, match="more than 200 bytes") as info:
            await client.user_by_username(PHILLY)
    assert fake_x.bearer_token not in str(info.value)


@pytest.fixture
async def endless() -> AsyncIterator[tuple[str, list[int]]]:
    """A server whose answer, without a Content-Length, never ends; yields its URL and the bytes it sent."""
    sent = [0]

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        await response.write(b'{"data": "')
        while True:
            await response.write(b"x" * 65536)
            sent[0] += 65536
            await asyncio.sleep(0)

    app = web.Application()
    app.router.add_get("/2/users/by/username/{name}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", sent
    finally:
        await runner.cleanup()


async def test_endless_answer_is_cut_at_the_limit(endless: tuple[str, list[int]]) -> None:
    url, _sent = endless
    async with client_of(url, "token") as client:
        client.session.max_answer_bytes = 1 << 20
        with pytest.raises(TwitterApiError, match=f"more than {1 << 20} bytes"):
            await asyncio.wait_for(client.user_by_username(PHILLY), 30)
    assert client.requests_sent == 1  # not retried: a hostile answer is not a network failure


def test_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    assert env_proxy("https://api.x.com/2/users") is None
    monkeypatch.setenv("HTTPS_PROXY", "proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    assert env_proxy("https://api.x.com/2/users") == "http://proxy.example:3128"
    assert env_proxy("http://api.x.com/2/users") is None
    assert env_proxy("https://localhost:8443/2/users") is None


def test_aiohttp_is_loaded_only_by_a_request() -> None:
    probe = (
        "import sys; import nostrweet.twitter.client as c; "
        "c.TwitterClient('http://api.test', c.Secret('t')); print('aiohttp' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "False"


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


async def test_a_redirect_to_another_origin_never_carries_the_token() -> None:
    seen: dict[str, str | None] = {}

    async def elsewhere(request: web.Request) -> web.Response:
        seen["elsewhere"] = request.headers.get("Authorization")
        user = {"id": "1", "name": "Philly", "username": PHILLY}
        return web.json_response({"data": user})

    other, other_url = await _serve(_app(elsewhere))

    async def api(request: web.Request) -> web.Response:
        seen["api"] = request.headers.get("Authorization")
        raise web.HTTPFound(other_url + request.path_qs)

    first, api_url = await _serve(_app(api))
    try:
        async with client_of(api_url, "redirect-secret-token") as client:
            await client.user_by_username(PHILLY)
    finally:
        await first.cleanup()
        await other.cleanup()
    assert seen["api"] == "Bearer redirect-secret-token"
    assert "elsewhere" in seen and seen["elsewhere"] is None


def _app(handler: object) -> web.Application:
    app = web.Application()
    app.router.add_get("/2/users/by/username/{name}", handler)  # type: ignore[arg-type]
    return app
