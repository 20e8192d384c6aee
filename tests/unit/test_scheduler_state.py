"""The daemon's per-user resume state (backfill target and watermark) and its signal handling."""

from __future__ import annotations

import asyncio
import signal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nostrweet.daemon.service import SignalHandler
from nostrweet.daemon.state import UserState, advanced, first_run_state


def test_first_run_targets_the_n_newest() -> None:
    s = first_run_state("42", [50, 40, 30, 20, 10], backfill=3)
    assert s.backfill_floor == "30" and s.since_id == "29" and not s.backfill_done
    assert first_run_state("42", [10, 20], backfill=5).since_id == "9"
    zero = first_run_state("42", [10, 20], backfill=0)
    assert zero.since_id == "20" and zero.backfill_floor is None
    empty = first_run_state("42", [], backfill=5)
    assert empty.since_id is None


@given(st.lists(st.integers(1, 2**63), min_size=1, max_size=50, unique=True), st.integers(1, 60))
def test_first_run_watermark_keeps_exactly_the_target(ids: list[int], n: int) -> None:
    s = first_run_state("1", ids, backfill=n)
    assert s.since_id is not None
    newer = {i for i in ids if i > int(s.since_id)}
    assert newer == set(sorted(ids, reverse=True)[:n])


def test_advanced_moves_the_watermark_forward_only() -> None:
    s = UserState("1", since_id="100", backfill_done=False)
    assert advanced(s, 150) == UserState("1", since_id="150", backfill_done=True)
    assert advanced(s, 90).since_id == "100"
    assert advanced(s, None).since_id == "100"
    assert advanced(UserState("1"), 7).since_id == "7"


async def test_signal_handler_first_stops_second_exits() -> None:
    stop = asyncio.Event()
    exits: list[int] = []
    handler = SignalHandler(stop, exit_now=exits.append)
    handler(int(signal.SIGTERM))
    assert stop.is_set() and exits == []
    assert handler.watchdog is not None and handler.watchdog.is_alive()
    assert handler.watchdog.interval == 10 + 1.5  # the 10 s grace, then the watchdog ends the process
    handler(int(signal.SIGTERM))
    assert exits == [128 + signal.SIGTERM]
    handler.watchdog.cancel()


async def test_signal_handler_watchdog_exits_0() -> None:
    stop = asyncio.Event()
    exits: list[int] = []
    handler = SignalHandler(stop, grace=0.0, exit_now=exits.append)
    handler(int(signal.SIGINT))
    assert handler.watchdog is not None
    handler.watchdog.join(5)
    assert exits == [0]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
async def test_installed_handler_reacts_to_real_signals(sig: signal.Signals) -> None:
    import os

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    handler = SignalHandler(stop, grace=60, exit_now=lambda code: None)
    handler.install(loop)
    try:
        os.kill(os.getpid(), sig)
        await asyncio.wait_for(stop.wait(), 5)
    finally:
        handler.uninstall(loop)
