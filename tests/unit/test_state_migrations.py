"""Schema migrations on both backends: fresh, re-run, newer version refused, concurrent first start."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable

import pytest
from sqlalchemy import Connection, inspect, text, update

from nostrweet.errors import InputError
from nostrweet.state import migrations, schema
from nostrweet.state.engine import open_state


def tables(url: str) -> set[str]:
    state = open_state(url, migrate=False)
    try:
        with state.engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        state.close()


def version(url: str) -> int:
    state = open_state(url, migrate=False)
    try:
        with state.engine.connect() as conn:
            return migrations.current_version(conn)
    finally:
        state.close()


def test_fresh_database_gets_every_table_and_the_latest_version(state_url: str) -> None:
    assert version(state_url) == 0
    open_state(state_url).close()
    assert version(state_url) == migrations.LATEST
    assert tables(state_url) == set(schema.metadata.tables)


def test_second_open_changes_nothing(state_url: str) -> None:
    state = open_state(state_url)
    try:
        assert migrations.migrate(state) == migrations.LATEST
    finally:
        state.close()
    assert version(state_url) == migrations.LATEST


def test_newer_schema_is_refused_with_one_line(state_url: str) -> None:
    state = open_state(state_url)
    with state.engine.begin() as conn:
        conn.execute(update(schema.schema_version).values(version=migrations.LATEST + 1))
    state.close()
    with pytest.raises(InputError) as info:
        open_state(state_url)
    message = str(info.value)
    assert f"schema version {migrations.LATEST + 1}" in message and "newer" in message
    assert "\n" not in message and info.value.exit_code == 2


def test_later_step_runs_once_on_an_older_database(state_url: str) -> None:
    runs: list[int] = []

    def step2(conn: Connection) -> None:
        runs.append(2)
        conn.execute(text("CREATE TABLE extra_v2 (x INTEGER)"))

    steps: list[Callable[[Connection], None]] = [*migrations.STEPS, step2]
    state = open_state(state_url)  # at the latest version
    try:
        assert migrations.migrate(state, steps=steps) == migrations.LATEST
        assert migrations.migrate(state, steps=steps) == migrations.LATEST + 1
    finally:
        state.close()
    assert runs == [2]
    assert "extra_v2" in tables(state_url)


def test_a_version_1_database_gains_the_later_tables(state_url: str) -> None:
    state = open_state(state_url, migrate=False)
    try:
        assert migrations.migrate(state, steps=migrations.STEPS[:1]) == 0
        assert "webhook_deliveries" not in tables(state_url)
        assert migrations.migrate(state) == 1
    finally:
        state.close()
    assert {"webhook_deliveries", "skipped_tweets"} <= set(tables(state_url))
    assert version(state_url) == migrations.LATEST


@pytest.mark.integration
def test_failed_step_leaves_the_version_where_it_was(pg_url: str) -> None:
    """On PostgreSQL DDL is transactional: a step that fails rolls the whole migration back."""

    def broken(conn: Connection) -> None:
        conn.execute(text("CREATE TABLE half_done (x INTEGER)"))
        raise RuntimeError("boom")

    state = open_state(pg_url, migrate=False)
    try:
        with pytest.raises(RuntimeError):
            migrations.migrate(state, steps=[*migrations.STEPS, broken])
    finally:
        state.close()
    assert version(pg_url) == 0
    assert "half_done" not in tables(pg_url)


def _open(url: str) -> str:
    try:
        open_state(url).close()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return "ok"


@pytest.mark.integration
def test_several_processes_create_the_schema_at_once(pg_url: str) -> None:
    """Six processes open one empty PostgreSQL database at the same moment: all succeed, one schema."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(6) as pool:
        results = pool.map(_open, [pg_url] * 6)
    assert results == ["ok"] * 6
    assert version(pg_url) == migrations.LATEST
    assert tables(pg_url) == set(schema.metadata.tables)
