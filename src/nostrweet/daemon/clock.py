"""Time for the daemon's loop: the real clock, and a manual one for tests (no real hours)."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from typing import Protocol


class Clock(Protocol):
    """Time for the loop: the current time and a wait that a wake-up event can cut short."""

    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    async def wait(self, wake: asyncio.Event, deadline: float) -> None:
        """Return when ``wake`` is set or at ``deadline``, whichever comes first."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        """Wall-clock epoch seconds."""
        return time.time()

    async def wait(self, wake: asyncio.Event, deadline: float) -> None:
        """Wait for ``wake`` until ``deadline``."""
        timeout = deadline - self.now()
        if math.isinf(timeout):
            await wake.wait()
            return
        if timeout <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout)


class ManualClock:
    """A clock for tests: waiting jumps straight to the deadline once the running tasks have settled."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.t = start

    def now(self) -> float:
        """The manual time."""
        return self.t

    async def wait(self, wake: asyncio.Event, deadline: float) -> None:
        """Let other tasks run; if nothing wakes us, jump to ``deadline``."""
        for _ in range(20):
            if wake.is_set():
                return
            await asyncio.sleep(0)
        if wake.is_set():
            return
        if math.isinf(deadline):
            await wake.wait()
            return
        self.t = max(self.t, deadline)
