"""State URLs and opening a state: backends, the SQLite file's mode and settings, bad URLs."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy import text

from nostrweet.errors import EXIT_BAD_INPUT, InputError
from nostrweet.state.engine import default_state, default_state_url, open_state, parse_state_url, redact


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:////tmp/x/nostrweet.sqlite3", Path("/tmp/x/nostrweet.sqlite3")),
        ("sqlite:///relative.sqlite3", Path("relative.sqlite3")),
    ],
)
def test_a_sqlite_url_names_its_file(url: str, path: Path) -> None:
    parsed = parse_state_url(url)
    assert (parsed.backend, parsed.path, parsed.url) == ("sqlite", path, None)


@pytest.mark.parametrize(
    "url",
    ["postgresql://postgres@127.0.0.1:5432/db", "postgres://u:pw@host/db", "postgresql+psycopg://u@host/db"],
)
def test_a_postgresql_url_opens_through_psycopg(url: str) -> None:
    parsed = parse_state_url(url)
    assert parsed.backend == "postgresql"
    assert parsed.url.drivername == "postgresql+psycopg"


def test_the_default_state_is_the_default_url_parsed(tmp_path: Path) -> None:
    assert default_state(tmp_path) == parse_state_url(default_state_url(tmp_path))


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://u:hunter2@host/db", "unknown kind"),
        ("sqlite://", "names no file"),
        ("sqlite:///:memory:", "names no file"),
        ("postgresql://u:hunter2@host", "names no database"),
        ("not a url at all hunter2", "not a URL"),
        ("postgresql://u:hunter2@host:notaport/db", "not a URL"),
    ],
)
def test_bad_state_urls_are_input_errors_without_the_password(url: str, says: str) -> None:
    with pytest.raises(InputError) as info:
        parse_state_url(url)
    message = str(info.value)
    assert says in message
    assert "\n" not in message
    assert info.value.exit_code == EXIT_BAD_INPUT
    if "hunter2@" in url:
        assert "hunter2" not in message


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("postgresql://u:secret@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("sqlite:///a/b", "sqlite:///a/b"),
    ],
)
def test_redact(raw: str, shown: str) -> None:
    assert redact(raw) == shown


def test_postgres_url_is_shown_without_password() -> None:
    assert "secret" not in parse_state_url("postgresql://u:secret@h/db").shown


def test_default_url_is_the_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    assert default_state_url(tmp_path) == f"sqlite:///{tmp_path.resolve()}/nostrweet.sqlite3"


def test_sqlite_state_file_is_private_and_in_wal_mode(tmp_path: Path) -> None:
    state = open_state(default_state_url(tmp_path))
    try:
        path = tmp_path / "nostrweet.sqlite3"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        with state.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert int(conn.execute(text("PRAGMA busy_timeout")).scalar() or 0) > 0
    finally:
        state.close()


def test_sqlite_in_missing_directory_is_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        open_state(f"sqlite:///{tmp_path / 'nope' / 'x.sqlite3'}")


def test_unreachable_postgres_is_not_a_traceback_with_password() -> None:
    """A PostgreSQL that cannot be reached fails to open; the message of the error shows no password."""
    from nostrweet.errors import OperationalError

    with pytest.raises(OperationalError) as info:
        open_state("postgresql://u:hunter2@127.0.0.1:1/db?connect_timeout=2")
    assert "hunter2" not in str(info.value)
