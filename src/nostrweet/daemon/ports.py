"""The daemon loop's ports: what it drives (:class:`Pipeline`), where schedules and leases are kept
(:class:`Coordination`; :class:`Solo` for one instance), what it tells after each round and poll
(:class:`LoopHook`), and its knobs (:class:`LoopSettings`). :mod:`nostrweet.daemon.runner` is the loop."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from nostrweet.daemon import scheduler
from nostrweet.daemon.scheduler import UserSchedule


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one successful poll of a user did."""

    new_tweets: int = 0
    posted: int = 0


class Pipeline(Protocol):
    """The per-user work the loop drives."""

    async def poll_user(self, username: str) -> PollResult:
        """Fetch, cache and publish the user's new tweets. Raise on failure (the user backs off)."""
        ...

    async def run_outbox(self) -> None:
        """One outbox pass: re-send what some relay has not accepted yet."""
        ...

    def budgets(self) -> Mapping[str, Mapping[str, int | float | None]]:
        """The X API budget per endpoint (``RateLimiter.snapshot()``)."""
        ...

    def relay_status(self) -> Mapping[str, Mapping[str, Any]]:
        """Per relay: connected, accepted, rejected, pending."""
        ...


@dataclass(frozen=True, slots=True)
class SavedSchedule:
    """What the state remembers of a user's schedule across restarts."""

    next_poll: float | None = None
    failures: int = 0
    backoff: float = 0.0
    paused: bool = False


class Coordination(Protocol):
    """Where the loop keeps its users' schedules, and which users are this instance's to poll.

    With one instance every watched user is its own; with several on one PostgreSQL state a user is
    polled only by the instance holding its lease (:mod:`nostrweet.daemon.coordination`).
    """

    renew_every: float
    """Seconds between two :meth:`balance` calls (a third of the lease time)."""

    async def restore(self, users: Sequence[str]) -> Mapping[str, SavedSchedule]:
        """The saved schedules of ``users`` (those that have one)."""
        ...

    async def save(self, user: str, schedule: UserSchedule) -> None:
        """Remember a user's schedule after a poll (a pause is the admin API's to keep)."""
        ...

    async def balance(self, users: Sequence[str], busy: set[str], now: float) -> set[str]:
        """The users this instance polls from now on; ``busy`` ones (being polled) are kept."""
        ...

    async def release(self) -> None:
        """Hand every user back (a clean stop)."""
        ...


class Solo:
    """One instance, nothing kept: every user is ours (the loop's default, for tests)."""

    renew_every = math.inf

    async def restore(self, users: Sequence[str]) -> Mapping[str, SavedSchedule]:
        """Nothing saved."""
        return {}

    async def save(self, user: str, schedule: UserSchedule) -> None:
        """Nothing kept."""

    async def balance(self, users: Sequence[str], busy: set[str], now: float) -> set[str]:
        """Every user."""
        return set(users)

    async def release(self) -> None:
        """Nothing held."""


class LoopHook(Protocol):
    """Told about every round of the loop and every poll's end (alerts, the systemd watchdog).

    A hook must return at once (queue its work elsewhere); an exception in it is logged, never fatal.
    """

    def after_round(self, loop: Any) -> None:
        """One round of the loop ended (``loop`` is the :class:`Daemon`)."""
        ...

    def after_poll(self, user: str, error: BaseException | None) -> None:
        """A poll of ``user`` ended, with ``error`` when it failed."""
        ...


@dataclass(frozen=True, slots=True)
class LoopSettings:
    """The loop's knobs (resolved from flags and the config file)."""

    poll_interval: float = 300.0
    max_concurrent: int = 3
    stats_interval: float = 60.0
    outbox_interval: float | None = None  # default: min(poll_interval, 60)
    cap_requests: int | None = None  # our own cap: at most this many timeline requests ...
    cap_window: float | None = None  # ... per this many seconds (``[rate_limits]``)
    safety: float = scheduler.DEFAULT_SAFETY
    grace: float = 10.0
