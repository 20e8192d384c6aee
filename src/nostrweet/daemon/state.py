"""The daemon's per-user poll state: where each user resumes from, kept across restarts.

One small JSON file per watched user, ``<data-dir>/daemon_state/<username>.json``, written atomically
(``cache.store.atomic_write_json``)::

    {"format": 1, "user_id": "783214", "since_id": "1790000000000000000",
     "backfill": 20, "backfill_floor": "1789000000000000000", "backfill_done": false}

- ``since_id`` is the *watermark*: every tweet newer than it has been cached by a poll that finished.
  A poll asks the timeline for ``since_id`` = the watermark (following ``next_token`` to the end), and
  only once it has cached everything does it move the watermark to the newest cached id. A crash in
  the middle therefore repeats the poll from the same watermark: tweets already cached are skipped,
  nothing is fetched twice and no gap is left, whatever order the archiver wrote in.
- On a user's first run (no state file, no cached tweet) the daemon asks the timeline once for the
  ``backfill`` newest ids and writes ``backfill_floor`` (the oldest of them) and ``since_id`` = floor - 1
  *before* caching anything. A backfill interrupted by a crash is completed from that file after the
  restart: the target stays "the N newest as seen on the first run", not "N more".
- A user with cached tweets but no state file (a cache filled by ``user-tweets``, or an earlier
  version) resumes from its newest cached id.
- Deleting a user's state file makes a user without cached tweets backfill again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from nostrweet.cache.layout import normalize_username
from nostrweet.cache.store import (
    atomic_write_json,
    make_private_dir,
    move_aside,
    read_json_or_quarantine,
    remove_stale_temp_files,
)

log = logging.getLogger(__name__)

STATE_DIR = "daemon_state"
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


class StateStore:
    """The ``daemon_state/`` directory."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = Path(data_dir) / STATE_DIR
        make_private_dir(self.dir)
        remove_stale_temp_files(self.dir)
        self._memo: dict[str, UserState | None] = {}

    def path(self, username: str) -> Path:
        """The state file of a user."""
        return self.dir / f"{normalize_username(username)}.json"

    def load(self, username: str) -> UserState | None:
        """The user's state, or None (no file, or a file that does not parse: moved aside)."""
        name = normalize_username(username)
        if name in self._memo:
            return self._memo[name]
        path = self.path(name)
        state: UserState | None = None
        data = read_json_or_quarantine(path)
        if data is not None:
            try:
                state = UserState.from_json(data)
            except ValueError as exc:
                move_aside(path, str(exc))
        self._memo[name] = state
        return state

    def save(self, username: str, state: UserState) -> None:
        """Write the user's state atomically (only if it changed)."""
        name = normalize_username(username)
        if self._memo.get(name) == state:
            return
        atomic_write_json(self.path(name), state.to_json())
        self._memo[name] = state
