"""Where the state lives (SPEC §7): a state URL turned into an open state.

- ``sqlite:///PATH``: one file (default ``<data-dir>/nostrweet.sqlite3``), created with mode 0600, in WAL
  mode with ``synchronous=NORMAL``, a busy timeout and foreign keys on. Every transaction that writes
  starts with ``BEGIN IMMEDIATE``, so two writers queue on the busy timeout instead of failing half-way.
  The connections are the standard library's (:class:`SqliteConnections`, one per thread), and every
  statement of the repositories is SQL text (``state.sql``), so SQLAlchemy is not imported at all
  unless the schema has to be created or migrated: ``State.engine`` builds its engine, on the same
  connections, on first use.
- ``postgresql://…`` (or ``postgres://``, ``postgresql+psycopg://``): PostgreSQL through psycopg 3,
  its connections pooled by a SQLAlchemy engine; the same SQL text runs on the driver's connection.

:func:`parse_state_url` is pure (it checks the URL and says which backend it is); :func:`open_state` opens
it and applies the migrations (``state.migrations``, only when the schema is older than this code). A bad
URL is an :class:`InputError` whose message shows the URL without its password.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

import msgspec

from nostrweet.errors import InputError, OperationalError
from nostrweet.state.sql import DriverTx, SqliteTx, Tx
from nostrweet.state.versions import LATEST, SCHEMA_VERSION_TABLE

if TYPE_CHECKING:  # SQLAlchemy is loaded by the first use of State.engine (and by PostgreSQL)
    from sqlalchemy import Connection, Engine

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


class StateUrl(msgspec.Struct, frozen=True):
    """A checked state URL: its backend, the URL SQLAlchemy opens (PostgreSQL), and how to show it."""

    backend: Backend
    url: Any
    """The SQLAlchemy URL of a PostgreSQL state (None for SQLite, which opens ``path``)."""
    shown: str
    path: Path | None = None
    """The SQLite file (None for PostgreSQL, and for a state in memory)."""


def default_state(data_dir: Path) -> StateUrl:
    """The default state of ``data_dir`` (what :func:`parse_state_url` makes of
    :func:`default_state_url`), without parsing a URL."""
    path = Path(data_dir).resolve() / STATE_FILE
    return StateUrl("sqlite", None, redact(f"sqlite:///{path}"), path)


def parse_state_url(raw: str) -> StateUrl:
    """Check a state URL; InputError (naming it without its password) when it is not one we can open."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

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
        return StateUrl("sqlite", None, shown, Path(database))
    if driver in ("postgresql", "postgres", "postgresql+psycopg"):
        if not url.database:
            raise InputError(f"state URL {shown} names no database: use postgresql://user@host/db")
        return StateUrl("postgresql", url.set(drivername="postgresql+psycopg"), url.render_as_string())
    raise InputError(f"state URL {shown}: unknown kind {driver!r} (use sqlite:///PATH or postgresql://…)")


class SqliteConnections:
    """The standard-library connections of a SQLite state: one per thread for a file, or one shared
    by all (a state in memory, a file opened only to read), its transactions taken in turn.

    A thread's connection is closed by :meth:`close`, or by the first new connection after the thread
    ended; a connection of the SQLAlchemy pool (:meth:`new`) is the pool's to close."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], *, shared: bool) -> None:
        self.connect = connect
        self.shared = shared
        self._local = threading.local()
        self._lock = threading.RLock()
        self._by_thread: dict[threading.Thread, sqlite3.Connection] = {}
        self._one: sqlite3.Connection | None = None

    def new(self) -> sqlite3.Connection:
        """A connection for the SQLAlchemy pool: one of its own, or the shared one."""
        return self.get() if self.shared else self.connect()

    def get(self) -> sqlite3.Connection:
        """This thread's connection (made on first use), or the shared one."""
        if self.shared:
            with self._lock:
                if self._one is None:
                    self._one = self.connect()
                return self._one
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self.connect()
            with self._lock:
                for thread in [t for t in self._by_thread if not t.is_alive()]:
                    self._by_thread.pop(thread).close()
                self._by_thread[threading.current_thread()] = conn
        return conn

    @contextmanager
    def transaction(self, begin: str) -> Iterator[Tx]:
        """``begin`` (``BEGIN`` or ``BEGIN IMMEDIATE``), then COMMIT, or ROLLBACK on an exception."""
        conn = self.get()
        lock = self._lock if self.shared else None
        if lock is not None:
            lock.acquire()
        try:
            conn.execute(begin)
            try:
                yield SqliteTx(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # (also when COMMIT itself failed)
                    conn.execute("ROLLBACK")
                raise
        finally:
            if lock is not None:
                lock.release()

    def close(self) -> None:
        """Close every connection of a thread and the shared one (call when no thread uses them any
        more)."""
        with self._lock:
            conns = list(self._by_thread.values()) + ([self._one] if self._one is not None else [])
            self._by_thread, self._one = {}, None
        self._local = threading.local()
        for conn in conns:
            conn.close()


def _file_connection(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
    conn.isolation_level = None  # transactions are begun explicitly (``State.read`` / ``State.write``)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def _memory_connection() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    conn.isolation_level = None
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


@dataclass(slots=True)
class State:
    """An open state: its backend and connections. Repositories (``state.records`` …) take one."""

    backend: Backend
    shown: str
    sqlite: SqliteConnections | None = None
    """The standard-library connections (SQLite only)."""
    _engine: Engine | None = field(default=None, repr=False)
    _autocommit: Engine | None = field(default=None, init=False, repr=False)
    _read_only: bool = field(default=False, repr=False)

    @property
    def is_postgres(self) -> bool:
        """True on PostgreSQL (row locks, advisory locks and SKIP LOCKED are there)."""
        return self.backend == "postgresql"

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for the repositories written in SQLAlchemy Core); on SQLite it is
        built on first use, its connections made as :class:`SqliteConnections` makes them."""
        if self._engine is None:
            assert self.sqlite is not None
            self._engine = _sqlite_engine(self.sqlite, read_only=self._read_only)
        return self._engine

    def read(self) -> AbstractContextManager[Tx]:
        """A snapshot to read from (SQL text, ``state.sql``)."""
        if self.sqlite is not None:
            return self.sqlite.transaction("BEGIN")
        return self._driver(self.engine.connect())

    def write(self) -> AbstractContextManager[Tx]:
        """A transaction to write in: ``BEGIN IMMEDIATE`` on SQLite (SQL text, ``state.sql``)."""
        if self.sqlite is not None:
            return self.sqlite.transaction("BEGIN IMMEDIATE")
        return self._driver(self.engine.begin())

    def write_one(self) -> AbstractContextManager[Tx]:
        """A transaction for ONE statement that is atomic on its own (an ``UPDATE … RETURNING``): on
        PostgreSQL in autocommit, so no ``BEGIN`` and ``COMMIT`` round trips around it; on SQLite
        :meth:`write`."""
        if self.sqlite is not None:
            return self.write()
        if self._autocommit is None:
            self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        return self._driver(self._autocommit.connect())

    @contextmanager
    def _driver(self, opened: AbstractContextManager[Connection]) -> Iterator[Tx]:
        with opened as conn:
            yield DriverTx(conn, is_postgres=self.is_postgres)

    def close(self) -> None:
        """Close every connection."""
        if self._engine is not None:
            self._engine.dispose()
        if self.sqlite is not None:
            self.sqlite.close()


def _sqlite_engine(connections: SqliteConnections, *, read_only: bool) -> Engine:
    """A SQLAlchemy engine whose connections :class:`SqliteConnections` makes."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.pool import QueuePool, StaticPool

    pool = StaticPool if connections.shared else QueuePool
    engine = create_engine("sqlite+pysqlite://", creator=connections.new, poolclass=pool)
    if not read_only:

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


MEMORY = StateUrl("sqlite", None, "memory")
"""A state that lives in this process only and leaves nothing on disk (for commands that only read)."""


def open_state(url: str | StateUrl, *, migrate: bool = True) -> State:
    """Open the state at ``url`` and bring its schema to the version this code knows."""
    target = url if isinstance(url, StateUrl) else parse_state_url(url)
    if target.backend == "sqlite":
        state = State("sqlite", target.shown, _sqlite_connections(target))
    else:
        from sqlalchemy import create_engine

        state = State(target.backend, target.shown, _engine=create_engine(target.url, pool_pre_ping=True))
    if migrate:
        try:
            _migrate_if_behind(state)
        except (sqlite3.Error, _driver_errors()) as exc:
            state.close()
            orig = getattr(exc, "orig", None) or exc
            reason = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
            raise OperationalError(f"cannot open the state at {target.shown}: {redact(reason)}") from None
        except BaseException:
            state.close()
            raise
    return state


def _driver_errors() -> type[Exception]:
    """SQLAlchemy's wrapper of a driver's errors, when SQLAlchemy is loaded (else one never raised)."""
    import sys

    exc = sys.modules.get("sqlalchemy.exc")
    return exc.DBAPIError if exc is not None else _NeverRaised


class _NeverRaised(Exception):
    pass


def _sqlite_connections(target: StateUrl) -> SqliteConnections:
    if target.path is None:  # the in-memory state of a read-only command: one connection shared by all
        return SqliteConnections(_memory_connection, shared=True)
    path = target.path
    if not path.parent.is_dir():
        raise InputError(f"state URL {target.shown}: directory {path.parent} does not exist")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    return SqliteConnections(lambda: _file_connection(path), shared=False)


def schema_version(tx: Tx) -> int:
    """The version recorded in the database (0: an empty database)."""
    if tx.is_postgres:
        exists = tx.scalar("SELECT to_regclass(:name) IS NOT NULL", {"name": SCHEMA_VERSION_TABLE})
    else:
        exists = tx.scalar(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name",
            {"name": SCHEMA_VERSION_TABLE},
        )
    if not exists:
        return 0
    return int(tx.scalar(f"SELECT version FROM {SCHEMA_VERSION_TABLE}") or 0)


def _migrate_if_behind(state: State) -> None:
    """Apply the migrations when the schema is older than this code (they need SQLAlchemy); refuse a
    newer one."""
    with state.read() as tx:
        version = schema_version(tx)
    if version > LATEST:
        raise InputError(
            f"the state at {state.shown} has schema version {version}, newer than the {LATEST} "
            "this nostrweet knows: upgrade nostrweet"
        )
    if version < LATEST:
        from nostrweet.state.migrations import migrate as apply_migrations

        apply_migrations(state)


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

    state = State("sqlite", shown, SqliteConnections(connect, shared=True), _read_only=True)
    try:
        with state.read() as tx:
            version = schema_version(tx)
    except sqlite3.Error as exc:
        state.close()
        raise OperationalError(f"cannot read the state at {shown}: {exc}") from None
    if version > LATEST:
        state.close()
        raise InputError(
            f"the state at {shown} has schema version {version}, newer than the {LATEST} "
            "this nostrweet knows: upgrade nostrweet"
        )
    return state
