"""Webhook deliveries over real HTTP to a receiver that checks signatures, on both state backends:
a receiver that is down for a while gets every delivery afterwards, in order per user, each once; a new
process (a restart) delivers what the last one queued."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nostrweet.secret import Secret
from nostrweet.state.engine import State, open_state
from nostrweet.state.webhooks import WebhookQueue
from nostrweet.webhook_config import Webhook
from nostrweet.webhooks.payload import EVENTS, WebhookEvent
from nostrweet.webhooks.sender import Webhooks
from tests.fakes.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def state(state_url: str) -> Iterator[State]:
    opened = open_state(state_url)
    yield opened
    opened.close()


def published(username: str, n: int, at: float) -> WebhookEvent:
    return WebhookEvent(
        "tweet.published",
        username,
        at,
        subject=str(n),
        tweet_id=str(n),
        relays={"wss://r.example": "accepted"},
    )


async def test_down_receiver_gets_everything_later_in_order_once(
    state: State, webhook_receiver: WebhookReceiver
) -> None:
    clock = Clock()
    hook = Webhook(webhook_receiver.url, frozenset(EVENTS), Secret("whsec-test"))
    hooks = Webhooks([hook], WebhookQueue(state), instance_id="a", clock=clock)
    try:
        webhook_receiver.status = 503
        for n in range(1, 6):
            hooks.emit(published("jack", n, clock.now + n))
            hooks.emit(published("ann", 100 + n, clock.now + n))
        hooks.emit(published("jack", 1, clock.now + 99))  # the same tweet again: one delivery
        assert await hooks.deliver_due() == 0
        assert webhook_receiver.posts == 2  # one head per user; the rest wait behind them
        for _ in range(3):  # still down: each head retried after its backoff, never the later ones
            clock.now += 3600
            assert await hooks.deliver_due() == 0
        assert webhook_receiver.posts == 8
        webhook_receiver.status = 200
        assert await hooks.deliver_due() == 0  # the backoff is not over yet
        clock.now += 3600
        assert await hooks.deliver_due() == 10
    finally:
        await hooks.aclose()
    assert webhook_receiver.bad_signatures == 0 and webhook_receiver.repeats == 0
    by_user: dict[str, list[str]] = {}
    for doc in webhook_receiver.accepted:
        by_user.setdefault(doc["username"], []).append(doc["tweet_id"])
    assert by_user == {"jack": ["1", "2", "3", "4", "5"], "ann": ["101", "102", "103", "104", "105"]}
    assert WebhookQueue(state).pending() == 0


async def test_a_restart_delivers_what_the_last_process_queued(
    state_url: str, webhook_receiver: WebhookReceiver
) -> None:
    hook = Webhook(webhook_receiver.url, frozenset({"tweet.archived"}), Secret("whsec-test"))
    first = open_state(state_url)
    try:
        queued = Webhooks([hook], WebhookQueue(first), instance_id="gone")
        queued.emit(WebhookEvent("tweet.archived", "jack", 1_700_000_000, subject="7", tweet_id="7"))
        queued.emit(published("jack", 8, 1_700_000_001))  # not subscribed: never queued
    finally:
        first.close()  # the process ends before delivering anything
    second = open_state(state_url)
    hooks = Webhooks([hook], WebhookQueue(second), instance_id="next")
    try:
        await hooks.drain()
    finally:
        await hooks.aclose()
        second.close()
    assert [(d["event"], d["tweet_id"]) for d in webhook_receiver.accepted] == [("tweet.archived", "7")]


async def test_a_wrong_secret_is_refused_by_the_receiver_and_retried(
    state: State, webhook_receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    hook = Webhook(webhook_receiver.url, frozenset(EVENTS), Secret("not-the-secret"))
    hooks = Webhooks([hook], WebhookQueue(state), instance_id="a")
    try:
        hooks.emit(published("jack", 1, 1_700_000_000))
        assert await hooks.deliver_due() == 0
    finally:
        await hooks.aclose()
    assert webhook_receiver.bad_signatures == 1 and webhook_receiver.accepted == []
    (delivery,) = WebhookQueue(state).log()
    assert delivery.delivered_at is None and delivery.last_error == "HTTP 401" and delivery.attempts == 1
    assert "HTTP 401" in caplog.text and "hunter2" not in caplog.text  # the URL's token is never logged
