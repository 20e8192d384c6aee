"""Per-user daemon state in the state database: watermark, backfill target, scheduling and backoff.

One ``users`` row per watched (lower-case) username. :class:`UserRow` carries the fields of the daemon's
``UserState`` (``user_id``, ``since_id`` = the watermark, ``backfill``, ``backfill_floor``,
``backfill_done``) plus the scheduler's (``next_poll``, ``failures``, ``backoff``, ``paused``) and whether
the user was added at run time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from sqlalchemy import delete, select

from nostrweet.cache.layout import normalize_username
from nostrweet.state.engine import State
from nostrweet.state.schema import users


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


def _row(row: Any) -> UserRow:
    return UserRow(**{name: getattr(row, name) for name in _FIELDS})


class UserRepo:
    """The ``users`` table."""

    def __init__(self, state: State) -> None:
        self.state = state

    def load(self, username: str) -> UserRow | None:
        """The user's row, or None."""
        name = normalize_username(username)
        with self.state.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.username == name)).first()
        return _row(row) if row is not None else None

    def load_all(self) -> dict[str, UserRow]:
        """Every user's row by username."""
        with self.state.engine.connect() as conn:
            return {r.username: _row(r) for r in conn.execute(select(users).order_by(users.c.username))}

    def save_many(self, rows: Iterable[UserRow]) -> None:
        """Write rows (insert or replace) in one transaction."""
        values = [{**asdict(r), "username": normalize_username(r.username)} for r in rows]
        if not values:
            return
        stmt = self.state.insert(users)
        stmt = stmt.on_conflict_do_update(
            index_elements=["username"], set_={n: stmt.excluded[n] for n in _FIELDS if n != "username"}
        )
        with self.state.engine.begin() as conn:
            conn.execute(stmt, values)

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
        if unknown or any(set(r) != set(batch[0]) for r in batch):
            raise ValueError(f"not columns of a user's row (or not the same in every row): {sorted(unknown)}")
        values = [{**_DEFAULTS, **r, "username": normalize_username(r["username"])} for r in batch]
        stmt = self.state.insert(users)
        stmt = stmt.on_conflict_do_update(
            index_elements=["username"], set_={n: stmt.excluded[n] for n in columns}
        )
        with self.state.engine.begin() as conn:
            conn.execute(stmt, values)

    def remove(self, username: str) -> None:
        """Forget a user."""
        with self.state.engine.begin() as conn:
            conn.execute(delete(users).where(users.c.username == normalize_username(username)))
