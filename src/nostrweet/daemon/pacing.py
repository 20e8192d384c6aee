"""How fast the daemon polls: the interval and the polls allowed now, from X's live budget (SPEC §5).

The figures come from the last answers' rate-limit headers, as the pipeline reports them
(``Pipeline.budgets()``); the policy itself is pure (:mod:`nostrweet.daemon.scheduler`). This module
only reads the budget, applies the policy, and logs the interval when it moves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from nostrweet.daemon import scheduler
from nostrweet.daemon.ports import LoopSettings

log = logging.getLogger("nostrweet.daemon")

TIMELINE_ENDPOINT = "/2/users/:id/tweets"

Budgets = Callable[[], Mapping[str, Mapping[str, int | float | None]]]


class Pacing:
    """The poll interval per user and the polls the timeline budget allows, from the live headers."""

    def __init__(self, budgets: Budgets, settings: LoopSettings) -> None:
        self._budgets = budgets
        self.settings = settings
        self.interval = settings.poll_interval
        self._logged: float | None = None

    def timeline_budget(self) -> tuple[int | None, float | None]:
        """What the last answers said about the timeline budget: requests left and the reset time."""
        known = self._budgets().get(TIMELINE_ENDPOINT, {})
        remaining, reset = known.get("remaining"), known.get("reset")
        if not isinstance(remaining, int) or not isinstance(reset, int | float):
            return None, None
        return remaining, float(reset)

    def update(self, now: float, users: int) -> float:
        """Recompute the interval for ``users`` users (logged when it moves); returns it."""
        remaining, reset = self.timeline_budget()
        value = max(
            scheduler.paced_interval(
                now, remaining, reset, users, self.settings.poll_interval, self.settings.safety
            ),
            scheduler.capped_interval(users, self.settings.cap_requests, self.settings.cap_window),
        )
        self._log(value, now, remaining, reset, users)
        self.interval = value
        return value

    def _log(self, value: float, now: float, remaining: int | None, reset: float | None, users: int) -> None:
        """Log the interval at start and when it changes by a quarter or more (it moves with every answer)."""
        last = self._logged
        if last is not None and abs(value - last) < 0.25 * last:
            log.debug("poll interval %.1f s per user", value)
            return
        self._logged = value
        if remaining is None or reset is None or reset <= now:
            budget = "X budget not known yet" if last is None else "X budget window over"
        else:
            budget = f"X budget: {remaining} timeline requests left for {reset - now:.0f} s"
        log.info("poll interval %.0f s per user (%d users, %s)", value, users, budget)

    def polls_allowed(self, now: float, in_flight: int) -> int | None:
        """How many more polls the timeline budget allows now (None: no limit known)."""
        known = self._budgets().get(TIMELINE_ENDPOINT, {})
        limit, remaining, reset = known.get("limit"), known.get("remaining"), known.get("reset")
        return scheduler.polls_allowed(
            now,
            limit if isinstance(limit, int) else None,
            remaining if isinstance(remaining, int) else None,
            float(reset) if isinstance(reset, int | float) else None,
            in_flight,
        )
