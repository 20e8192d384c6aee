"""Poll scheduling policy of the daemon (SPEC §5), as pure functions of a clock value passed in.

Four rules decide when a user is polled next; they are documented in ``docs/DAEMON.md``.

- **Pacing from the headers.** X says, per endpoint, how many requests are left (``remaining``) until
  the reset (``reset``, epoch seconds). With ``n`` users at poll interval ``P``, the interval of each
  user is ``E = max(P, n × (reset − now) × safety / remaining)``: the requests left are spread over the
  time left. ``E`` never reaches further than just past the reset, where a new budget begins. No
  window length is assumed (X has 15-minute and 24-hour windows). Before any header is seen, or once
  the reset has passed, ``E = P`` (the next answer brings the new numbers). Our own optional cap of ``requests`` per ``window``
  seconds adds ``E ≥ n × window / requests``. First polls are spread evenly over ``E``.
- **Smart spacing.** A user with no new tweet for ``q`` seconds is polled every
  ``E × min(4, 1 + floor(q / 3600))``: 1× while quiet for less than an hour, 2× after one quiet
  hour, 3× after two, 4× (the cap) after three. Any new tweet resets ``q`` to 0.
- **Backoff.** After ``k ≥ 1`` consecutive failures the next poll is ``min(60 × 2^(k-1), 3600)`` s
  after the failure. A success resets ``k`` to 0.
- **Budget gate.** At most as many polls start as the budget has requests left before the reset
  (:func:`polls_allowed`); due users beyond that wait for the reset.

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
# Seconds past a reset before the new window's budget is counted on (clocks differ by up to a second).
RESET_MARGIN = 1.0


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


def paced_interval(
    now: float,
    remaining: int | None,
    reset: float | None,
    n_users: int,
    poll_interval: float,
    safety: float = DEFAULT_SAFETY,
) -> float:
    """Each user's interval: the ``remaining`` requests spread over the time left until ``reset``.

    ``max(P, n × (reset − now) × safety / remaining)``, but never later than just after the reset (a
    new budget begins there); ``P`` while the budget is unknown or its reset has passed.
    """
    poll = float(poll_interval)
    if n_users <= 0 or remaining is None or reset is None:
        return poll
    left = reset - now
    if left <= 0:
        return poll
    after_reset = left + RESET_MARGIN  # a new budget begins then: never wait longer than that
    if remaining <= 0:
        return max(poll, after_reset)
    return max(poll, min(n_users * left * max(1.0, safety) / remaining, after_reset))


def capped_interval(n_users: int, requests: int | None, window: float | None) -> float:
    """The interval our own cap of ``requests`` per ``window`` seconds needs: ``n × window / requests``."""
    if n_users <= 0 or not requests or not window or requests <= 0 or window <= 0:
        return 0.0
    return n_users * window / requests


def polls_allowed(
    now: float, limit: int | None, remaining: int | None, reset: float | None, running: int
) -> int | None:
    """How many more polls may start now: the requests left before the reset, minus the polls running.

    Once the reset has passed, the new window's count is not known yet; X's limit per endpoint stays
    the same, so the last ``limit`` stands for it. ``None``: nothing is known (no header seen yet).
    """
    if reset is not None and now < reset + RESET_MARGIN and remaining is not None:
        return max(0, remaining - running)
    if reset is None and remaining is not None:  # the client's own count in a new window
        return max(0, remaining - running)
    if limit is not None:
        return max(0, limit - running)
    return None


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


LOOKUP_RESERVE = 0.5
"""The part of the tweet-lookup budget a deletion check never touches: the polls' own lookups (the
references of new tweets) keep it."""


def spare_lookups(
    limit: int | None,
    remaining: int | None,
    reset: float | None,
    now: float,
    *,
    reserve: float = LOOKUP_RESERVE,
) -> int:
    """How many lookup requests a deletion check may send now without starving the polls.

    Unknown budget (no answer seen yet): one, whose answer tells the budget. A window that is over:
    the limit above the reserve. Otherwise what is left above ``ceil(limit * reserve)``.
    """
    if limit is None or remaining is None:
        return 1
    if reset is not None and now >= reset + RESET_MARGIN:
        remaining = limit
    return max(0, remaining - math.ceil(limit * reserve))
