"""Poll scheduling policy of the daemon (SPEC §5), as pure functions of a clock value passed in.

Three rules decide when a user is polled next; they are documented in ``docs/DAEMON.md``.

- **Rate spreading.** With ``n`` users at poll interval ``P`` and a timeline budget of ``budget``
  requests per ``window`` seconds, the *effective interval* is
  ``E = max(P, n × window / budget × safety)``. User ``i`` (0-based) gets its first poll at
  ``start + i × E / n``, so polls are spread evenly over ``E`` instead of bursting at start-up.
- **Smart spacing.** A user with no new tweet for ``q`` seconds is polled every
  ``E × min(4, 1 + floor(q / 3600))``: 1× while quiet for less than an hour, 2× after one quiet
  hour, 3× after two, 4× (the cap) after three. Any new tweet resets ``q`` to 0.
- **Backoff.** After ``k ≥ 1`` consecutive failures the next poll is ``min(60 × 2^(k-1), 3600)`` s
  after the failure. A success resets ``k`` to 0.

The next poll after a success is ``previous due time + interval`` (so the spread offsets persist),
but never in the past: a poll that overran its slot is followed one interval after it finished.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

BACKOFF_BASE = 60.0
BACKOFF_CAP = 3600.0
QUIET_STEP = 3600.0
MAX_SPACING = 4
DEFAULT_SAFETY = 1.25
DEFAULT_TIMELINE_LIMIT = 1500
DEFAULT_TIMELINE_WINDOW = 900.0


def backoff_delay(failures: int) -> float:
    """Seconds to wait after ``failures`` consecutive failures: 0, then 60 doubling, capped at 3600."""
    if failures <= 0:
        return 0.0
    if failures > 12:  # 60 × 2^11 is already far past the cap; avoid huge powers
        return BACKOFF_CAP
    return min(BACKOFF_BASE * 2.0 ** (failures - 1), BACKOFF_CAP)


def spacing_factor(quiet_seconds: float) -> int:
    """Multiplier of the interval for a user quiet for ``quiet_seconds``: 1 under an hour, then +1 per hour, ≤ 4."""
    if quiet_seconds < QUIET_STEP:
        return 1
    return min(MAX_SPACING, 1 + int(quiet_seconds // QUIET_STEP))


def effective_interval(
    poll_interval: float,
    n_users: int,
    budget: int = DEFAULT_TIMELINE_LIMIT,
    window: float = DEFAULT_TIMELINE_WINDOW,
    safety: float = DEFAULT_SAFETY,
) -> float:
    """``max(P, n × window / budget × safety)``: the shortest interval the timeline budget sustains."""
    if n_users <= 0 or budget <= 0:
        return float(poll_interval)
    return max(float(poll_interval), n_users * window / budget * max(1.0, safety))


def first_poll_offsets(n_users: int, interval: float) -> list[float]:
    """Offsets (seconds after start) of each user's first poll, spread evenly over ``interval``."""
    if n_users <= 0:
        return []
    step = interval / n_users
    return [i * step for i in range(n_users)]


@dataclass(frozen=True, slots=True)
class UserSchedule:
    """What the scheduler knows about one user. Immutable: every transition returns a new value."""

    next_due: float
    failures: int = 0
    last_activity: float = 0.0  # when a poll last found a new tweet (or when the daemon started)
    last_poll: float | None = None
    backoff: float = 0.0  # the delay chosen after the last failure, 0 when healthy


def initial_schedules(
    n_users: int, start: float, interval: float, *, spread: bool = True
) -> list[UserSchedule]:
    """One schedule per user, first polls spread evenly over ``interval`` from ``start``."""
    offsets = first_poll_offsets(n_users, interval) if spread else [0.0] * n_users
    return [UserSchedule(next_due=start + off, last_activity=start) for off in offsets]


def after_success(state: UserSchedule, now: float, new_tweets: int, interval: float) -> UserSchedule:
    """The schedule after a successful poll that finished at ``now`` and found ``new_tweets``."""
    activity = now if new_tweets > 0 else state.last_activity
    step = interval * spacing_factor(now - activity)
    base = state.next_due if state.failures == 0 else now
    due = base + step
    if due <= now:
        due = now + step
    return UserSchedule(next_due=due, failures=0, last_activity=activity, last_poll=now, backoff=0.0)


def after_failure(state: UserSchedule, now: float) -> UserSchedule:
    """The schedule after a failed poll at ``now``: exponential backoff from the failure."""
    failures = state.failures + 1
    delay = backoff_delay(failures)
    return replace(state, next_due=now + delay, failures=failures, last_poll=now, backoff=delay)


def due_users(schedules: dict[str, UserSchedule], now: float, busy: set[str]) -> list[str]:
    """Users whose poll is due at ``now`` and not already running, earliest due first."""
    ready = [u for u, s in schedules.items() if s.next_due <= now and u not in busy]
    ready.sort(key=lambda u: (schedules[u].next_due, u))
    return ready


def next_wakeup(schedules: dict[str, UserSchedule], busy: set[str]) -> float:
    """The earliest due time among users not running (``inf`` if none)."""
    times = [s.next_due for u, s in schedules.items() if u not in busy]
    return min(times) if times else math.inf


def max_polls_in_window(times: list[float], window: float) -> int:
    """The most poll instants found in any half-open window ``[t, t + window)`` (for checks and tests)."""
    ordered = sorted(times)
    best = 0
    j = 0
    for i, start in enumerate(ordered):
        while j < len(ordered) and ordered[j] < start + window:
            j += 1
        best = max(best, j - i)
    return best
