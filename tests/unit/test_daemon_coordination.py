"""The loop over the real state (both backends): a user's backoff and pause survive a restart, and users
are added, removed, paused and resumed at run time (the methods the admin API calls)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from nostrweet.daemon.control import PersistentControl, watched_users
from nostrweet.daemon.coordination import StateCoordination
from nostrweet.daemon.runner import Daemon, LoopSettings, ManualClock
from nostrweet.daemon.scheduler import UserSchedule
from nostrweet.state.engine import State, open_state
from nostrweet.state.users import UserRepo
from tests.unit.test_scheduler_runner import FakePipeline, HorizonClock

SETTINGS = LoopSettings(poll_interval=300, stats_interval=10**6)


@pytest.fixture
def state(state_url: str) -> Iterator[State]:
    opened = open_state(state_url)
    yield opened
    opened.close()


class SettledClock(HorizonClock):
    """Jumps only once no poll is in flight (their rows are written from a worker thread)."""

    daemon: Daemon | None = None

    async def wait(self, wake: asyncio.Event, deadline: float) -> None:
        while self.daemon is not None and self.daemon._polls and not wake.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.001)
        await super().wait(wake, deadline)


async def run_until(
    state: State, users: list[str], horizon: float, failing: set[str] = frozenset()
) -> tuple[Daemon, FakePipeline]:
    stop = asyncio.Event()
    clock = SettledClock(horizon=horizon, stop=stop)
    pipe = FakePipeline(clock, failing=failing)
    daemon = Daemon(pipe, users, SETTINGS, clock=clock, coordination=StateCoordination(state, "one"))
    clock.daemon = daemon
    await daemon.run(stop)
    return daemon, pipe


async def test_backoff_is_saved_and_restored(state: State) -> None:
    await run_until(state, ["good", "bad"], horizon=250, failing={"bad"})
    row = UserRepo(state).load("bad")
    assert row is not None and row.failures == 2 and row.backoff == 120
    assert row.next_poll == 150 + 60 + 120  # first poll at 150, failed again 60 s later
    good = UserRepo(state).load("good")
    assert good is not None and good.failures == 0 and good.next_poll == 300
    # a restart (its clock starts at 0 again) waits out the saved backoff instead of polling at once
    _daemon, pipe = await run_until(state, ["good", "bad"], horizon=400)
    assert pipe.polls["bad"][0] == 330
    assert pipe.polls["good"][0] == 0


async def test_healthy_schedules_are_written_together_and_failures_at_once(state: State) -> None:
    coordination = StateCoordination(state, "one")
    coordination.flush_every = 10**6  # only a change of failures, a balance or the release writes
    repo = UserRepo(state)
    await coordination.restore(["a", "b"])
    await coordination.save("a", UserSchedule(next_due=100))  # never saved: written at once
    assert (row := repo.load("a")) is not None and row.next_poll == 100
    await coordination.save("a", UserSchedule(next_due=200))  # healthy again: waits for the batch
    assert (row := repo.load("a")) is not None and row.next_poll == 100
    await coordination.save("b", UserSchedule(next_due=250, failures=1, backoff=60))  # a failure: now
    assert (row := repo.load("a")) is not None and row.next_poll == 200  # ... with what waited
    assert (row := repo.load("b")) is not None and (row.next_poll, row.failures) == (250, 1)
    await coordination.save("a", UserSchedule(next_due=300))
    await coordination.release()
    assert (row := repo.load("a")) is not None and row.next_poll == 300
    # a restart knows what the rows say: a healthy user's next success is batched, not written at once
    again = StateCoordination(state, "one")
    again.flush_every = 10**6
    await again.restore(["a"])
    await again.save("a", UserSchedule(next_due=400))
    assert (row := repo.load("a")) is not None and row.next_poll == 300


async def test_the_users_taken_or_handed_back_are_told(state: State) -> None:
    coordination = StateCoordination(state, "one")
    moved: list[set[str]] = []
    coordination.moved = lambda names: moved.append(set(names))
    assert await coordination.balance(["a", "b"], set(), 1000) == {"a", "b"}
    assert moved == []  # the first balance: nothing was held before
    await coordination.balance(["a", "b"], set(), 1010)
    assert moved == []
    assert await coordination.balance(["a", "c"], set(), 1020) == {"a", "c"}
    assert moved == [{"b", "c"}]
    await coordination.release()


async def test_users_added_removed_paused_and_resumed_at_run_time(state: State) -> None:
    stop = asyncio.Event()
    clock = ManualClock(0.0)
    pipe = FakePipeline(clock)
    daemon = Daemon(
        pipe, ["a"], SETTINGS, clock=clock, coordination=StateCoordination(state, "one"), fixed=["a"]
    )
    control = PersistentControl(daemon, UserRepo(state))
    task = asyncio.create_task(daemon.run(stop))

    async def until(check: object) -> None:
        for _ in range(4000):  # threads write the rows: give them real time
            if callable(check) and check():
                return
            await asyncio.sleep(0.005)
        raise AssertionError("never happened")

    await until(lambda: "a" in pipe.polls)
    control.add_user("@B")
    await until(lambda: "b" in pipe.polls)  # the loop takes it (its lease, alone: the user) at once
    control.pause("b")
    row = UserRepo(state).load("b")
    assert row is not None and row.paused and row.added_at_runtime
    assert watched_users(["a"], UserRepo(state).load_all()).users == ["a", "b"]  # what a restart watches
    polls_of_b = len(pipe.polls["b"])
    clock.t += 3000
    daemon._wake.set()
    await until(lambda: len(pipe.polls["a"]) >= 3)
    assert len(pipe.polls["b"]) == polls_of_b  # paused: not polled
    control.resume("b")
    await until(lambda: len(pipe.polls["b"]) > polls_of_b)
    resumed = UserRepo(state).load("b")
    assert resumed is not None and not resumed.paused
    control.remove_user("b")
    assert "b" not in daemon.schedules and "b" not in daemon.mine
    assert watched_users(["a"], UserRepo(state).load_all()).users == ["a"]
    stop.set()
    await task


def test_an_instance_id_in_use_by_a_live_process_is_refused(state: State) -> None:
    import os
    import socket
    import subprocess
    import sys

    from nostrweet.errors import OperationalError
    from nostrweet.state.leases import Leases

    if not state.is_postgres:
        StateCoordination(state, "node").check_unique(0)  # one instance on SQLite: nothing to check
        return
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        host = socket.gethostname()
        Leases(state, "node", pid=sleeper.pid, host=host).heartbeat(1000)
        with pytest.raises(
            OperationalError, match=r"another daemon \(host .*, pid \d+\) is running as instance node"
        ):
            StateCoordination(state, "node").check_unique(1001)
        Leases(state, "other", pid=os.getpid() + 10**6, host=host).heartbeat(1000)  # crashed: no such pid
        StateCoordination(state, "other").check_unique(1001)
        Leases(state, "far", pid=1, host="elsewhere").heartbeat(1000)  # another machine: trusted
        with pytest.raises(OperationalError):
            StateCoordination(state, "far").check_unique(1001)
    finally:
        sleeper.kill()
        sleeper.wait()
