"""SQL text on the state's own connections (state/sql.py, engine.SqliteConnections): parameter styles,
the parts that grow with their input, and one connection per thread with its transactions."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from nostrweet.state.engine import MEMORY, SqliteConnections, open_state
from nostrweet.state.sql import chunks, in_list, to_pyformat, values_list


@pytest.mark.parametrize(
    ("named", "pyformat"),
    [
        ("SELECT a FROM t WHERE b = :b", "SELECT a FROM t WHERE b = %(b)s"),
        (
            "UPDATE t SET a = :a_1 WHERE (x, y) > (:x, :y)",
            "UPDATE t SET a = %(a_1)s WHERE (x, y) > (%(x)s, %(y)s)",
        ),
        ("SELECT CAST(a AS TEXT) || '%' FROM t", "SELECT CAST(a AS TEXT) || '%%' FROM t"),
        ("SELECT a::text FROM t", "SELECT a::text FROM t"),
    ],
)
def test_named_parameters_in_psycopgs_style(named: str, pyformat: str) -> None:
    assert to_pyformat(named) == pyformat


def test_in_list_and_values_list_run_on_sqlite() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT)")
    rows = [{"a": i, "b": f"x{i}"} for i in range(7)]
    groups, params = values_list(["a", "b"], rows)
    conn.execute(f"INSERT INTO t (a, b) VALUES {groups}", params)
    inside, params = in_list("id", [1, 3, 5])
    assert conn.execute(f"SELECT b FROM t WHERE a IN ({inside}) ORDER BY a", params).fetchall() == [
        ("x1",),
        ("x3",),
        ("x5",),
    ]
    inside, params = in_list("id", [])
    assert conn.execute(f"SELECT b FROM t WHERE a IN ({inside})", params).fetchall() == []
    assert [list(c) for c in chunks(list(range(5)), 2)] == [[0, 1], [2, 3], [4]]


def _table(path: Path) -> SqliteConnections:
    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(path, check_same_thread=False)
        conn.isolation_level = None
        return conn

    conns = SqliteConnections(connect, shared=False)
    with conns.transaction("BEGIN IMMEDIATE") as tx:
        tx.run("CREATE TABLE t (a INTEGER PRIMARY KEY)")
    return conns


def test_a_failing_transaction_leaves_nothing_and_the_connection_usable(tmp_path: Path) -> None:
    conns = _table(tmp_path / "s.sqlite3")
    with pytest.raises(RuntimeError), conns.transaction("BEGIN IMMEDIATE") as tx:
        tx.run("INSERT INTO t (a) VALUES (1)")
        raise RuntimeError("boom")
    with conns.transaction("BEGIN IMMEDIATE") as tx:
        tx.run("INSERT INTO t (a) VALUES (2)")
    with conns.transaction("BEGIN") as tx:
        assert tx.rows("SELECT a FROM t") == [(2,)]
    conns.close()


def test_a_transaction_inside_another_on_one_thread_is_refused(tmp_path: Path) -> None:
    conns = _table(tmp_path / "s.sqlite3")
    with (
        conns.transaction("BEGIN"),
        pytest.raises(sqlite3.OperationalError, match="within a transaction"),
        conns.transaction("BEGIN IMMEDIATE"),
    ):
        pass
    conns.close()


def test_each_thread_has_its_own_connection_closed_after_the_thread(tmp_path: Path) -> None:
    conns = _table(tmp_path / "s.sqlite3")
    seen: list[sqlite3.Connection] = []

    def work(value: int) -> None:
        seen.append(conns.get())
        with conns.transaction("BEGIN IMMEDIATE") as tx:
            tx.run("INSERT INTO t (a) VALUES (:a)", {"a": value})

    for value in (1, 2):
        thread = threading.Thread(target=work, args=(value,))
        thread.start()
        thread.join()
    first, second = seen
    assert first is not second and second is not conns.get()
    with pytest.raises(sqlite3.ProgrammingError):  # the first thread's, closed once it had ended
        first.execute("SELECT 1")
    with conns.transaction("BEGIN") as tx:
        assert tx.rows("SELECT a FROM t ORDER BY a") == [(1,), (2,)]
    conns.close()
    with pytest.raises(sqlite3.ProgrammingError):
        second.execute("SELECT 1")


def test_a_state_in_memory_shares_one_connection_with_its_sqlalchemy_engine() -> None:
    state = open_state(MEMORY)
    try:
        with state.write() as tx:
            tx.run("INSERT INTO meta (\"key\", value) VALUES ('k', 'v')")
        with state.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT value FROM meta WHERE \"key\" = 'k'").scalar() == "v"
    finally:
        state.close()
