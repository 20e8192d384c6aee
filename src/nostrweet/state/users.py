"""Per-user daemon state in the state database: watermark, backfill target, scheduling and backoff.

One ``users`` row per watched (lower-case) username. :class:`UserRow` carries the fields of the daemon's
``UserState`` (``user_id``, ``since_id`` = the watermark, ``backfill``, ``backfill_floor``,
``backfill_done``) plus the scheduler's (``next_poll``, ``failures``, ``backoff``, ``paused``) and whether
the user was added at run time. Statements are SQL text (``state.sql``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from nostrweet.cache.layout import normalize_username
from nostrweet.state.engine import State
from nostrweet.state.sql import Row


@dataclass(frozen=True, slots=True)
class UserRow:
    """One user's row."""

    username: str
    user_id: str | None = None
    since_id: str | None = None
    backfill: int | None = None
    backfill_floor: str | None = None
    backfill_done: bool = True
    next_poll: int | None = None
    failures: int = 0
    backoff: float = 0.0
    paused: bool = False
    added_at_runtime: bool = False


_FIELDS = [f.name for f in fields(UserRow)]
_DEFAULTS = {n: v for n, v in asdict(UserRow(username="")).items() if n != "username"}
_SELECT = f"SELECT {', '.join(_FIELDS)} FROM users"


def _row(row: Row) -> UserRow:
    """A row of :data:`_SELECT` (SQLite gives its booleans as 0 and 1)."""
    (username, user_id, since_id, backfill, floor, done, next_poll, failures, backoff, paused, added) = row
    return UserRow(
        username,
        user_id,
        since_id,
        backfill,
        floor,
        bool(done),
        next_poll,
        failures,
        float(backoff),
        bool(paused),
        bool(added),
    )


def _upsert(columns: Sequence[str]) -> str:
    """Insert a whole row, or on a known username write only ``columns`` (at least one)."""
    names = ", ".join(_FIELDS)
    params = ", ".join(f":{n}" for n in _FIELDS)
    updates = ", ".join(f"{n} = excluded.{n}" for n in columns)
    return f"INSERT INTO users ({names}) VALUES ({params}) ON CONFLICT (username) DO UPDATE SET {updates}"


class UserRepo:
    """The ``users`` table."""

    def __init__(self, state: State) -> None:
        self.state = state

    def load(self, username: str) -> UserRow | None:
        """The user's row, or None."""
        name = normalize_username(username)
        with self.state.read() as tx:
            row = tx.first(f"{_SELECT} WHERE username = :username", {"username": name})
        return _row(row) if row is not None else None

    def load_all(self) -> dict[str, UserRow]:
        """Every user's row by username."""
        with self.state.read() as tx:
            rows = tx.rows(f"{_SELECT} ORDER BY username")
        return {user.username: user for user in map(_row, rows)}

    def save_many(self, rows: Iterable[UserRow]) -> None:
        """Write rows (insert or replace) in one transaction."""
        values = [{**asdict(r), "username": normalize_username(r.username)} for r in rows]
        if not values:
            return
        with self.state.write() as tx:
            tx.run_many(_upsert([n for n in _FIELDS if n != "username"]), values)

    def save(self, row: UserRow) -> None:
        """Write one row."""
        self.save_many([row])

    def update(self, username: str, **values: Any) -> None:
        """Write only these columns of the user's row (created with defaults when missing), in one
        statement: writers of different columns (the poll's watermark, the schedule, the admin API's
        pause) never undo each other."""
        self.update_many([{"username": username, **values}])

    def update_many(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """:meth:`update` for several users in one transaction: each mapping has ``username`` and the
        same columns to write."""
        batch = list(rows)
        if not batch:
            return
        columns = [n for n in batch[0] if n != "username"]
        unknown = set(columns) - set(_FIELDS)
        if not columns:
            raise ValueError("no column of a user's row to write")
        if unknown or any(set(r) != set(batch[0]) for r in batch):
            raise ValueError(f"not columns of a user's row (or not the same in every row): {sorted(unknown)}")
        values = [{**_DEFAULTS, **r, "username": normalize_username(r["username"])} for r in batch]
        with self.state.write() as tx:
            tx.run_many(_upsert(columns), values)

    def remove(self, username: str) -> None:
        """Forget a user."""
        with self.state.write() as tx:
            tx.run("DELETE FROM users WHERE username = :username", {"username": normalize_username(username)})
