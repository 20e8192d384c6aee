"""The event loop's own lag, measured beside B10's answers (in the daemon's process).

:class:`LagProbe` is a task that sleeps ``every`` seconds again and again and records by how much each
wake-up came late: an HTTP request that arrives during such a stretch waits at least that long, so the
lag says how much of an answer time is the daemon's work on the loop and how much is the server's.

:class:`StallSampler` names the stretches: a thread that looks at the loop's heartbeat every few
milliseconds and, while the loop has not beaten for longer than ``threshold``, samples the main
thread's stack. Each sample is summarised as the chain of this project's frames plus the innermost
frame, so ``top()`` lists the code that held the loop, weighted by the time it held it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import threading
import time
from collections import Counter
from typing import Any


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (0 for no sample)."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


class LagProbe:
    """Sleeps ``every`` seconds in a loop; ``lags`` holds how late each wake-up was (seconds)."""

    def __init__(self, every: float = 0.01) -> None:
        self.every = every
        self.lags: list[float] = []
        self.beat = time.perf_counter()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start probing on the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(self.every)
            self.beat = after = time.perf_counter()
            self.lags.append(max(0.0, after - before - self.every))

    def take(self) -> dict[str, Any]:
        """The figures since the last take (ms), and forget the samples."""
        lags, self.lags = self.lags, []
        return {
            "samples": len(lags),
            "p50_ms": percentile(lags, 0.5) * 1000,
            "p99_ms": percentile(lags, 0.99) * 1000,
            "max_ms": max(lags, default=0.0) * 1000,
            "over_50ms": sum(1 for v in lags if v > 0.05),
        }

    async def stop(self) -> None:
        """Stop probing."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _signature(frame: Any) -> str:
    """This project's frames of a stack, outermost first, then the innermost frame."""
    ours: list[str] = []
    leaf = f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_code.co_name}"
    f = frame
    while f is not None:
        name = f.f_code.co_filename
        if "/nostrweet/" in name or "/benchmarks/" in name:
            ours.append(f"{os.path.basename(name)}:{f.f_code.co_name}")
        f = f.f_back
    ours.reverse()
    return " > ".join([*ours[-6:], f"[{leaf}]"])


class StallSampler:
    """A thread that samples the main thread's stack while the loop's heartbeat is late."""

    def __init__(self, probe: LagProbe, threshold: float = 0.03, interval: float = 0.004) -> None:
        self.probe = probe
        self.threshold = threshold
        self.interval = interval
        self.weights: Counter[str] = Counter()
        self.stalls: list[float] = []
        self._main = threading.main_thread().ident
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stall-sampler", daemon=True)

    def start(self) -> None:
        """Start sampling."""
        self._thread.start()

    def _run(self) -> None:
        in_stall_since: float | None = None
        while not self._stop.wait(self.interval):
            now = time.perf_counter()
            late = now - self.probe.beat - self.probe.every
            if late > self.threshold:
                if in_stall_since is None:
                    in_stall_since = self.probe.beat
                frame = sys._current_frames().get(self._main or 0)
                if frame is not None:
                    self.weights[_signature(frame)] += 1
            elif in_stall_since is not None:
                self.stalls.append(now - in_stall_since)
                in_stall_since = None

    def top(self, n: int = 25) -> list[tuple[str, float]]:
        """The stacks that held the loop longest: (signature, milliseconds)."""
        return [(sig, count * self.interval * 1000) for sig, count in self.weights.most_common(n)]

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join(1.0)

    def dump(self, path: str) -> None:
        """Write the longest stalls (seconds) and ``top()`` to ``path`` as JSON."""
        with open(path, "w") as out:
            json.dump({"stalls_s": sorted(self.stalls)[-20:], "top": self.top()}, out)
