"""X API rate-limit budgets, one per endpoint template (SPEC §5 "Twitter rate limits").

:class:`RateBudget` is pure bookkeeping of the ``x-rate-limit-*`` headers: how many requests the
current window still allows and when it resets (UTC epoch seconds). :class:`RateLimiter` holds every
budget of one client and is the only place that waits: :meth:`RateLimiter.acquire` returns only when
the budget allows one more request, and reserves it, so concurrent users of one client never send a
request the budget does not allow. An optional :class:`SlidingCap` per endpoint is our own extra limit
(``[rate_limits] requests_per_window`` per ``window_seconds``): a count of the requests we sent in the
last ``window`` seconds, never an assumption about X's windows. With a :class:`BudgetStore` (the
state database's ``rate_budgets``, shared by several instances) the reservation is taken there instead,
so all instances together never send more than the API allows; the local budgets then mirror it for the
stats and the pacing. Time is injectable (``clock`` gives wall-clock epoch seconds,
``sleep`` is awaited) so tests run instantly.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from nostrweet.errors import TwitterApiError

log = logging.getLogger(__name__)

# Seconds added after a reset, because the server's clock and ours differ by up to a second.
RESET_MARGIN = 1.0


@dataclass(slots=True)
class RateBudget:
    """The budget of one endpoint: limit, remaining requests and reset time of the current window.

    ``None`` means "unknown" (no header seen yet); an unknown budget allows requests.
    """

    limit: int | None = None
    remaining: int | None = None
    reset_epoch: int | None = None

    def update(self, limit: int | None, remaining: int | None, reset_epoch: int | None) -> None:
        """Take in the headers of a response.

        Within one window the smaller of our own count and the server's wins (answers to concurrent
        requests arrive out of order); a new reset time starts a new window and the server's numbers
        replace ours.
        """
        if limit is not None:
            self.limit = limit
        if remaining is None:
            return
        same_window = reset_epoch is None or reset_epoch == self.reset_epoch
        if same_window and self.remaining is not None:
            self.remaining = min(self.remaining, remaining)
        else:
            self.remaining = remaining
        if reset_epoch is not None:
            self.reset_epoch = reset_epoch

    def _window_over(self, now: float) -> bool:
        return self.reset_epoch is not None and now >= self.reset_epoch + RESET_MARGIN

    def allows(self, now: float) -> bool:
        """True if one more request may be sent at ``now`` (epoch seconds)."""
        if self.remaining is None or self.remaining > 0:
            return True
        if self.reset_epoch is None:
            return True  # exhausted but no reset known: nothing to wait for
        return self._window_over(now)

    def wait_seconds(self, now: float) -> float:
        """How long to wait at ``now`` before the budget allows a request (0 if it allows one now)."""
        if self.allows(now):
            return 0.0
        assert self.reset_epoch is not None
        return max(0.0, self.reset_epoch + RESET_MARGIN - now)

    def consume(self, now: float) -> None:
        """Reserve one request (call only when :meth:`allows`)."""
        if self._window_over(now):
            # A new window began; its numbers come with the next response.
            self.remaining = self.limit
            self.reset_epoch = None
        if self.remaining is not None and self.remaining > 0:
            self.remaining -= 1

    def low(self, fraction: float) -> bool:
        """True when less than ``fraction`` of the limit is left."""
        if self.limit is None or self.remaining is None or self.limit <= 0:
            return False
        return self.remaining < fraction * self.limit


@dataclass(slots=True)
class SlidingCap:
    """Our own cap: at most ``requests`` sent in any ``window`` seconds (a sliding count of send times)."""

    requests: int
    window: float
    sent: deque[float] | None = None

    def _times(self, now: float) -> deque[float]:
        if self.sent is None:
            self.sent = deque()
        while self.sent and self.sent[0] <= now - self.window:
            self.sent.popleft()
        return self.sent

    def wait_seconds(self, now: float) -> float:
        """How long to wait at ``now`` before one more request stays under the cap (0: send now)."""
        times = self._times(now)
        if len(times) < self.requests:
            return 0.0
        return max(0.0, times[len(times) - self.requests] + self.window - now)

    def record(self, now: float) -> None:
        """Count one request sent at ``now``."""
        self._times(now).append(now)


class BudgetStore(Protocol):
    """Budgets kept outside the process and shared (``nostrweet.state.budgets.SharedBudgets``).

    Blocking calls: the limiter runs them in a worker thread.
    """

    def reserve(self, endpoint: str, now: float) -> float:
        """Take one request: 0.0 when taken, else the seconds until the budget allows one."""
        ...

    def update(
        self, endpoint: str, limit: int | None, remaining: int | None, reset_epoch: int | None
    ) -> RateBudget:
        """Merge a response's headers (by :meth:`RateBudget.update`); the budget after it."""
        ...

    def get(self, endpoint: str) -> RateBudget:
        """The endpoint's budget now."""
        ...

    def settled(
        self, endpoint: str, limit: int | None, remaining: int | None, reset_epoch: int | None
    ) -> RateBudget | None:
        """Without blocking: the budget after :meth:`update` when that update would change nothing
        (then it need not run), else None."""
        ...


def _default_clock() -> float:
    return time.time()


class RateLimiter:
    """All budgets of one client, keyed by endpoint template (e.g. ``/2/users/:id/tweets``)."""

    def __init__(
        self,
        *,
        low_fraction: float = 0.1,
        max_wait: float = 900.0,
        clock: Callable[[], float] = _default_clock,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        caps: Mapping[str, tuple[int, float]] | None = None,
        shared: BudgetStore | None = None,
    ) -> None:
        self.shared = shared
        self.caps = {endpoint: SlidingCap(n, float(w)) for endpoint, (n, w) in (caps or {}).items()}
        self.low_fraction = low_fraction
        self.max_wait = max_wait
        self.clock = clock
        self.sleep = sleep
        self.budgets: dict[str, RateBudget] = {}
        self._warned: dict[str, int | None] = {}
        self._lock = asyncio.Lock()

    def budget(self, endpoint: str) -> RateBudget:
        """The budget of one endpoint template, created unknown."""
        found = self.budgets.get(endpoint)
        if found is None:
            found = self.budgets[endpoint] = RateBudget()
        return found

    async def acquire(self, endpoint: str) -> None:
        """Wait until the endpoint's budget allows a request, then reserve it.

        Raises TwitterApiError when the wait would be longer than ``max_wait``.
        """
        budget = self.budget(endpoint)
        while True:
            cap = self.caps.get(endpoint)
            if cap is None and self.shared is not None:
                # the database reserves atomically: nothing local to keep consistent, so no lock (one
                # would queue every request of the process behind each other's round trip)
                now = self.clock()
                wait = await asyncio.to_thread(self.shared.reserve, endpoint, now)
                if wait <= 0:
                    budget.consume(now)
                    return
                capped = 0.0
            else:
                wait, capped = await self._reserve_locally(endpoint, budget, cap)
                if wait <= 0 and capped <= 0:
                    return
            if capped > wait:
                log.debug("own cap on %s reached: waiting %.1f s", endpoint, capped)
                await self.sleep(capped)
                continue
            if wait > self.max_wait:
                raise TwitterApiError(
                    f"X API rate limit of {endpoint} is used up for {math.ceil(wait)} s more, "
                    f"longer than the {self.max_wait:g} s we wait"
                )
            log.warning("X API rate limit of %s used up: waiting %.1f s for the reset", endpoint, wait)
            await self.sleep(wait)

    async def _reserve_locally(
        self, endpoint: str, budget: RateBudget, cap: SlidingCap | None
    ) -> tuple[float, float]:
        """Under the lock: reserve one request if the budget and our cap allow it; else the seconds to
        wait for each (both 0.0 when reserved)."""
        async with self._lock:
            now = self.clock()
            capped = cap.wait_seconds(now) if cap is not None else 0.0
            if capped > 0:
                wait = 0.0
            elif self.shared is not None:
                wait = await asyncio.to_thread(self.shared.reserve, endpoint, now)
            else:
                wait = budget.wait_seconds(now)
            if wait <= 0 and capped <= 0:
                budget.consume(now)
                if cap is not None:
                    cap.record(now)
            return wait, capped

    def update(
        self, endpoint: str, limit: int | None, remaining: int | None, reset_epoch: int | None
    ) -> None:
        """Take in a response's headers; warn once per window when the budget runs low."""
        budget = self.budget(endpoint)
        budget.update(limit, remaining, reset_epoch)
        if budget.low(self.low_fraction) and self._warned.get(endpoint, -1) != budget.reset_epoch:
            self._warned[endpoint] = budget.reset_epoch
            log.warning(
                "X API rate limit of %s running low: %s of %s left until the reset",
                endpoint,
                budget.remaining,
                budget.limit,
            )

    async def record(
        self, endpoint: str, limit: int | None, remaining: int | None, reset_epoch: int | None
    ) -> None:
        """Take in a response's headers, in the shared store too (then mirror it locally)."""
        if self.shared is not None:
            merged = self.shared.settled(endpoint, limit, remaining, reset_epoch)
            if merged is None:
                merged = await asyncio.to_thread(self.shared.update, endpoint, limit, remaining, reset_epoch)
            self.update(endpoint, merged.limit, merged.remaining, merged.reset_epoch)
        else:
            self.update(endpoint, limit, remaining, reset_epoch)

    async def exhausted(self, endpoint: str, reset_epoch: int) -> None:
        """A 429: the budget is empty until ``reset_epoch`` (for every instance sharing it)."""
        budget = self.budget(endpoint)
        budget.remaining = 0
        budget.reset_epoch = reset_epoch
        if self.shared is not None:
            await asyncio.to_thread(self.shared.update, endpoint, None, 0, reset_epoch)

    def snapshot(self) -> dict[str, dict[str, int | float | None]]:
        """Every budget as plain numbers (for the daemon's stats)."""
        return {
            endpoint: {"limit": b.limit, "remaining": b.remaining, "reset": b.reset_epoch}
            for endpoint, b in sorted(self.budgets.items())
        }
