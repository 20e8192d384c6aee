"""The daemon's per-user poll state: where each user resumes from, kept in the state database (SPEC §7).

Each watched user has one ``users`` row (:mod:`nostrweet.state.users`); :class:`UserState` is the part of
it that says where polling stands:

- ``since_id`` is the *watermark*: every tweet newer than it has been cached by a poll that finished.
  A poll asks the timeline for ``since_id`` = the watermark (following ``next_token`` to the end), and
  only once it has cached (and published) everything does it move the watermark to the newest cached id.
  The order is the tweet's file, then its rows, then the watermark: a crash in the middle repeats the
  poll from the same watermark (tweets already cached are skipped), so nothing is lost and no gap is left.
- On a user's first run (no row, no cached tweet) the daemon asks the timeline once for the
  ``backfill`` newest ids and writes ``backfill_floor`` (the oldest of them) and ``since_id`` = floor - 1
  *before* caching anything. A backfill interrupted by a crash is completed from that row after the
  restart: the target stays "the N newest as seen on the first run", not "N more".
- A user with cached tweets but no row (a cache filled by ``user-tweets``) resumes from its newest
  cached id.

The row also keeps the scheduler's view (next poll, failures, backoff) and ``paused``;
:class:`UserStates` reads and writes both halves without one overwriting the other; :class:`HeldStates`
keeps the poll states of the users this instance polls, so a poll that finds nothing new touches no row. The
``daemon_state/<username>.json`` files of earlier versions are imported once when the state is opened
(:mod:`nostrweet.state.import_files`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from nostrweet.cache.layout import normalize_username
from nostrweet.state.users import UserRepo, UserRow

STATE_FORMAT = 1


@dataclass(frozen=True, slots=True)
class UserState:
    """Where one user's polling stands."""

    user_id: str
    since_id: str | None = None
    backfill: int | None = None
    backfill_floor: str | None = None
    backfill_done: bool = True

    def to_json(self) -> dict[str, Any]:
        """The file's content."""
        return {
            "format": STATE_FORMAT,
            "user_id": self.user_id,
            "since_id": self.since_id,
            "backfill": self.backfill,
            "backfill_floor": self.backfill_floor,
            "backfill_done": self.backfill_done,
        }

    @classmethod
    def from_json(cls, data: Any) -> UserState:
        """Parse a state file's content; ValueError if it does not have the expected shape."""
        if not isinstance(data, dict) or not isinstance(data.get("user_id"), str):
            raise ValueError("not a daemon state object")

        def opt_id(key: str) -> str | None:
            value = data.get(key)
            if value is None:
                return None
            if not isinstance(value, str) or not value.isdigit():
                raise ValueError(f"{key} is not a numeric id")
            return value

        backfill = data.get("backfill")
        return cls(
            user_id=data["user_id"],
            since_id=opt_id("since_id"),
            backfill=backfill if isinstance(backfill, int) else None,
            backfill_floor=opt_id("backfill_floor"),
            backfill_done=bool(data.get("backfill_done", True)),
        )


def first_run_state(user_id: str, newest_ids: list[int], backfill: int) -> UserState:
    """The state of a user's first run, from the ids its timeline shows now (newest first or any order).

    With ``backfill`` = N the target is the N newest ids: the watermark goes just below the oldest of
    them. With N = 0 only tweets newer than the newest one count. An empty timeline has no watermark
    (every tweet that appears later is new).
    """
    ids = sorted(set(newest_ids), reverse=True)
    if not ids:
        return UserState(user_id=user_id, since_id=None, backfill=backfill, backfill_done=False)
    if backfill <= 0:
        return UserState(user_id=user_id, since_id=str(ids[0]), backfill=0, backfill_done=False)
    target = ids[:backfill]
    floor = target[-1]
    return UserState(
        user_id=user_id,
        since_id=str(floor - 1) if floor > 0 else None,
        backfill=backfill,
        backfill_floor=str(floor),
        backfill_done=False,
    )


def advanced(state: UserState, newest_cached: int | None) -> UserState:
    """The state after a poll that cached everything newer than the watermark."""
    since = state.since_id
    if newest_cached is not None and (since is None or newest_cached > int(since)):
        since = str(newest_cached)
    return replace(state, since_id=since, backfill_done=True)


def state_of_row(row: UserRow) -> UserState | None:
    """The poll state a row holds (None when the user was never resolved: a row made only to pause it)."""
    if row.user_id is None:
        return None
    return UserState(
        user_id=row.user_id,
        since_id=row.since_id,
        backfill=row.backfill,
        backfill_floor=row.backfill_floor,
        backfill_done=row.backfill_done,
    )


def with_state(row: UserRow, state: UserState) -> UserRow:
    """The row with its poll state replaced (the scheduling fields kept)."""
    return replace(
        row,
        user_id=state.user_id,
        since_id=state.since_id,
        backfill=state.backfill,
        backfill_floor=state.backfill_floor,
        backfill_done=state.backfill_done,
    )


class UserStates:
    """The users' rows seen from the daemon: poll state and schedule, one user at a time.

    Blocking (one short transaction each): the daemon calls these from a worker thread.
    """

    def __init__(self, repo: UserRepo) -> None:
        self.repo = repo

    def row(self, username: str) -> UserRow:
        """The user's row, or a fresh one (not written)."""
        name = normalize_username(username)
        return self.repo.load(name) or UserRow(username=name)

    def load(self, username: str) -> UserState | None:
        """Where the user's polling stands, or None (never polled)."""
        found = self.repo.load(username)
        return state_of_row(found) if found is not None else None

    def save(self, username: str, state: UserState) -> None:
        """Write the user's poll state (only those columns: the schedule and the pause stay)."""
        self.repo.update(
            username,
            user_id=state.user_id,
            since_id=state.since_id,
            backfill=state.backfill,
            backfill_floor=state.backfill_floor,
            backfill_done=state.backfill_done,
        )

    def save_schedule(self, username: str, next_poll: float | None, failures: int, backoff: float) -> None:
        """Write when the user is due next, its failures and backoff (only those columns: the poll state
        and the pause, which the admin API owns, stay)."""
        self.save_schedules({username: (None if next_poll is None else int(next_poll), failures, backoff)})

    def save_schedules(self, schedules: Mapping[str, tuple[int | None, int, float]]) -> None:
        """:meth:`save_schedule` for several users (username -> next poll, failures, backoff), in one
        transaction."""
        self.repo.update_many(
            {"username": name, "next_poll": next_poll, "failures": failures, "backoff": backoff}
            for name, (next_poll, failures, backoff) in schedules.items()
        )


class HeldStates:
    """The poll states of the users this instance polls, as their rows hold them, kept in memory while
    it holds them: a steady poll neither reads its row nor writes it back unchanged.

    :meth:`forget` drops a user whose lease moved (another instance may have moved its watermark
    meanwhile). A write that fails drops the user too, so its row is read again.
    """

    def __init__(self, states: UserStates) -> None:
        self.states = states
        self._held: dict[str, UserState | None] = {}

    async def load(self, name: str) -> UserState | None:
        """The user's poll state (its row is read the first time only)."""
        if name not in self._held:
            self._held[name] = await asyncio.to_thread(self.states.load, name)
        return self._held[name]

    async def save(self, name: str, state: UserState) -> None:
        """Write the user's poll state, unless its row holds exactly that already."""
        if name in self._held and self._held[name] == state:
            return
        self._held.pop(name, None)  # until the write is known to have landed
        await asyncio.to_thread(self.states.save, name, state)
        self._held[name] = state

    def forget(self, names: Iterable[str]) -> None:
        """Read these users' rows again at their next poll."""
        for name in names:
            self._held.pop(normalize_username(name), None)
