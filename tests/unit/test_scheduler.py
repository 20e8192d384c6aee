"""The daemon's pure scheduling policy: backoff, smart spacing, rate spreading."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nostrweet.daemon import scheduler
from nostrweet.daemon.scheduler import (
    UserSchedule,
    after_failure,
    after_success,
    backoff_delay,
    capped_interval,
    due_users,
    first_poll_offsets,
    initial_schedules,
    max_polls_in_window,
    next_wakeup,
    paced_interval,
    polls_allowed,
    spacing_factor,
)


@pytest.mark.parametrize(
    ("failures", "delay"),
    [(0, 0), (1, 60), (2, 120), (3, 240), (4, 480), (5, 960), (6, 1920), (7, 3600), (8, 3600), (100, 3600)],
)
def test_backoff_table(failures: int, delay: float) -> None:
    assert backoff_delay(failures) == delay


@pytest.mark.parametrize(
    ("quiet", "factor"),
    [(0, 1), (3599, 1), (3600, 2), (7199, 2), (7200, 3), (10800, 4), (10**7, 4)],
)
def test_spacing_table(quiet: float, factor: int) -> None:
    assert spacing_factor(quiet) == factor


@pytest.mark.parametrize(
    ("now", "remaining", "reset", "n_users", "poll", "expected"),
    [
        # no header seen yet: the poll interval (the first answers teach the budget)
        (0, None, None, 3, 2, 2),
        (0, 7, None, 3, 2, 2),
        # the test server: 8 per 20 s, 3 users; 7 left for 20 s -> 3 × 20 × 1.25 / 7
        (0, 7, 20, 3, 2, 3 * 20 * 1.25 / 7),
        # X's 15-minute window: 1,500 left for 900 s, 1,000 users -> 750 s
        (0, 1500, 900, 1000, 300, 750),
        # a 24-hour window with 100 left and 3 users -> 3 × 86400 × 1.25 / 100
        (0, 100, 86_400, 3, 300, 3 * 86_400 * 1.25 / 100),
        # 2 left for 18 s and 3 users: not later than just after the reset, where a new budget begins
        (0, 2, 18, 3, 2, 19),
        # plenty left: the poll interval wins
        (0, 1500, 900, 3, 300, 300),
        # nothing left: past the reset
        (100, 0, 110, 3, 2, 11),
        # the reset has passed: the budget is new but not known yet
        (120, 0, 110, 3, 2, 2),
        (120, 5, 120, 3, 2, 2),
        (0, 5, 20, 0, 2, 2),
    ],
)
def test_paced_interval_table(
    now: float, remaining: int | None, reset: float | None, n_users: int, poll: float, expected: float
) -> None:
    assert paced_interval(now, remaining, reset, n_users, poll, 1.25) == pytest.approx(expected)


def test_paced_interval_assumes_no_window() -> None:
    # the same numbers give the same interval whatever X's window length is: only the time left counts
    assert paced_interval(1000, 10, 1060, 2, 1) == paced_interval(50_000, 10, 50_060, 2, 1)


def test_capped_interval_and_polls_allowed() -> None:
    assert capped_interval(3, 100, 900) == 27
    assert capped_interval(3, None, None) == 0
    assert polls_allowed(0, None, None, None, 0) is None  # nothing seen yet
    assert polls_allowed(0, 8, 5, 20, 2) == 3
    assert polls_allowed(0, 8, 1, 20, 2) == 0
    assert polls_allowed(20.5, 8, 0, 20, 0) == 0  # within the margin after the reset
    assert polls_allowed(21, 8, 0, 20, 1) == 7  # reset passed: the limit stands for the new window
    assert polls_allowed(21, 8, 6, None, 1) == 5  # the client's own count in the new window


@given(
    st.floats(min_value=0, max_value=10**6),
    st.integers(min_value=0, max_value=20_000),
    st.floats(min_value=0.5, max_value=86_400),
    st.integers(min_value=1, max_value=3000),
    st.floats(min_value=1, max_value=3600),
    st.floats(min_value=1.0, max_value=3.0),
)
def test_paced_interval_never_schedules_more_polls_than_remaining(
    now: float, remaining: int, left: float, n_users: int, poll: float, safety: float
) -> None:
    reset = now + left
    interval = paced_interval(now, remaining, reset, n_users, poll, safety)
    assert interval >= poll
    # every user polled every `interval` from now on: the polls before the reset fit what is left
    polls_before_reset = n_users * math.floor(left / interval * (1 - 1e-9))
    assert polls_before_reset <= remaining


def test_first_polls_are_spread() -> None:
    assert first_poll_offsets(4, 100) == [0, 25, 50, 75]
    schedules = initial_schedules(3, 1000.0, 30.0)
    assert [s.next_due for s in schedules] == [1000.0, 1010.0, 1020.0]


def test_success_keeps_the_slot_and_failure_backs_off() -> None:
    s = UserSchedule(next_due=100.0, last_activity=0.0)
    s1 = after_success(s, 101.0, new_tweets=1, interval=60)
    assert s1.next_due == 160.0 and s1.failures == 0 and s1.last_activity == 101.0
    f1 = after_failure(s1, 161.0)
    assert f1.next_due == 221.0 and f1.failures == 1 and f1.backoff == 60
    f2 = after_failure(f1, 221.0)
    assert f2.next_due == 341.0 and f2.failures == 2
    ok = after_success(f2, 342.0, new_tweets=0, interval=60)
    assert ok.failures == 0 and ok.backoff == 0 and ok.next_due == 402.0


def test_quiet_user_is_spaced_and_new_tweet_brings_it_back() -> None:
    s = UserSchedule(next_due=0.0, last_activity=0.0)
    s = after_success(s, 3700.0, new_tweets=0, interval=300)
    assert s.next_due - 3700.0 == 600.0  # 2× after a quiet hour, slot was in the past
    s = after_success(s, 20000.0, new_tweets=0, interval=300)
    assert s.next_due == 21200.0  # 4× cap
    s = after_success(s, 21200.0, new_tweets=2, interval=300)
    assert s.next_due == 21500.0


def test_overrun_poll_is_followed_one_interval_after_it_ends() -> None:
    s = UserSchedule(next_due=100.0, last_activity=100.0)
    s = after_success(s, 500.0, new_tweets=1, interval=60)
    assert s.next_due == 560.0


def test_due_users_and_wakeup() -> None:
    schedules = {
        "a": UserSchedule(next_due=5.0),
        "b": UserSchedule(next_due=1.0),
        "c": UserSchedule(next_due=50.0),
    }
    assert due_users(schedules, 10.0, busy=set()) == ["b", "a"]
    assert due_users(schedules, 10.0, busy={"b"}) == ["a"]
    assert next_wakeup(schedules, busy={"b"}) == 5.0
    assert next_wakeup({}, busy=set()) == float("inf")


def test_max_polls_in_window() -> None:
    assert max_polls_in_window([0, 1, 2, 10, 10.5], 3) == 3
    assert max_polls_in_window([0, 3, 6], 3) == 1
    assert max_polls_in_window([], 3) == 0


@given(st.integers(min_value=0, max_value=60))
def test_backoff_monotone_and_capped(failures: int) -> None:
    assert 0 <= backoff_delay(failures) <= backoff_delay(failures + 1) <= 3600
    if failures >= 1:
        assert backoff_delay(failures) >= 60


@given(
    st.floats(min_value=0, max_value=10**6, allow_nan=False),
    st.floats(min_value=10, max_value=3600, allow_nan=False),
    st.lists(st.tuples(st.floats(min_value=0, max_value=10**5), st.integers(0, 3)), max_size=30),
)
def test_spacing_never_exceeds_four_times_and_new_tweet_resets(
    start: float, interval: float, steps: list[tuple[float, int]]
) -> None:
    s = UserSchedule(next_due=start, last_activity=start)
    now = start
    for gap, new in steps:
        now = max(now, s.next_due) + gap
        s = after_success(s, now, new_tweets=new, interval=interval)
        delay = s.next_due - now
        assert 0 < delay <= 4 * interval + 1e-6
        if new:
            assert delay <= interval + 1e-6


@given(
    st.integers(min_value=1, max_value=3000),
    st.floats(min_value=10, max_value=3600),
    st.integers(min_value=5, max_value=20000),
    st.floats(min_value=60, max_value=3600),
)
@settings(max_examples=60, deadline=None)
def test_own_cap_is_never_exceeded(n_users: int, poll: float, cap: int, window: float) -> None:
    interval = max(poll, capped_interval(n_users, cap, window))
    schedules = initial_schedules(n_users, 0.0, interval)
    horizon = 2 * max(window, interval)
    times: list[float] = []
    for sched in schedules:
        s = sched
        while s.next_due < horizon:
            times.append(s.next_due)
            # every poll finds something, so no spacing relief: the worst case for the cap
            s = after_success(s, s.next_due, new_tweets=1, interval=interval)
    assert max_polls_in_window(times, window * (1 - 1e-9)) <= cap


@pytest.mark.parametrize(
    ("limit", "remaining", "reset", "now", "spare"),
    [
        (None, None, None, 0.0, 1),  # unknown: one request learns the budget
        (300, 300, 1000.0, 0.0, 150),
        (300, 151, 1000.0, 0.0, 1),
        (300, 150, 1000.0, 0.0, 0),  # the polls' half is never touched
        (300, 3, 1000.0, 0.0, 0),
        (300, 0, 1000.0, 1002.0, 150),  # the window is over
        (1, 1, 1000.0, 0.0, 0),
    ],
)
def test_spare_lookups_keep_the_polls_reserve(
    limit: int | None, remaining: int | None, reset: float | None, now: float, spare: int
) -> None:
    assert scheduler.spare_lookups(limit, remaining, reset, now) == spare
