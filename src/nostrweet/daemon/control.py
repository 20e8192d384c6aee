"""What the HTTP server may ask of a running daemon: a snapshot to show, and the admin API's changes.

:class:`DaemonControl` is the small interface the server sees (SPEC §8). The loop
(:class:`nostrweet.daemon.runner.Daemon`) implements the in-memory part (``add_user``, ``remove_user``,
``pause``, ``resume``, ``poll_now``, ``snapshot``); :class:`PersistentControl` wraps it and first keeps
each change in the state's ``users`` table, so that it survives a restart (:func:`watched_users` reads it
back at start). A change reaches the loop at once: the next ``/healthz``, ``/metrics`` or dashboard
shows it.

Rules: users given with ``-u`` or in the config file are *fixed*: they can be paused but not removed
(409). A user added at run time is remembered with ``added_at_runtime``; removing it clears that flag and
keeps the rest of its row (its watermark), its archive and its records.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from nostrweet.daemon.scheduler import UserSchedule
from nostrweet.daemon.stats import UserStats
from nostrweet.names import normalize_username
from nostrweet.state.users import UserRepo, UserRow

log = logging.getLogger("nostrweet.daemon")

SYNC_SECONDS = 5.0  # how often the loop reads the users other instances added, removed or paused


class ControlError(Exception):
    """A change the daemon refuses; ``status`` is the HTTP status that says why."""

    status = 409


class UnknownUser(ControlError):
    """The user is not watched."""

    status = 404


class Conflict(ControlError):
    """Already watched, fixed by the command line or config, or paused."""

    status = 409


@dataclass(frozen=True, slots=True)
class UserView:
    """One watched user as the HTTP server shows it."""

    last_poll: float | None = None
    last_success: float | None = None
    polls: int = 0
    new_tweets: int = 0
    posted: int = 0
    failures: int = 0  # failed polls in a row
    errors_total: int = 0
    backoff_seconds: float = 0.0
    next_poll: float | None = None
    paused: bool = False
    fixed: bool = True  # from -u or the config file, not from the admin API
    last_error: str | None = None
    last_duration: float | None = None
    tweets_cached: int = 0


def user_view(
    stats: UserStats,
    schedule: UserSchedule | None,
    *,
    last_success: float | None,
    paused: bool,
    fixed: bool,
    tweets_cached: int,
) -> UserView:
    """A watched user's counters and schedule as the HTTP server shows them."""
    return UserView(
        last_poll=stats.last_poll,
        last_success=last_success,
        polls=stats.polls,
        new_tweets=stats.new_tweets,
        posted=stats.posted,
        failures=schedule.failures if schedule else 0,
        errors_total=stats.errors,
        backoff_seconds=schedule.backoff if schedule else 0.0,
        next_poll=schedule.next_due if schedule else None,
        paused=paused,
        fixed=fixed,
        last_error=stats.last_error,
        last_duration=stats.last_duration,
        tweets_cached=tweets_cached,
    )


@dataclass(frozen=True, slots=True)
class RecentError:
    """One failed poll, for the dashboard."""

    at: float
    user: str
    message: str


@dataclass(frozen=True, slots=True)
class DaemonSnapshot:
    """Everything ``/healthz``, ``/metrics`` and the dashboard show, read at one moment."""

    now: float
    started: float
    instance: str
    poll_interval: float
    effective_interval: float
    last_progress: float  # the last round of the loop
    users: Mapping[str, UserView] = field(default_factory=dict)
    relays: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    budgets: Mapping[str, Mapping[str, int | float | None]] = field(default_factory=dict)
    recent_errors: tuple[RecentError, ...] = ()
    tweets_cached: int = 0
    state_loaded: bool = True
    leases_held: int | None = None  # users this instance holds a lease on; None without leases


class LoopControl(Protocol):
    """What the loop itself does (:class:`nostrweet.daemon.runner.Daemon`)."""

    def snapshot(self) -> DaemonSnapshot:
        """What the daemon knows now (cheap: called on every request)."""
        ...

    def add_user(self, username: str, backfill: int | None = None) -> None:
        """Watch one more user (Conflict if watched)."""
        ...

    def remove_user(self, username: str) -> None:
        """Stop watching a user added at run time (UnknownUser; Conflict for a fixed user)."""
        ...

    def pause(self, username: str) -> None:
        """Stop polling a user until resumed (UnknownUser)."""
        ...

    def resume(self, username: str) -> None:
        """Poll a paused user again, now (UnknownUser)."""
        ...

    def poll_now(self, username: str) -> None:
        """Poll a user at once, within the X budget (UnknownUser; Conflict when paused)."""
        ...

    def outbox_now(self) -> None:
        """Start an outbox pass at once (when none is running)."""
        ...


class DaemonControl(LoopControl, Protocol):
    """The interface of a running daemon the HTTP server uses: the loop's, and the outbox retry."""

    def retry_outbox(self, relay: str) -> None:
        """Re-send, at once and whatever their backoff, the events ``relay`` has not accepted
        (UnknownRelay when it is not a configured relay)."""
        ...


class UnknownRelay(ControlError):
    """Not a relay the daemon publishes to."""

    status = 400


@dataclass(frozen=True, slots=True)
class Watched:
    """Who the daemon watches at start: the fixed users, then those added at run time."""

    users: list[str]
    paused: set[str]
    backfills: dict[str, int]  # the backfill asked for a user added at run time


def watched_users(fixed: Iterable[str], rows: Mapping[str, UserRow]) -> Watched:
    """PURE: the users to watch at start from the fixed ones and the state's rows."""
    names = list(dict.fromkeys(fixed))
    for name, row in sorted(rows.items()):
        if row.added_at_runtime and name not in names:
            names.append(name)
    paused = {name for name, row in rows.items() if row.paused and name in names}
    backfills = {
        name: row.backfill
        for name, row in rows.items()
        if row.added_at_runtime and row.backfill is not None and name in names
    }
    return Watched(names, paused, backfills)


class PersistentControl:
    """:class:`DaemonControl` over the loop, keeping every change in the state first.

    ``set_backfill`` tells the pipeline the backfill asked for a user added with one.
    """

    def __init__(
        self,
        loop: LoopControl,
        repo: UserRepo | None,
        *,
        set_backfill: Callable[[str, int], None] | None = None,
        retry_relay: Callable[[str], None] | None = None,
    ) -> None:
        self.loop = loop
        self.repo = repo
        self.set_backfill = set_backfill
        self.retry_relay = retry_relay

    def _update(self, name: str, **values: object) -> None:
        """Write only these columns (the loop writes the others at the same time)."""
        if self.repo is not None:
            self.repo.update(name, **values)

    def _known(self, username: str) -> str:
        name = normalize_username(username)
        if name not in self.loop.snapshot().users:
            raise UnknownUser(f"@{name} is not watched")
        return name

    def snapshot(self) -> DaemonSnapshot:
        """The loop's snapshot."""
        return self.loop.snapshot()

    def add_user(self, username: str, backfill: int | None = None) -> None:
        """Keep the new user in the state, then start polling it."""
        name = normalize_username(username)
        if name in self.loop.snapshot().users:
            raise Conflict(f"@{name} is already watched")
        if backfill is not None:
            self._update(name, added_at_runtime=True, paused=False, backfill=backfill)
        else:
            self._update(name, added_at_runtime=True, paused=False)
        if backfill is not None and self.set_backfill is not None:
            self.set_backfill(name, backfill)
        self.loop.add_user(name, backfill)

    def remove_user(self, username: str) -> None:
        """Forget a user added at run time (its row keeps its watermark), then stop polling it."""
        name = self._known(username)
        if self.loop.snapshot().users[name].fixed:
            raise Conflict(f"@{name} is given on the command line or in the config file: pause it instead")
        self._update(name, added_at_runtime=False, paused=False)
        self.loop.remove_user(name)

    def pause(self, username: str) -> None:
        """Keep the pause in the state, then stop polling."""
        name = self._known(username)
        self._update(name, paused=True)
        self.loop.pause(name)

    def resume(self, username: str) -> None:
        """Keep the resume in the state, then poll again."""
        name = self._known(username)
        self._update(name, paused=False)
        self.loop.resume(name)

    def poll_now(self, username: str) -> None:
        """Nothing to keep: poll at once."""
        self.loop.poll_now(self._known(username))

    def outbox_now(self) -> None:
        """An outbox pass at once."""
        self.loop.outbox_now()

    def retry_outbox(self, relay: str) -> None:
        """Mark the relay's events due now, then run the outbox."""
        if relay not in self.loop.snapshot().relays:
            raise UnknownRelay(f"{relay[:200]} is not a relay the daemon publishes to")
        if self.retry_relay is not None:
            self.retry_relay(relay)
        self.loop.outbox_now()


class UserSync:
    """A loop hook (:class:`~nostrweet.daemon.ports.LoopHook`): every ``every`` seconds, the changes
    another instance sharing the state made through its admin API (users added, removed, paused,
    resumed) reach this loop. A failed read is logged and tried again at the next turn."""

    def __init__(
        self,
        loop: LoopControl,
        repo: UserRepo,
        fixed: Iterable[str],
        *,
        every: float = SYNC_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        set_backfill: Callable[[str, int], None] | None = None,
    ) -> None:
        self.loop = loop
        self.set_backfill = set_backfill
        self.repo = repo
        self.fixed = tuple(fixed)
        self.every = every
        self.clock = clock
        self.next = clock() + every

    def after_round(self, daemon: object) -> None:
        """Apply what changed in the state since the last turn."""
        if self.clock() < self.next:
            return
        self.next = self.clock() + self.every
        try:
            rows = self.repo.load_all()
        except Exception as exc:
            log.warning("reading the watched users from the state failed: %s", exc.__class__.__name__)
            return
        self.apply(watched_users(self.fixed, rows))

    def apply(self, watched: Watched) -> None:
        """Make the loop watch ``watched``."""
        current = self.loop.snapshot().users
        for name in watched.users:
            if name not in current:
                log.info("@%s: added by another instance", name, extra={"user": name})
                backfill = watched.backfills.get(name)
                if backfill is not None and self.set_backfill is not None:
                    self.set_backfill(name, backfill)
                self.loop.add_user(name, backfill)
        for name, view in current.items():
            if name not in watched.users and not view.fixed:
                log.info("@%s: removed by another instance", name, extra={"user": name})
                self.loop.remove_user(name)
            elif name in watched.paused and not view.paused:
                self.loop.pause(name)
            elif name not in watched.paused and view.paused and name in watched.users:
                self.loop.resume(name)

    def after_poll(self, user: str, error: BaseException | None) -> None:
        """Nothing per poll."""
