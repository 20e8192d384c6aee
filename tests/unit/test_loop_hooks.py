"""The daemon loop's hooks (alerts, the systemd watchdog) under a manual clock: called every round and
after every poll, a failing hook never stops the loop, and the alert monitor sees the loop's failures."""

from __future__ import annotations

import asyncio
from typing import Any

from nostrweet.alerts.config import AlertConfig
from nostrweet.alerts.incidents import Thresholds
from nostrweet.alerts.monitor import AlertMonitor
from nostrweet.alerts.sender import Alert, AlertSender
from nostrweet.daemon.ports import LoopSettings
from nostrweet.daemon.runner import Daemon
from tests.unit.test_scheduler_runner import FakePipeline, HorizonClock


class Recorder:
    def __init__(self) -> None:
        self.rounds: list[float] = []
        self.polls: list[tuple[str, str | None]] = []

    def after_round(self, loop: Any) -> None:
        self.rounds.append(loop.clock.now())

    def after_poll(self, user: str, error: BaseException | None) -> None:
        self.polls.append((user, None if error is None else type(error).__name__))


class Broken:
    def after_round(self, loop: Any) -> None:
        raise RuntimeError("hook bug")

    def after_poll(self, user: str, error: BaseException | None) -> None:
        raise RuntimeError("hook bug")


async def test_hooks_see_every_round_and_poll_and_a_broken_hook_is_harmless() -> None:
    stop = asyncio.Event()
    clock = HorizonClock(horizon=1000, stop=stop)
    pipe = FakePipeline(clock, failing={"bad"})
    recorder = Recorder()
    settings = LoopSettings(poll_interval=100, stats_interval=50, max_concurrent=2)
    daemon = Daemon(pipe, ["good", "bad"], settings, clock=clock, hooks=[Broken(), recorder])
    await daemon.run(stop)
    assert len(recorder.rounds) >= 1000 / 50  # at least one round per stats interval
    assert recorder.rounds == sorted(recorder.rounds)
    good = [p for p in recorder.polls if p[0] == "good"]
    bad = [p for p in recorder.polls if p[0] == "bad"]
    assert len(good) == len(pipe.polls["good"]) and all(e is None for _, e in good)
    assert len(bad) == len(pipe.polls["bad"]) and all(e == "RuntimeError" for _, e in bad)


async def test_alert_monitor_on_the_loop_opens_one_incident_for_a_failing_user() -> None:
    stop = asyncio.Event()
    clock = HorizonClock(horizon=4 * 3600, stop=stop)
    pipe = FakePipeline(clock, failing={"bad"})
    sent: list[Alert] = []
    config = AlertConfig(urls=("json://127.0.0.1:9/x",), thresholds=Thresholds(user_failures=3))
    monitor = AlertMonitor(config, AlertSender(config.urls, notify=lambda u, a, t: sent.append(a) or True))
    monitor.start()
    settings = LoopSettings(poll_interval=300, stats_interval=60)
    await Daemon(pipe, ["good", "bad"], settings, clock=clock, hooks=[monitor]).run(stop)
    monitor.close(timeout=5)
    assert len(pipe.polls["bad"]) >= 5  # it kept failing, well past the threshold
    assert [(a.failure, a.title) for a in sent] == [(True, "nostrweet: @bad: polls keep failing")]
