"""Versioned schema migrations, applied at open (SPEC §7).

The ``schema_version`` table holds one row: the version the database is at. :data:`STEPS` is the ordered
list of steps; step ``n`` takes a database from version ``n - 1`` to ``n``. :func:`migrate` runs, in ONE
transaction, every step the database has not had, then writes the new version:

- on PostgreSQL the transaction first takes ``pg_advisory_xact_lock``, so instances that start at the same
  moment on an empty database queue: the first creates the schema, the others find it done (DDL is
  transactional there, so a failed step leaves nothing behind);
- on SQLite the transaction is ``BEGIN IMMEDIATE`` (``state.engine``): one writer at a time.

A database at a version newer than :data:`LATEST` is an :class:`InputError` that says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from sqlalchemy import Connection, Engine, insert, inspect, select, text, update

from nostrweet.errors import InputError
from nostrweet.state import schema, versions


class Opened(Protocol):
    """What :func:`migrate` needs of an open state (``state.engine.State``)."""

    shown: str

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine."""
        ...

    @property
    def is_postgres(self) -> bool:
        """True on PostgreSQL."""
        ...


ADVISORY_LOCK_KEY = 0x6E6F7374_72777400 >> 1  # "nostrwt", fits a signed bigint
"""The key of the PostgreSQL advisory lock that migrations take."""


def _create_tables(version: int) -> Callable[[Connection], None]:
    def step(conn: Connection) -> None:
        for table in schema.tables_since(version):
            table.create(conn, checkfirst=True)

    step.__doc__ = f"Create the tables of version {version}."
    return step


def add_skipped_tweets(conn: Connection) -> None:
    """The tweets the filters skipped, each with the rule's name (SPEC §12)."""
    schema.skipped_tweets.create(conn, checkfirst=True)


def lifecycle_tables(conn: Connection) -> None:
    """Create the tables of a tweet's later life: fates (deleted, superseded), the kind 5 deletion
    requests sent for them, and each account's hand-off (SPEC §10)."""
    for table in schema.tables_of_step(schema.LIFECYCLE_STEP):
        table.create(conn, checkfirst=True)


STEPS: list[Callable[[Connection], None]] = [
    _create_tables(1),
    _create_tables(2),  # webhook_deliveries
    add_skipped_tweets,
    lifecycle_tables,
]
"""Step ``i`` (0-based) migrates from version ``i`` to ``i + 1``."""
LATEST = len(STEPS)
if LATEST != versions.LATEST:  # versions.LATEST is what a command checks without loading this module
    raise RuntimeError(f"state.versions.LATEST is {versions.LATEST}, but there are {LATEST} steps")


def current_version(conn: Connection) -> int:
    """The version recorded in the database (0: an empty database)."""
    if not inspect(conn).has_table(schema.schema_version.name):
        return 0
    value = conn.execute(select(schema.schema_version.c.version)).scalar()
    return int(value or 0)


def migrate(state: Opened, *, steps: list[Callable[[Connection], None]] | None = None) -> int:
    """Bring the database to the latest version; return the version it was at before.

    ``steps`` replaces :data:`STEPS` (tests).
    """
    todo = STEPS if steps is None else steps
    with state.engine.begin() as conn:
        if state.is_postgres:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADVISORY_LOCK_KEY})
        before = current_version(conn)
        if before > len(todo):
            raise InputError(
                f"the state at {state.shown} has schema version {before}, newer than the {len(todo)} "
                "this nostrweet knows: upgrade nostrweet"
            )
        if before == len(todo):
            return before
        if before == 0:
            schema.schema_version.create(conn, checkfirst=True)
            conn.execute(insert(schema.schema_version).values(version=0))
        for version in range(before, len(todo)):
            todo[version](conn)
        conn.execute(update(schema.schema_version).values(version=len(todo)))
    return before
