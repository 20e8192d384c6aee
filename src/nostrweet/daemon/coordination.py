"""The daemon's users in the state database: saved schedules, pauses, and leases (SPEC §7).

:class:`StateCoordination` implements the loop's :class:`~nostrweet.daemon.runner.Coordination` over the
state:

- every poll's schedule (next poll, failures, backoff) and a pause are written to the user's row, so a
  restart keeps a user's backoff and pause. A failure, or the first success after failures, is written
  at once; the schedules of polls that went on succeeding are written together, one transaction per
  :data:`FLUSH_SECONDS` (and at every :meth:`balance` and :meth:`release`): a crash loses at most that
  much of when healthy users were due, which a restart spreads anew anyway;
- on SQLite (one instance) every watched user is this instance's;
- on PostgreSQL the instances share the users through leases (:class:`~nostrweet.state.leases.Leases`):
  every ``lease_seconds / 3`` the loop calls :meth:`balance`, which renews this instance's leases, hands
  back what is above its fair share and takes free or expired ones, in one transaction under an advisory
  lock. A user being polled is never handed back before its poll ends, so no user is polled by two
  instances at once. :meth:`release` (a clean stop) hands everything back at once.

The database calls block: they run in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from nostrweet.cache.atomic import pid_alive
from nostrweet.cache.layout import normalize_username
from nostrweet.daemon.runner import SavedSchedule
from nostrweet.daemon.scheduler import UserSchedule
from nostrweet.daemon.state import UserStates
from nostrweet.errors import OperationalError
from nostrweet.state.engine import State
from nostrweet.state.leases import Leases
from nostrweet.state.users import UserRepo

log = logging.getLogger("nostrweet.daemon")

DEFAULT_LEASE_SECONDS = 30
FLUSH_SECONDS = 1.0
"""The most time the schedules of healthy users wait before they are written, together."""

Schedule = tuple[int | None, int, float]  # next poll (epoch seconds), failures, backoff


class StateCoordination:
    """Schedules and pauses in the ``users`` rows; leases on PostgreSQL."""

    def __init__(self, state: State, instance_id: str, *, lease_seconds: int = DEFAULT_LEASE_SECONDS) -> None:
        self.state = state
        self.instance_id = instance_id
        self.users = UserStates(UserRepo(state))
        self.leases: Leases | None = None
        self.renew_every = float("inf")
        self._writes = asyncio.Lock()  # one write of schedules at a time
        self._pending: dict[str, Schedule] = {}  # schedules not written yet
        self._failures: dict[str, int] = {}  # the failures each user's row says
        self._flushed = time.monotonic()
        self.flush_every = FLUSH_SECONDS
        self._mine: set[str] | None = None
        self.moved: Callable[[Iterable[str]], None] | None = None
        """Told which users this instance took or handed back at a :meth:`balance`."""
        if state.is_postgres:
            self.leases = Leases(
                state, instance_id, pid=os.getpid(), host=socket.gethostname(), lease_seconds=lease_seconds
            )
            self.renew_every = lease_seconds / 3

    def check_unique(self, now: float) -> None:
        """OperationalError (exit 1) when a live instance of another process has this instance id: two
        processes with one id would take each other's leases for their own (blocking; at start)."""
        if self.leases is None:
            return
        other = self.leases.other_holder(now)
        if other is not None and not (other[0] == self.leases.host and not pid_alive(other[1])):
            host, pid = other
            raise OperationalError(
                f"another daemon (host {host}, pid {pid}) is running as instance {self.instance_id} "
                f"on {self.state.shown}: give each instance its own --instance-id"
            )

    async def restore(self, users: Sequence[str]) -> Mapping[str, SavedSchedule]:
        """The saved schedule of every watched user that has a row."""
        rows = await asyncio.to_thread(self.users.repo.load_all)
        wanted = {normalize_username(u) for u in users}
        self._failures.update({name: row.failures for name, row in rows.items()})
        return {
            name: SavedSchedule(
                next_poll=float(row.next_poll) if row.next_poll is not None else None,
                failures=row.failures,
                backoff=row.backoff,
                paused=row.paused,
            )
            for name, row in rows.items()
            if name in wanted
        }

    async def save(self, user: str, schedule: UserSchedule) -> None:
        """Remember the user's schedule (its columns only): at once when its failures change, else with
        the next batch (see the module docstring)."""
        name = normalize_username(user)
        next_poll = None if schedule.next_due is None else int(schedule.next_due)
        self._pending[name] = (next_poll, schedule.failures, schedule.backoff)
        urgent = schedule.failures != self._failures.get(name)
        if urgent or time.monotonic() - self._flushed >= self.flush_every:
            await self.flush()

    async def flush(self) -> None:
        """Write every schedule not written yet, in one transaction."""
        async with self._writes:
            self._flushed = time.monotonic()
            batch, self._pending = self._pending, {}
            if not batch:
                return
            try:
                await asyncio.to_thread(self.users.save_schedules, batch)
            except BaseException:
                for name, values in batch.items():  # newer ones that came meanwhile win
                    self._pending.setdefault(name, values)
                raise
            self._failures.update({name: values[1] for name, values in batch.items()})

    async def balance(self, users: Sequence[str], busy: set[str], now: float) -> set[str]:
        """Every user on SQLite; this instance's leased share on PostgreSQL (``busy`` ones kept)."""
        if self._pending:
            try:
                await self.flush()
            except Exception as exc:  # kept for the next flush; the leases are renewed all the same
                log.warning("schedules not saved: %s: %s", exc.__class__.__name__, exc)
        if self.leases is None:
            mine = set(users)
        else:
            mine = set(await asyncio.to_thread(self.leases.balance, users, now, busy=busy))
        if self._mine is not None and self.moved is not None and mine != self._mine:
            self.moved(mine ^ self._mine)
        self._mine = mine
        return mine

    async def release(self) -> None:
        """Write the schedules not written yet; hand every lease back (PostgreSQL)."""
        try:
            await self.flush()
        except Exception as exc:
            log.warning("schedules not saved: %s: %s", exc.__class__.__name__, exc)
        if self.leases is not None:
            await asyncio.to_thread(self.leases.release)
