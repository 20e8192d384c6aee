"""How the HTTP server makes /healthz, /metrics and the page: from a snapshot read on the loop, made in a
worker thread, kept for ``cache_seconds``, made ahead once 0.8 of that has passed, dropped by forget().

The server's clock is a fake, so no test waits or times anything.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from nostrweet.daemon.control import DaemonSnapshot, UserView
from nostrweet.http import views
from nostrweet.http.metrics import Metrics
from nostrweet.http.server import HttpServer, HttpSettings


class Counting:
    """A control whose snapshot says how many snapshots were read (as ``tweets_cached``)."""

    def __init__(self) -> None:
        self.reads = 0
        self.threads: set[int] = set()

    def snapshot(self) -> DaemonSnapshot:
        self.reads += 1
        self.threads.add(threading.get_ident())
        return DaemonSnapshot(
            now=1000.0,
            started=900.0,
            instance="test",
            poll_interval=300.0,
            effective_interval=300.0,
            last_progress=1000.0,
            users={"alice": UserView(last_poll=990.0, polls=1)},
            relays={"ws://r": {"connected": True, "accepted": 1}},
            tweets_cached=self.reads,
        )

    def __getattr__(self, name: str) -> Any:  # the admin API's methods: not used here
        raise AttributeError(name)


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def _client(control: Counting, clock: Clock) -> tuple[HttpServer, TestClient[Any, Any]]:
    http = HttpServer(control, HttpSettings("127.0.0.1", 0, cache_seconds=10.0))  # type: ignore[arg-type]
    http.clock = clock
    client: TestClient[Any, Any] = TestClient(TestServer(http.app()))
    await client.start_server()
    return http, client


async def _cached_count(client: TestClient[Any, Any]) -> int:
    answer = await client.get("/healthz")
    assert answer.status == 200
    body = await answer.json()
    return int(body["tweets_cached"])


async def _settle(http: HttpServer) -> None:
    """Wait until the answers being made in the background are in."""
    while http._making:
        await asyncio.gather(*http._making.values())
        await asyncio.sleep(0)


async def test_an_answer_is_kept_then_made_ahead_from_a_new_snapshot(clock: Clock) -> None:
    control = Counting()
    http, client = await _client(control, clock)
    try:
        assert await _cached_count(client) == 1
        clock.t += 7  # younger than 0.8 of its life: kept, nothing new read
        assert await _cached_count(client) == 1
        assert control.reads == 1
        clock.t += 1  # 0.8 of its life: still answered at once, and the next one is made meanwhile
        assert await _cached_count(client) == 1
        await _settle(http)
        assert control.reads == 2
        assert await _cached_count(client) == 2
    finally:
        await client.close()


async def test_an_answer_older_than_its_life_is_never_served(clock: Clock) -> None:
    control = Counting()
    _http, client = await _client(control, clock)
    try:
        assert await _cached_count(client) == 1
        clock.t += 11  # no request in the last part of its life: the next one waits for a new answer
        assert await _cached_count(client) == 2
    finally:
        await client.close()


async def test_forget_drops_the_answers_and_those_being_made(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    health = views.health

    def held(snap: DaemonSnapshot) -> Any:
        if snap.tweets_cached == 2:  # answer 2 ends only after answer 3
            release.wait(10)
        return health(snap)

    monkeypatch.setattr(views, "health", held)
    control = Counting()
    http, client = await _client(control, clock)
    try:
        assert await _cached_count(client) == 1
        clock.t += 8
        assert await _cached_count(client) == 1  # starts making answer 2 in the background
        begun = list(http._making.values())
        assert begun
        http.forget()  # a change through the admin API: answer 2 was begun before it
        assert await _cached_count(client) == 3
        release.set()
        await asyncio.gather(*begun)  # answer 2 ends too: it must not replace answer 3
        await asyncio.sleep(0)
        assert await _cached_count(client) == 3
    finally:
        await client.close()


async def test_the_snapshot_is_read_on_the_loop_and_many_askers_share_one_answer(clock: Clock) -> None:
    control = Counting()
    _http, client = await _client(control, clock)
    try:
        counts = await asyncio.gather(*(_cached_count(client) for _ in range(8)))
        assert counts == [1] * 8
        assert control.threads == {threading.get_ident()}
        metrics = await client.get("/metrics")
        families = {f.name: f for f in text_string_to_metric_families(await metrics.text())}
        assert families["nostrweet_archive_tweets"].samples[0].value == control.reads
    finally:
        await client.close()


def test_metrics_render_a_given_snapshot_without_reading_the_daemon() -> None:
    def never() -> DaemonSnapshot:
        raise AssertionError("the daemon's snapshot was read from the render")

    snap = Counting().snapshot()
    text = Metrics(never).render(snap).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["nostrweet_polls"].samples[0].labels == {"user": "alice"}
    assert families["nostrweet_archive_tweets"].samples[0].value == 1
