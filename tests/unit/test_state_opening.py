"""Opening the state of a data directory: where it lives, what a read-only command leaves, the import on
first open only, and the state URL kept out of every output."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from nostrweet.cache.atomic import atomic_write_json
from nostrweet.config import check_config
from nostrweet.settings import resolve_global_options
from nostrweet.state.engine import STATE_FILE
from nostrweet.state.opening import open_data_state
from nostrweet.state.users import UserRepo
from nostrweet.values import url_password


def _daemon_state(data: Path, since_id: str) -> None:
    (data / "daemon_state").mkdir(parents=True, exist_ok=True)
    atomic_write_json(
        data / "daemon_state" / "alice.json", {"format": 1, "user_id": "1", "since_id": since_id}
    )


def test_default_state_is_a_private_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "new" / "data"
    state = open_data_state(data, None, now=0)
    state.close()
    file = data / STATE_FILE
    assert file.is_file()
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert stat.S_IMODE(data.stat().st_mode) == 0o700


def test_read_only_open_creates_nothing_and_still_sees_the_files(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _daemon_state(data, "1005")
    before = sorted(p.relative_to(data) for p in data.rglob("*"))
    state = open_data_state(data, None, now=0, read_only=True)
    try:
        row = UserRepo(state).load("alice")
        assert row is not None and row.since_id == "1005"
    finally:
        state.close()
    assert sorted(p.relative_to(data) for p in data.rglob("*")) == before
    missing = tmp_path / "missing"
    open_data_state(missing, None, now=0, read_only=True).close()
    assert not missing.exists()


def test_files_are_imported_on_the_first_open_only(state_url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    _daemon_state(data, "1005")
    url = None if state_url.startswith("sqlite") else state_url
    open_data_state(data, url, now=0).close()
    _daemon_state(data, "2000")  # a file changed after the import is not read again
    state = open_data_state(data, url, now=1)
    try:
        row = UserRepo(state).load("alice")
        assert row is not None and row.since_id == "1005"
    finally:
        state.close()


def test_state_url_comes_from_flag_then_environment_then_config(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[state]\nurl = "postgresql://postgres@127.0.0.1/from_config"\nlease_seconds = 30\n')
    common = dict(
        data_dir=str(tmp_path),
        bearer_token=None,
        mnemonic=None,
        mnemonic_file=None,
        twitter_api_url=None,
        key_derivation=None,
        verbose=0,
        quiet=False,
        log_format=None,
    )
    assert resolve_global_options(config_path=None, **common).state_url is None  # type: ignore[arg-type]
    from_config = resolve_global_options(config_path=str(config), **common)  # type: ignore[arg-type]
    assert from_config.state_url == "postgresql://postgres@127.0.0.1/from_config"
    from_flag = resolve_global_options(
        config_path=str(config),
        state_url="sqlite:///x.db",
        **common,  # type: ignore[arg-type]
    )
    assert from_flag.state_url == "sqlite:///x.db"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[state]\nlease_seconds = 1\n", "[state] lease_seconds must be from 5"),
        ("[state]\nurl = 5\n", "[state] url must be str"),
        ("[state]\nleases = 5\n", "unknown key 'leases' in [state]"),
    ],
)
def test_bad_state_config_names_the_key(tmp_path: Path, text: str, problem: str) -> None:
    _, problems = check_config(text, tmp_path / "c.toml")
    assert any(problem in p for p in problems), problems


@pytest.mark.parametrize(
    ("url", "password"),
    [
        ("postgresql://u:s3cret@h/db", "s3cret"),
        ("postgresql://u@h/db", None),
        ("sqlite:///x.db", None),
        (None, None),
        ("postgresql://u:p@[bad/db", None),
    ],
)
def test_url_password(url: str | None, password: str | None) -> None:
    assert url_password(url) == password


REOPEN_PROBE = """
import sys
from pathlib import Path
from nostrweet.state.opening import open_data_state
open_data_state(Path(sys.argv[1]), None, now=2).close()
print(sorted(m for m in sys.modules if m.startswith("nostrweet.state.import_")))
"""


def test_a_later_open_loads_no_importer(tmp_path: Path) -> None:
    """A state that had its one-time imports does not load their modules again (start-up cost)."""
    data = tmp_path / "data"
    _daemon_state(data, "1005")
    open_data_state(data, None, now=0).close()
    out = subprocess.run(
        [sys.executable, "-c", REOPEN_PROBE, str(data)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert out.strip() == "[]"
