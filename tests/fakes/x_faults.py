"""Rate-limit budgets and injected faults of the fake X API (thread-safe, no I/O)."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

# Per endpoint template, app-only Bearer limits per 15 minutes (shared/twitter-api/rate-limits.md,
# as observed in the tweepy recordings).
DEFAULT_LIMITS: dict[str, int] = {
    "/2/users/{id}/tweets": 1500,
    "/2/tweets/{id}": 300,
    "/2/tweets": 300,
    "/2/users/by/username/{username}": 300,
    "/2/users/by": 300,
    "/2/users": 300,
    "/2/users/{id}": 300,
    "/2/users/{id}/mentions": 450,
    "/2/tweets/search/recent": 450,
}
FALLBACK_LIMIT = 300
WINDOW_SECONDS = 900.0


@dataclass(slots=True)
class _Window:
    limit: int
    window: float
    reset: int = 0
    remaining: int = 0


class RateLimiter:
    """One budget per endpoint template: `remaining` drops per call, 429 at 0 until `reset`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}

    def _get(self, endpoint: str) -> _Window:
        w = self._windows.get(endpoint)
        if w is None:
            w = _Window(DEFAULT_LIMITS.get(endpoint, FALLBACK_LIMIT), WINDOW_SECONDS)
            self._windows[endpoint] = w
        return w

    def _roll(self, w: _Window, now: float) -> None:
        if now >= w.reset:
            w.reset = math.ceil(now + w.window)
            w.remaining = w.limit

    def set_limit(self, endpoint: str, limit: int, window_seconds: float = WINDOW_SECONDS) -> None:
        """A fresh window of `limit` requests for that endpoint."""
        with self._lock:
            self._windows[endpoint] = _Window(limit, window_seconds)

    def consume(self, endpoint: str, now: float) -> bool:
        """Take one request from the budget; False when it is exhausted (answer 429)."""
        with self._lock:
            w = self._get(endpoint)
            self._roll(w, now)
            if w.remaining <= 0:
                return False
            w.remaining -= 1
            return True

    def exhaust(self, endpoint: str, reset: int) -> None:
        """Set remaining to 0 until the epoch second `reset` (an injected 429)."""
        with self._lock:
            w = self._get(endpoint)
            w.remaining = 0
            w.reset = reset

    def headers(self, endpoint: str, now: float) -> dict[str, str]:
        """The x-rate-limit-* headers for that endpoint's current window."""
        with self._lock:
            w = self._get(endpoint)
            if w.reset == 0:
                self._roll(w, now)
            return {
                "x-rate-limit-limit": str(w.limit),
                "x-rate-limit-remaining": str(max(w.remaining, 0)),
                "x-rate-limit-reset": str(w.reset),
            }


@dataclass(slots=True)
class _Fault:
    times: int
    endpoint: str | None
    value: float


class Faults:
    """Injected failures; each may be restricted to one endpoint template. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        """Remove every injected fault."""
        with self._lock:
            self._429: list[_Fault] = []
            self._5xx: list[_Fault] = []
            self._drops: list[_Fault] = []
            self._nth = 0
            self._count = 0
            self.latency_seconds = 0.0

    def fail_429(self, times: int = 1, reset_in: float = 2.0, endpoint: str | None = None) -> None:
        """The next `times` requests get 429 with remaining 0 and reset = now + reset_in."""
        with self._lock:
            self._429.append(_Fault(times, endpoint, reset_in))

    def fail_5xx(self, times: int = 1, status: int = 503, endpoint: str | None = None) -> None:
        """The next `times` requests get `status`."""
        with self._lock:
            self._5xx.append(_Fault(times, endpoint, status))

    def every_nth_5xx(self, n: int) -> None:
        """Every n-th /2/ request (counted from now) gets 503; 0 turns it off."""
        with self._lock:
            self._nth = n
            self._count = 0

    def latency(self, seconds: float) -> None:
        """Sleep this long before answering each /2/ request."""
        with self._lock:
            self.latency_seconds = seconds

    def drop(self, times: int = 1, endpoint: str | None = None) -> None:
        """Close the connection without an answer for the next `times` requests."""
        with self._lock:
            self._drops.append(_Fault(times, endpoint, 0))

    @staticmethod
    def _take(faults: list[_Fault], endpoint: str | None) -> _Fault | None:
        for f in faults:
            if f.times > 0 and (f.endpoint is None or f.endpoint == endpoint):
                f.times -= 1
                if f.times == 0:
                    faults.remove(f)
                return f
        return None

    def take_drop(self, endpoint: str | None) -> bool:
        """Whether to drop this request (consumes one injection)."""
        with self._lock:
            return self._take(self._drops, endpoint) is not None

    def take_429(self, endpoint: str | None) -> float | None:
        """reset_in seconds if this request gets an injected 429."""
        with self._lock:
            f = self._take(self._429, endpoint)
            return None if f is None else f.value

    def take_5xx(self, endpoint: str | None) -> int | None:
        """The status if this request gets an injected 5xx (one-shot or every n-th)."""
        with self._lock:
            f = self._take(self._5xx, endpoint)
            if f is not None:
                return int(f.value)
            if self._nth > 0:
                self._count += 1
                if self._count % self._nth == 0:
                    return 503
            return None
