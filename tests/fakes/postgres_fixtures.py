"""PostgreSQL for the state tests: one database per test run, one schema-free clean slate per test.

``NOSTRWEET_TEST_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``) is the server's
maintenance database. The session fixture creates ``nostrweet_test_<pid>_<random>`` there and drops it at
the end. When the server cannot be reached the PostgreSQL tests skip with one line, unless
``NOSTRWEET_REQUIRE_POSTGRES=1`` (CI), where they fail with that line.

``state_url`` is parametrised over both backends: a test that takes it runs on SQLite (a file in its
tmp dir) and on PostgreSQL (the run's database, emptied before the test); the PostgreSQL cases carry the
``integration`` mark.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ADMIN_URL = os.environ.get("NOSTRWEET_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)]
"""The PostgreSQL cases open a socket: they are integration tests (``-m "not integration"`` runs SQLite)."""


def _unreachable(reason: str) -> None:
    line = f"PostgreSQL at {ADMIN_URL} is not reachable ({reason}): run scripts/ensure-postgres"
    if os.environ.get("NOSTRWEET_REQUIRE_POSTGRES") == "1":
        pytest.fail(line, pytrace=False)
    pytest.skip(line)


@pytest.fixture(scope="session")
def postgres_db() -> Iterator[str]:
    """The URL of a database made for this test run (dropped at the end)."""
    import psycopg

    name = f"nostrweet_test_{os.getpid()}_{secrets.token_hex(4)}"
    admin: psycopg.Connection[Any] | None = None
    reason = ""
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if admin is None:
        _unreachable(reason)
    assert admin is not None
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def empty_postgres(url: str) -> None:
    """Drop every table of the database ``url`` (a clean slate for the next test)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


@pytest.fixture
def pg_url(postgres_db: str) -> str:
    """The run's PostgreSQL database, emptied for this test."""
    empty_postgres(postgres_db)
    return postgres_db


@pytest.fixture(params=BACKENDS)
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A state URL on each backend: a SQLite file in the test's tmp dir, or the emptied PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'nostrweet.sqlite3'}"
    url: str = request.getfixturevalue("pg_url")
    return url
