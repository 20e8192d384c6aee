"""Where the state lives (SPEC §7): a state URL turned into an open SQLAlchemy engine.

- ``sqlite:///PATH``: one file (default ``<data-dir>/nostrweet.sqlite3``), created with mode 0600, in WAL
  mode with ``synchronous=NORMAL``, a busy timeout and foreign keys on. Every transaction starts with
  ``BEGIN IMMEDIATE``, so two writers queue on the busy timeout instead of failing half-way.
- ``postgresql://…`` (or ``postgres://``, ``postgresql+psycopg://``): PostgreSQL through psycopg 3.

:func:`parse_state_url` is pure (it checks the URL and says which backend it is); :func:`open_state` opens
it and applies the migrations (``state.migrations``). A bad URL is an :class:`InputError` whose message
shows the URL without its password.
"""

from __future__ import annotations

import os
import re
import sqlite3
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.pool import StaticPool

from nostrweet.errors import InputError, OperationalError
from nostrweet.state.migrations import LATEST, current_version
from nostrweet.state.migrations import migrate as apply_migrations

Backend = Literal["sqlite", "postgresql"]
STATE_FILE = "nostrweet.sqlite3"
BUSY_TIMEOUT_MS = 10_000
_PASSWORD_RE = re.compile(r"(://[^:/@]*:)[^@/]*@")


def redact(url: str) -> str:
    """The URL with any password replaced by ``***`` (also for strings that are not valid URLs)."""
    return _PASSWORD_RE.sub(r"\1***@", url)


def default_state_url(data_dir: Path) -> str:
    """``sqlite:///<data-dir>/nostrweet.sqlite3``."""
    return f"sqlite:///{Path(data_dir).resolve() / STATE_FILE}"


@dataclass(frozen=True, slots=True)
class StateUrl:
    """A checked state URL: its backend, the URL SQLAlchemy opens, and how to show it."""

    backend: Backend
    url: URL
    shown: str
    path: Path | None = None
    """The SQLite file (None for PostgreSQL)."""


def parse_state_url(raw: str) -> StateUrl:
    """Check a state URL; InputError (naming it without its password) when it is not one we can open."""
    shown = redact(raw)
    try:
        url = make_url(raw)
    except (ArgumentError, ValueError) as exc:
        raise InputError(f"state URL {shown} is not a URL: {exc}") from None
    driver = url.drivername
    if driver in ("sqlite", "sqlite+pysqlite"):
        database = url.database or ""
        if not database or database == ":memory:" or database.startswith("file:"):
            raise InputError(f"state URL {shown} names no file: use sqlite:///PATH")
        if url.host or url.username:
            raise InputError(f"state URL {shown}: a SQLite URL has no host, use sqlite:///PATH")
        return StateUrl("sqlite", url.set(drivername="sqlite+pysqlite"), shown, Path(database))
    if driver in ("postgresql", "postgres", "postgresql+psycopg"):
        if not url.database:
            raise InputError(f"state URL {shown} names no database: use postgresql://user@host/db")
        return StateUrl("postgresql", url.set(drivername="postgresql+psycopg"), url.render_as_string())
    raise InputError(f"state URL {shown}: unknown kind {driver!r} (use sqlite:///PATH or postgresql://…)")


def _sqlite_engine(target: StateUrl) -> Engine:
    if target.path is None:  # the in-memory state of a read-only command: one connection shared by all
        engine = create_engine(
            "sqlite+pysqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    else:
        path = target.path
        if not path.parent.is_dir():
            raise InputError(f"state URL {target.shown}: directory {path.parent} does not exist")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        engine = create_engine(target.url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy's "begin" event below issues BEGIN itself
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


@dataclass(slots=True)
class State:
    """An open state: the engine and its backend. Repositories (``state.records`` …) take one."""

    engine: Engine
    backend: Backend
    shown: str
    _autocommit: Engine | None = field(default=None, init=False, repr=False)

    @property
    def is_postgres(self) -> bool:
        """True on PostgreSQL (row locks, advisory locks and SKIP LOCKED are there)."""
        return self.backend == "postgresql"

    def insert(self, table: Table) -> Any:
        """An INSERT of the backend's dialect (it has ``on_conflict_do_nothing`` / ``…_do_update``)."""
        if self.is_postgres:
            from sqlalchemy.dialects import postgresql  # imported on PostgreSQL only: it is large

            return postgresql.insert(table)
        return sqlite.insert(table)

    def one_statement(self) -> AbstractContextManager[Connection]:
        """A connection for ONE statement that is atomic on its own (an ``UPDATE … RETURNING``): on
        PostgreSQL in autocommit, so no ``BEGIN`` and ``COMMIT`` round trips around it; on SQLite a
        transaction as everywhere else (``BEGIN IMMEDIATE``)."""
        if not self.is_postgres:
            return self.engine.begin()
        if self._autocommit is None:
            self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        return self._autocommit.connect()

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


MEMORY = StateUrl("sqlite", make_url("sqlite+pysqlite://"), "memory")
"""A state that lives in this process only and leaves nothing on disk (for commands that only read)."""


def open_state(url: str | StateUrl, *, migrate: bool = True) -> State:
    """Open the state at ``url`` and bring its schema to the version this code knows."""
    target = url if isinstance(url, StateUrl) else parse_state_url(url)
    if target.backend == "sqlite":
        engine = _sqlite_engine(target)
    else:
        engine = create_engine(target.url, pool_pre_ping=True)
    state = State(engine, target.backend, target.shown)
    if migrate:
        try:
            apply_migrations(state)
        except DBAPIError as exc:
            state.close()
            reason = (
                str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc.orig).__name__
            )
            raise OperationalError(f"cannot open the state at {target.shown}: {redact(reason)}") from None
        except BaseException:
            state.close()
            raise
    return state


def open_sqlite_read_only(path: Path) -> State:
    """A SQLite state file opened only to read, for a read-only command: it creates, renames and changes
    nothing (SPEC §2), not even SQLite's ``-wal`` and ``-shm`` files.

    When a writer has the file open (its ``-wal`` file exists), it is read through that (``mode=ro``),
    so what the writer committed is seen; otherwise it is opened ``immutable``. Nothing is migrated: a
    newer schema is refused as :func:`open_state` refuses it.
    """
    shown = redact(f"sqlite:///{path}")
    wal = path.with_name(path.name + "-wal")
    uri = f"file:{quote(str(path))}?{'mode=ro' if wal.exists() else 'immutable=1'}"

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
        conn.isolation_level = None
        return conn

    engine = create_engine("sqlite+pysqlite://", creator=connect, poolclass=StaticPool)
    state = State(engine, "sqlite", shown)
    try:
        with engine.connect() as conn:
            version = current_version(conn)
    except DBAPIError as exc:
        state.close()
        raise OperationalError(f"cannot read the state at {shown}: {exc.orig}") from None
    if version > LATEST:
        state.close()
        raise InputError(
            f"the state at {shown} has schema version {version}, newer than the {LATEST} "
            "this nostrweet knows: upgrade nostrweet"
        )
    return state
