"""The daemon loop driven by a fake pipeline and a manual clock: backoff, spacing, concurrency, shutdown."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nostrweet.daemon.clock import ManualClock
from nostrweet.daemon.ports import LoopSettings, PollResult
from nostrweet.daemon.runner import Daemon
from nostrweet.daemon.scheduler import max_polls_in_window
from nostrweet.logs import JsonFormatter


class HorizonClock(ManualClock):
    """A manual clock that sets ``stop`` once time passes ``horizon``."""

    def __init__(self, horizon: float, stop: asyncio.Event) -> None:
        super().__init__(0.0)
        self.horizon = horizon
        self.stop = stop

    async def wait(self, wake: asyncio.Event, deadline: float) -> None:
        await super().wait(wake, deadline)
        if self.t >= self.horizon:
            self.stop.set()


class FakePipeline:
    def __init__(self, clock: ManualClock, failing: set[str] = frozenset(), quiet: set[str] = frozenset()):
        self.clock = clock
        self.failing = set(failing)
        self.quiet = set(quiet)
        self.polls: dict[str, list[float]] = {}
        self.outbox_runs: list[float] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.gate: asyncio.Event | None = None
        self.timeline_limit: int | None = None

    async def poll_user(self, username: str) -> PollResult:
        self.polls.setdefault(username, []).append(self.clock.now())
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            if username in self.failing:
                raise RuntimeError("lookup failed")
            return PollResult(new_tweets=0 if username in self.quiet else 1, posted=1)
        finally:
            self.in_flight -= 1

    async def run_outbox(self) -> None:
        self.outbox_runs.append(self.clock.now())

    def budgets(self) -> Mapping[str, Mapping[str, int | float | None]]:
        if self.timeline_limit is None:
            return {}
        return {"/2/users/:id/tweets": {"limit": self.timeline_limit, "remaining": 3, "reset": 0}}

    def relay_status(self) -> Mapping[str, Mapping[str, Any]]:
        return {"ws://127.0.0.1:1": {"connected": True, "accepted": 2, "rejected": 0, "pending": 1}}


def gaps(times: list[float]) -> list[float]:
    return [round(b - a, 6) for a, b in itertools.pairwise(times)]


async def test_failing_user_backs_off_while_others_go_on() -> None:
    stop = asyncio.Event()
    clock = HorizonClock(horizon=4 * 3600, stop=stop)
    pipe = FakePipeline(clock, failing={"bad"})
    daemon = Daemon(
        pipe, ["good", "bad", "other"], LoopSettings(poll_interval=300, stats_interval=3600), clock=clock
    )
    await daemon.run(stop)
    # 60 s doubling, capped at one hour
    assert gaps(pipe.polls["bad"])[:8] == [60, 120, 240, 480, 960, 1920, 3600, 3600]
    # the others keep their interval (they find a new tweet every time, so no spacing)
    assert set(gaps(pipe.polls["good"])) == {300}
    assert set(gaps(pipe.polls["other"])) == {300}
    assert len(pipe.polls["good"]) >= 4 * 3600 // 300
    # first polls spread over the interval
    assert [pipe.polls[u][0] for u in ("good", "bad", "other")] == [0, 100, 200]
    assert daemon.stats["bad"].errors == len(pipe.polls["bad"])
    assert daemon.stats["good"].errors == 0


async def test_backoff_resets_on_success() -> None:
    stop = asyncio.Event()
    clock = HorizonClock(horizon=3000, stop=stop)
    pipe = FakePipeline(clock, failing={"flaky"})
    daemon = Daemon(pipe, ["flaky"], LoopSettings(poll_interval=100, stats_interval=10**6), clock=clock)
    task = asyncio.create_task(daemon.run(stop))
    while len(pipe.polls.get("flaky", [])) < 4:  # noqa: ASYNC110 (polling the fake's progress)
        await asyncio.sleep(0)
    pipe.failing.clear()
    await task
    g = gaps(pipe.polls["flaky"])
    assert g[:3] == [60, 120, 240]
    assert set(g[4:]) == {100}
    assert daemon.schedules["flaky"].failures == 0


async def test_quiet_user_is_polled_less_often_up_to_four_times() -> None:
    stop = asyncio.Event()
    clock = HorizonClock(horizon=6 * 3600, stop=stop)
    pipe = FakePipeline(clock, quiet={"quiet"})
    daemon = Daemon(
        pipe, ["quiet", "busy"], LoopSettings(poll_interval=300, stats_interval=10**6), clock=clock
    )
    await daemon.run(stop)
    g = gaps(pipe.polls["quiet"])
    assert max(g) == 1200 and min(g) == 300 and g == sorted(g)
    assert set(gaps(pipe.polls["busy"])) == {300}


async def test_at_most_max_concurrent_polls() -> None:
    stop = asyncio.Event()
    clock = ManualClock(0.0)
    pipe = FakePipeline(clock)
    pipe.gate = asyncio.Event()
    users = [f"u{i}" for i in range(8)]
    daemon = Daemon(
        pipe, users, LoopSettings(poll_interval=10, max_concurrent=3, stats_interval=10**6), clock=clock
    )
    task = asyncio.create_task(daemon.run(stop))
    for _ in range(200):
        await asyncio.sleep(0)
    assert pipe.in_flight == 3
    pipe.gate.set()
    while len(pipe.polls) < 8:  # noqa: ASYNC110 (polling the fake's progress)
        await asyncio.sleep(0)
    stop.set()
    await task
    assert pipe.max_in_flight == 3


class WindowedPipeline(FakePipeline):
    """A fake whose timeline budget behaves like X's: ``limit`` requests per window from the first one."""

    def __init__(self, clock: ManualClock, limit: int, window: float) -> None:
        super().__init__(clock)
        self.limit, self.window = limit, window
        self.reset: float | None = None
        self.remaining = limit
        self.over_budget: list[float] = []

    async def poll_user(self, username: str) -> PollResult:
        now = self.clock.now()
        if self.reset is None or now >= self.reset:
            self.reset, self.remaining = float(math.ceil(now + self.window)), self.limit
        if self.remaining <= 0:
            self.over_budget.append(now)
        self.remaining -= 1
        return await super().poll_user(username)

    def budgets(self) -> Mapping[str, Mapping[str, int | float | None]]:
        if self.reset is None:
            return {}
        return {
            "/2/users/:id/tweets": {"limit": self.limit, "remaining": self.remaining, "reset": self.reset}
        }


async def run_windowed(
    users: int, limit: int, window: float, poll: float, horizon: float
) -> tuple[Daemon, WindowedPipeline]:
    stop = asyncio.Event()
    clock = HorizonClock(horizon=horizon, stop=stop)
    pipe = WindowedPipeline(clock, limit, window)
    settings = LoopSettings(
        poll_interval=poll, max_concurrent=users, stats_interval=10**6, outbox_interval=10**6
    )
    daemon = Daemon(pipe, [f"u{i}" for i in range(users)], settings, clock=clock)
    await daemon.run(stop)
    return daemon, pipe


async def test_a_fresh_20_s_window_of_8_with_3_users_keeps_polling_every_window() -> None:
    _daemon, pipe = await run_windowed(users=3, limit=8, window=20, poll=2, horizon=170)
    assert pipe.over_budget == []
    for user, times in pipe.polls.items():
        windows = {int(t // 20) for t in times}
        assert windows >= set(range(8)), (user, times)  # polled in each 20 s window of the run
    every = sorted(t for p in pipe.polls.values() for t in p)
    assert max_polls_in_window(every, 20) <= 8


async def test_a_24_hour_window_is_spread_over_the_day() -> None:
    daemon, pipe = await run_windowed(users=3, limit=100, window=86_400, poll=60, horizon=3 * 86_400)
    assert pipe.over_budget == []
    for times in pipe.polls.values():
        assert {int(t // 86_400) for t in times} == {0, 1, 2}
    assert daemon.effective_interval > 60  # 3 users cannot poll every minute on 100 a day


@given(
    st.integers(min_value=1, max_value=12),
    st.integers(min_value=1, max_value=60),
    st.sampled_from([5.0, 20.0, 900.0, 86_400.0]),
    st.sampled_from([1.0, 10.0, 300.0]),
)
@settings(max_examples=25, deadline=None)
def test_never_over_budget_after_the_first_answer(users: int, limit: int, window: float, poll: float) -> None:
    _daemon, pipe = asyncio.run(run_windowed(users, limit, window, poll, horizon=4 * max(window, poll)))
    # before the first answer nothing is known: only the first round may overrun (the client waits then)
    assert len(pipe.over_budget) <= max(0, users - limit)
    first_window_end = window + 1
    assert [t for t in pipe.over_budget if t >= first_window_end] == []
    assert sum(len(p) for p in pipe.polls.values()) >= 2  # it keeps polling


class StopWatchClock(ManualClock):
    """A manual clock that notes when ``stop`` was set and, at the loop's first wait after it, opens
    ``gate`` if one is given (work that finishes without waiting out the grace)."""

    def __init__(self, stop: asyncio.Event, gate: asyncio.Event | None = None) -> None:
        super().__init__(0.0)
        self.stop, self.gate = stop, gate
        self.stopped_at: float | None = None

    async def wait(self, wake: asyncio.Event, deadline: float) -> None:
        if self.stop.is_set() and self.stopped_at is None:
            self.stopped_at = self.t
            if self.gate is not None:
                self.gate.set()
        await super().wait(wake, deadline)


@dataclass
class Running:
    """A daemon of one user whose poll is in flight, hanging on the pipeline's gate."""

    daemon: Daemon
    pipe: FakePipeline
    clock: StopWatchClock
    stop: asyncio.Event
    task: asyncio.Task[None]


async def one_poll_in_flight(grace: float, *, finishes_after_stop: bool = False) -> Running:
    """Start the daemon and return once its poll hangs; with ``finishes_after_stop`` the poll ends at the
    shutdown's first wait, else never."""
    stop = asyncio.Event()
    gate = asyncio.Event()
    clock = StopWatchClock(stop, gate if finishes_after_stop else None)
    pipe = FakePipeline(clock)
    pipe.gate = gate
    settings = LoopSettings(poll_interval=10, stats_interval=10**6, grace=grace)
    daemon = Daemon(pipe, ["a"], settings, clock=clock)
    task = asyncio.create_task(daemon.run(stop))
    while pipe.in_flight == 0:  # noqa: ASYNC110 (polling the fake's progress)
        await asyncio.sleep(0)
    return Running(daemon, pipe, clock, stop, task)


async def test_shutdown_gives_a_hung_poll_the_grace_then_cancels_it(caplog: pytest.LogCaptureFixture) -> None:
    run = await one_poll_in_flight(grace=10)
    with caplog.at_level(logging.INFO, logger="nostrweet.daemon"):
        run.stop.set()
        await asyncio.wait_for(run.task, 5)
    assert run.clock.stopped_at is not None
    assert run.clock.now() == run.clock.stopped_at + 10  # the whole grace on the loop's clock, no more
    assert run.pipe.in_flight == 0  # cancelled, its finally ran
    assert run.daemon.stats["a"].polls == 0 and run.daemon.stats["a"].errors == 0  # not counted as done
    messages = [r.getMessage() for r in caplog.records if r.name == "nostrweet.daemon"]
    assert "stopping: 1 task(s) in flight get up to 10 s to finish" in messages
    assert "stopped 1 unfinished task(s); they resume at the next start" in messages


async def test_shutdown_lets_work_that_finishes_within_the_grace_finish() -> None:
    run = await one_poll_in_flight(grace=10, finishes_after_stop=True)
    run.stop.set()
    await asyncio.wait_for(run.task, 5)
    assert run.clock.stopped_at is not None
    assert run.clock.now() == run.clock.stopped_at  # done at once: the grace was not waited out
    assert run.daemon.stats["a"].polls == 1 and run.daemon.stats["a"].errors == 0


async def test_stats_record_is_logged_as_json(caplog: pytest.LogCaptureFixture) -> None:
    stop = asyncio.Event()
    clock = HorizonClock(horizon=200, stop=stop)
    pipe = FakePipeline(clock, failing={"bad"})
    pipe.timeline_limit = 1500
    daemon = Daemon(pipe, ["good", "bad"], LoopSettings(poll_interval=30, stats_interval=60), clock=clock)
    with caplog.at_level(logging.INFO, logger="nostrweet.daemon.stats"):
        await daemon.run(stop)
    records = [r for r in caplog.records if r.name == "nostrweet.daemon.stats"]
    assert len(records) >= 3  # at 60, 120, 180 and the final one
    line = json.loads(JsonFormatter().format(records[-1]))
    assert line["event"] == "stats"
    assert line["users"]["good"]["new_tweets"] >= 5 and line["users"]["good"]["errors"] == 0
    assert line["users"]["bad"]["errors"] >= 2 and line["users"]["bad"]["backoff"] >= 60
    assert line["totals"]["users"] == 2
    assert line["api_budget"]["/2/users/:id/tweets"]["remaining"] == 3
    assert line["relays"]["ws://127.0.0.1:1"] == {
        "connected": True,
        "accepted": 2,
        "rejected": 0,
        "pending": 1,
    }
    assert line["effective_interval"] == 30
    assert "stats: up" in records[-1].getMessage()
    assert pipe.outbox_runs[0] == 0 and len(pipe.outbox_runs) >= 5
