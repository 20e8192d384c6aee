"""Rate budget policy (pure) and the limiter's waiting, with a fake clock."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nostrweet.errors import TwitterApiError
from nostrweet.twitter.ratelimit import RESET_MARGIN, RateBudget, RateLimiter

NOW = 1_700_000_000.0


@given(
    limit=st.integers(min_value=1, max_value=10_000),
    reset_in=st.integers(min_value=1, max_value=900),
    before=st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_never_allows_when_empty_before_reset(limit: int, reset_in: int, before: float) -> None:
    budget = RateBudget()
    budget.update(limit, 0, int(NOW) + reset_in)
    now = NOW + before * reset_in
    assert not budget.allows(now)
    assert budget.wait_seconds(now) > 0
    assert budget.allows(now + budget.wait_seconds(now))


@given(
    limit=st.integers(min_value=1, max_value=50),
    remaining=st.integers(min_value=0, max_value=50),
    takes=st.integers(min_value=0, max_value=120),
)
def test_consume_never_goes_past_remaining(limit: int, remaining: int, takes: int) -> None:
    budget = RateBudget()
    budget.update(limit, remaining, int(NOW) + 600)
    sent = 0
    for _ in range(takes):
        if budget.allows(NOW):
            budget.consume(NOW)
            sent += 1
    assert sent == min(takes, remaining)


def test_unknown_budget_allows() -> None:
    assert RateBudget().allows(NOW)
    assert RateBudget().wait_seconds(NOW) == 0


def test_same_window_keeps_smaller_remaining_new_window_replaces() -> None:
    budget = RateBudget()
    budget.update(300, 10, 100)
    budget.update(300, 50, 100)  # a stale answer of a concurrent request
    assert budget.remaining == 10
    budget.update(300, 299, 1000)  # new window
    assert budget.remaining == 299 and budget.reset_epoch == 1000


def test_window_over_restores_limit() -> None:
    budget = RateBudget()
    budget.update(5, 0, int(NOW))
    later = NOW + RESET_MARGIN
    assert budget.allows(later)
    budget.consume(later)
    assert budget.remaining == 4


class FakeTime:
    def __init__(self) -> None:
        self.now = NOW
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_acquire_waits_for_reset() -> None:
    t = FakeTime()
    limiter = RateLimiter(clock=t.clock, sleep=t.sleep)
    limiter.update("/2/tweets", 300, 0, int(NOW) + 5)
    await limiter.acquire("/2/tweets")
    assert t.sleeps and t.now >= NOW + 5 + RESET_MARGIN
    await limiter.acquire("/2/other")  # another endpoint is not affected
    assert len(t.sleeps) == 1


async def test_acquire_refuses_wait_longer_than_cap() -> None:
    t = FakeTime()
    limiter = RateLimiter(clock=t.clock, sleep=t.sleep, max_wait=10)
    limiter.update("/2/tweets", 300, 0, int(NOW) + 500)
    with pytest.raises(TwitterApiError, match="rate limit"):
        await limiter.acquire("/2/tweets")
    assert t.sleeps == []


def test_low_budget_warns_once_per_window(caplog: pytest.LogCaptureFixture) -> None:
    limiter = RateLimiter(low_fraction=0.1)
    with caplog.at_level(logging.WARNING):
        limiter.update("/2/tweets", 100, 50, 1000)
        limiter.update("/2/tweets", 100, 9, 1000)
        limiter.update("/2/tweets", 100, 8, 1000)
        limiter.update("/2/tweets", 100, 5, 2000)
    lows = [r for r in caplog.records if "running low" in r.getMessage()]
    assert len(lows) == 2
    snap = limiter.snapshot()
    assert snap["/2/tweets"] == {"limit": 100, "remaining": 5, "reset": 2000}
