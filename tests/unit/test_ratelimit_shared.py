"""The X budget shared through the state (SPEC §5, §7): limiters of several instances together never
take more requests than the headers allow, and a 429 empties the budget for all of them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from nostrweet.errors import TwitterApiError
from nostrweet.state.budgets import SharedBudgets, merge_changes_nothing
from nostrweet.state.engine import State, open_state
from nostrweet.twitter.ratelimit import RateBudget, RateLimiter

EP = "/2/users/:id/tweets"
NOW = 1_700_000_000.0


@pytest.fixture
def state(state_url: str) -> Iterator[State]:
    opened = open_state(state_url)
    yield opened
    opened.close()


def limiter(state: State) -> RateLimiter:
    return RateLimiter(max_wait=5, clock=lambda: NOW, shared=SharedBudgets(state))


async def test_instances_together_stay_within_the_budget(state: State) -> None:
    group = [limiter(state) for _ in range(3)]
    await group[0].record(EP, 15, 7, int(NOW) + 600)

    async def take(lim: RateLimiter) -> bool:
        try:
            await lim.acquire(EP)
        except TwitterApiError:
            return False
        return True

    results = await asyncio.gather(*(take(group[k % 3]) for k in range(12)))
    assert sum(results) == 7
    assert SharedBudgets(state).get(EP).remaining == 0
    # a header with more left in the same window does not give requests back
    await group[1].record(EP, 15, 5, int(NOW) + 600)
    assert SharedBudgets(state).get(EP).remaining == 0
    assert group[1].snapshot()[EP]["remaining"] in range(0, 5)  # a mirror: at most what it last saw


def test_merge_changes_nothing() -> None:
    seen = RateBudget(15, 4, 900)
    assert merge_changes_nothing(seen, 15, 4, 900)
    assert merge_changes_nothing(seen, None, 9, 900)  # more left in the same window: min() keeps ours
    assert not merge_changes_nothing(seen, 15, 3, 900)  # fewer left: the row must go down
    assert not merge_changes_nothing(seen, 15, 9, 1800)  # another window replaces the row
    assert not merge_changes_nothing(seen, 16, 9, 900)  # another limit
    assert not merge_changes_nothing(seen, 15, 9, None)
    assert not merge_changes_nothing(None, 15, 9, 900)
    assert not merge_changes_nothing(RateBudget(15, None, 900), 15, 9, 900)


def test_an_answer_that_changes_nothing_is_not_written_and_one_that_does_is(state: State) -> None:
    budgets = SharedBudgets(state)
    budgets.update(EP, 15, 10, 900)
    assert budgets.reserve(EP, 100.0) == 0.0  # the row: 9 left
    other = SharedBudgets(state)  # another instance
    assert other.reserve(EP, 100.0) == 0.0  # 8 left
    assert budgets.update(EP, 15, 9, 900).remaining == 9  # skipped: an upper bound of the row
    assert SharedBudgets(state).get(EP).remaining == 8
    assert budgets.update(EP, 15, 6, 900).remaining == 6  # the server counts fewer: written
    assert SharedBudgets(state).get(EP) == RateBudget(15, 6, 900)
    assert other.update(EP, 15, 7, 1800).remaining == 7  # a new window: written
    assert SharedBudgets(state).get(EP) == RateBudget(15, 7, 1800)


async def test_a_429_empties_the_budget_for_every_instance(state: State) -> None:
    one, two = limiter(state), limiter(state)
    await one.record(EP, 15, 10, int(NOW) + 3)
    await one.exhausted(EP, int(NOW) + 3)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        two.clock = lambda: NOW + 10  # the reset has passed

    two.sleep = sleep
    await two.acquire(EP)
    assert slept == [4.0]  # waited for the reset (plus the margin) before taking one


def test_reservations_from_threads_at_once_never_take_more_than_is_left(state: State) -> None:
    """Four instances reserve from four threads at the same moment: exactly ``remaining`` succeed, and a
    window that is over starts a new one with ``limit - 1`` left and no reset."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    SharedBudgets(state).update(EP, 50, 30, int(NOW) + 60)
    barrier = threading.Barrier(4)

    def run(_: int) -> int:
        budgets = SharedBudgets(state)
        barrier.wait()
        return sum(budgets.reserve(EP, NOW) == 0.0 for _ in range(12))

    with ThreadPoolExecutor(4) as pool:
        taken = list(pool.map(run, range(4)))
    assert sum(taken) == 30
    assert SharedBudgets(state).get(EP) == RateBudget(50, 0, int(NOW) + 60)
    assert SharedBudgets(state).reserve(EP, NOW + 60) == pytest.approx(1.0)  # the margin
    assert SharedBudgets(state).reserve(EP, NOW + 61) == 0.0
    assert SharedBudgets(state).get(EP) == RateBudget(50, 49, None)
