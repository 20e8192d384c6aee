"""The daemon's users in the state database: saved schedules, pauses, and leases (SPEC §7).

:class:`StateCoordination` implements the loop's :class:`~nostrweet.daemon.runner.Coordination` over the
state:

- every poll's schedule (next poll, failures, backoff) and a pause are written to the user's row, so a
  restart keeps a user's backoff and pause;
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
import os
import socket
from collections.abc import Mapping, Sequence

from nostrweet.cache.atomic import pid_alive
from nostrweet.cache.layout import normalize_username
from nostrweet.daemon.runner import SavedSchedule
from nostrweet.daemon.scheduler import UserSchedule
from nostrweet.daemon.state import UserStates
from nostrweet.errors import OperationalError
from nostrweet.state.engine import State
from nostrweet.state.leases import Leases
from nostrweet.state.users import UserRepo

DEFAULT_LEASE_SECONDS = 30


class StateCoordination:
    """Schedules and pauses in the ``users`` rows; leases on PostgreSQL."""

    def __init__(self, state: State, instance_id: str, *, lease_seconds: int = DEFAULT_LEASE_SECONDS) -> None:
        self.state = state
        self.instance_id = instance_id
        self.users = UserStates(UserRepo(state))
        self.leases: Leases | None = None
        self.renew_every = float("inf")
        self._writes = asyncio.Lock()  # a user's row is read and written back: one write at a time
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
        """Write the user's schedule (its columns only)."""
        async with self._writes:
            await asyncio.to_thread(
                self.users.save_schedule, user, schedule.next_due, schedule.failures, schedule.backoff
            )

    async def balance(self, users: Sequence[str], busy: set[str], now: float) -> set[str]:
        """Every user on SQLite; this instance's leased share on PostgreSQL (``busy`` ones kept)."""
        if self.leases is None:
            return set(users)
        return set(await asyncio.to_thread(self.leases.balance, users, now, busy=busy))

    async def release(self) -> None:
        """Hand every lease back (PostgreSQL)."""
        if self.leases is not None:
            await asyncio.to_thread(self.leases.release)
