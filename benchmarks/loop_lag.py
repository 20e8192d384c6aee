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
import gc
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


class SlowCallbacks:
    """Times every callback the loop runs by this thread's CPU time (not wall time, so a busy machine
    does not count), and keeps those above ``threshold`` seconds by what they ran."""

    def __init__(self, threshold: float = 0.01, wall_threshold: float = 0.05) -> None:
        self.threshold = threshold
        self.wall_threshold = wall_threshold  # also kept: callbacks that took this long by the clock
        self.cpu: Counter[str] = Counter()  # what ran -> CPU seconds over the slow callbacks
        self.wall: Counter[str] = Counter()
        self.gc: list[float] = []  # seconds of each full (generation 2) collection
        self._gc_began = 0.0
        self.count: Counter[str] = Counter()
        self.longest: Counter[str] = Counter()
        self._original: Any = None

    def start(self) -> None:
        """Wrap ``asyncio.Handle._run`` (every callback and task step goes through it)."""
        original = self._original = asyncio.events.Handle._run
        slow = self

        def run(handle: asyncio.Handle) -> None:
            before = _where(handle)
            began, wall = time.thread_time(), time.perf_counter()
            try:
                original(handle)
            finally:
                took = time.thread_time() - began
                wall = time.perf_counter() - wall
                if took > slow.threshold or wall > slow.wall_threshold:
                    what = f"{_callback_name(handle)}: {before} -> {_where(handle)}"
                    slow.cpu[what] += took
                    slow.wall[what] += wall
                    slow.count[what] += 1
                    slow.longest[what] = max(slow.longest[what], wall)

        asyncio.events.Handle._run = run  # type: ignore[method-assign]
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._gc_began = time.perf_counter()
        else:
            self.gc.append(time.perf_counter() - self._gc_began)

    def stop(self) -> None:
        """Unwrap."""
        if self._original is not None:
            asyncio.events.Handle._run = self._original  # type: ignore[method-assign]
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def top(self, n: int = 25) -> list[dict[str, Any]]:
        """The slow callbacks, most CPU first."""
        return [
            {
                "what": w,
                "wall_ms": t * 1000,
                "cpu_ms": self.cpu[w] * 1000,
                "count": self.count[w],
                "longest_wall_ms": self.longest[w] * 1000,
            }
            for w, t in self.wall.most_common(n)
        ]


def _where(handle: asyncio.Handle) -> str:
    """Where a task's innermost coroutine is suspended (file:line), or ""."""
    task = getattr(getattr(handle, "_callback", None), "__self__", None)
    if not isinstance(task, asyncio.Task):
        return ""
    inner: Any = task.get_coro()
    while getattr(inner, "cr_await", None) is not None and hasattr(inner.cr_await, "cr_frame"):
        inner = inner.cr_await
    frame = getattr(inner, "cr_frame", None)
    if frame is None:
        return "start"
    return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_code.co_name}:{frame.f_lineno}"


def _callback_name(handle: asyncio.Handle) -> str:
    callback = getattr(handle, "_callback", None)
    task = getattr(callback, "__self__", None)
    if isinstance(task, asyncio.Task):
        coro = task.get_coro()
        frame = getattr(coro, "cr_frame", None)
        name = getattr(coro, "__qualname__", repr(coro))
        where = f"{os.path.basename(frame.f_code.co_filename)}" if frame is not None else ""
        return f"task {name} ({where})"
    return getattr(callback, "__qualname__", repr(callback))


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

    def dump(self, path: str, slow: SlowCallbacks | None = None) -> None:
        """Write the longest stalls (seconds), ``top()`` and the slow callbacks to ``path`` as JSON."""
        with open(path, "w") as out:
            found = {"stalls_s": sorted(self.stalls)[-20:], "top": self.top()}
            if slow is not None:
                found["slow_callbacks"] = slow.top()
                found["gc_full_ms"] = [round(g * 1000, 1) for g in slow.gc]
            json.dump(found, out)
