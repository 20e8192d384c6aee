"""Statements as SQL text on the state's own connections, so a command does not import SQLAlchemy.

A repository that speaks SQL takes a :class:`Tx` from ``State.read()`` or ``State.write()`` and runs
text with named parameters (``:name``). The same text runs on both backends:

- SQLite: the standard library's ``sqlite3``, one connection per thread (``state.engine``'s
  ``SqliteConnections``); ``write()`` is ``BEGIN IMMEDIATE``, so two writers queue on the busy timeout;
- PostgreSQL: the SQLAlchemy engine's driver connection (psycopg 3), the parameters rewritten to its
  ``%(name)s`` style.

Write only SQL both understand: ``INSERT … ON CONFLICT … DO NOTHING / DO UPDATE``, ``RETURNING``, row
values. :func:`in_list` and :func:`values_list` spell the parts that grow with their input.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Any, Protocol

__all__ = ["BATCH", "DriverTx", "Row", "SqliteTx", "Tx", "chunks", "in_list", "to_pyformat", "values_list"]

Row = tuple[Any, ...]
Params = Mapping[str, Any]

BATCH = 500
"""Rows per statement of an IN (…) lookup or a multi-row insert (well under both backends' limits on
the number of parameters of one statement)."""


class Tx(Protocol):
    """One transaction (or, to read, one snapshot) of the state."""

    is_postgres: bool

    def rows(self, sql: str, params: Params | None = None) -> list[Row]:
        """Every row the statement returns."""
        ...

    def first(self, sql: str, params: Params | None = None) -> Row | None:
        """The first row, or None."""
        ...

    def scalar(self, sql: str, params: Params | None = None) -> Any:
        """The first column of the first row, or None."""
        ...

    def run(self, sql: str, params: Params | None = None) -> int:
        """Run a statement that returns no rows; how many rows it changed."""
        ...

    def run_many(self, sql: str, params: Sequence[Params]) -> None:
        """Run one statement once per parameter set."""
        ...


class SqliteTx:
    """A :class:`Tx` on a standard-library SQLite connection."""

    is_postgres = False

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def rows(self, sql: str, params: Params | None = None) -> list[Row]:
        return self.conn.execute(sql, params or {}).fetchall()

    def first(self, sql: str, params: Params | None = None) -> Row | None:
        row: Row | None = self.conn.execute(sql, params or {}).fetchone()
        return row

    def scalar(self, sql: str, params: Params | None = None) -> Any:
        row = self.first(sql, params)
        return None if row is None else row[0]

    def run(self, sql: str, params: Params | None = None) -> int:
        return self.conn.execute(sql, params or {}).rowcount

    def run_many(self, sql: str, params: Sequence[Params]) -> None:
        if params:
            self.conn.executemany(sql, params)


class DriverTx:
    """A :class:`Tx` on a SQLAlchemy connection (PostgreSQL): the text goes to the driver as it is,
    its parameters in the driver's style."""

    def __init__(self, conn: Any, *, is_postgres: bool) -> None:
        self.conn = conn
        self.is_postgres = is_postgres

    def _sql(self, sql: str) -> str:
        return to_pyformat(sql) if self.is_postgres else sql

    def rows(self, sql: str, params: Params | None = None) -> list[Row]:
        return [tuple(r) for r in self.conn.exec_driver_sql(self._sql(sql), dict(params or {})).fetchall()]

    def first(self, sql: str, params: Params | None = None) -> Row | None:
        row = self.conn.exec_driver_sql(self._sql(sql), dict(params or {})).first()
        return None if row is None else tuple(row)

    def scalar(self, sql: str, params: Params | None = None) -> Any:
        row = self.first(sql, params)
        return None if row is None else row[0]

    def run(self, sql: str, params: Params | None = None) -> int:
        return int(self.conn.exec_driver_sql(self._sql(sql), dict(params or {})).rowcount or 0)

    def run_many(self, sql: str, params: Sequence[Params]) -> None:
        if params:
            self.conn.exec_driver_sql(self._sql(sql), [dict(p) for p in params])


_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@lru_cache(maxsize=512)
def to_pyformat(sql: str) -> str:
    """``:name`` parameters as ``%(name)s`` (psycopg's style), a literal ``%`` doubled."""
    return _NAMED.sub(r"%(\1)s", sql.replace("%", "%%"))


def chunks(items: Sequence[Any], size: int = BATCH) -> Iterator[Sequence[Any]]:
    """``items`` in slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def in_list(name: str, values: Iterable[Any]) -> tuple[str, dict[str, Any]]:
    """The inside of ``IN (…)`` for ``values`` and its parameters: ``(":name0, :name1", {…})``.

    An empty ``values`` gives ``NULL``, which matches nothing."""
    params = {f"{name}{i}": v for i, v in enumerate(values)}
    return (", ".join(f":{k}" for k in params) or "NULL"), params


def values_list(
    columns: Sequence[str], rows: Sequence[Params], prefix: str = "v"
) -> tuple[str, dict[str, Any]]:
    """The rows of a multi-row ``VALUES`` and its parameters: ``("(:v0_0, :v0_1), (…)", {…})``, the
    columns in ``columns``' order. Keep ``len(rows) * len(columns)`` under a few thousand (:data:`BATCH`
    rows of a narrow table)."""
    params: dict[str, Any] = {}
    groups: list[str] = []
    for i, row in enumerate(rows):
        names = []
        for j, column in enumerate(columns):
            key = f"{prefix}{i}_{j}"
            params[key] = row[column]
            names.append(f":{key}")
        groups.append(f"({', '.join(names)})")
    return ", ".join(groups), params
