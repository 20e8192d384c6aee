"""The data directory's owners, without sockets: temp names carry the writer's pid and only orphaned
ones are removed, the daemon lock, read-only stores, unreadable entries, file modes, and the ids of
corrupt tweets kept for fetching them again."""

from __future__ import annotations

import logging
import os
import signal
import socket
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nostrweet.cache import layout
from nostrweet.cache.atomic import (
    TEMP_MAX_AGE,
    atomic_write_bytes,
    is_orphaned_temp,
    make_private_dir,
    remove_orphaned_temp_files,
)
from nostrweet.cache.writers import WRITERS_DIR
from nostrweet.daemon.lock import DaemonLock, describe_holder, lock_content
from nostrweet.errors import OperationalError
from nostrweet.store import CacheStore, build_index

T0 = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
NOW = 1_800_000_000.0


def doc(tweet_id: int, username: str = "foo", user_id: str = "11") -> dict[str, object]:
    return {
        "data": {
            "id": str(tweet_id),
            "text": "t",
            "author_id": user_id,
            "created_at": "2024-01-02T03:04:05Z",
        },
        "includes": {"users": [{"id": user_id, "username": username, "name": username}]},
        "nostrweet": {"format": 1},
    }


# -- temp names -------------------------------------------------------------------------------------


@given(
    final=st.from_regex(r"[a-z0-9_.]{1,40}", fullmatch=True),
    pid=st.integers(1, 4_194_304),
    token=st.from_regex(r"[0-9a-f]{8}", fullmatch=True),
)
def test_temp_name_round_trip(final: str, pid: int, token: str) -> None:
    name = layout.temp_filename(final, pid, token)
    assert layout.is_temp_filename(name)
    assert layout.parse_temp_filename(name) == layout.TempName(final, pid)


@pytest.mark.parametrize(
    ("name", "parsed"),
    [
        (".a_1_0.jpg.123-abcd1234.tmp", layout.TempName("a_1_0.jpg", 123)),
        (".20240102_030405_foo_1.json.abcd1234.tmp", layout.TempName("20240102_030405_foo_1.json", None)),
        (".event_x.json.00000000.tmp", layout.TempName("event_x.json", None)),
        (".a.json.0-abcd.tmp", None),  # pid 0 is nobody
        ("a.json.1-abcd.tmp", None),  # not hidden
        (".a.json.1-xyz.tmp", None),
    ],
)
def test_parse_temp_filename(name: str, parsed: layout.TempName | None) -> None:
    assert layout.parse_temp_filename(name) == parsed


@pytest.mark.parametrize(
    ("pid", "alive", "age", "orphaned"),
    [
        (None, True, 0.0, True),  # no pid in the name: nothing of this version writes it
        (123, False, 0.0, True),  # its writer is gone
        (123, True, 10.0, False),  # a live writer
        (123, True, TEMP_MAX_AGE + 1, True),  # a live pid on an hour-old file: the pid was reused
    ],
)
def test_temp_is_orphaned(pid: int | None, alive: bool, age: float, orphaned: bool) -> None:
    assert layout.temp_is_orphaned(pid, alive=alive, age_seconds=age, max_age=TEMP_MAX_AGE) is orphaned


def test_only_orphaned_temp_files_are_removed(data_dir: Path) -> None:
    live = data_dir / layout.temp_filename("a_1_0.jpg", 100, "aa")
    dead = data_dir / layout.temp_filename("a_1_1.jpg", 200, "bb")
    old = data_dir / layout.temp_filename("a_1_2.jpg", 100, "cc")
    for path in (live, dead, old):
        path.write_bytes(b"x")
        os.utime(path, (NOW - 5, NOW - 5))
    os.utime(old, (NOW - TEMP_MAX_AGE - 5,) * 2)
    alive = {100}.__contains__
    assert not is_orphaned_temp(live, now=NOW, alive=alive)
    assert remove_orphaned_temp_files([live, dead, old], now=NOW, alive=alive) == 2
    assert live.exists() and not dead.exists() and not old.exists()


def test_store_open_keeps_this_process_temp_files(data_dir: Path) -> None:
    mine = data_dir / layout.temp_filename("foo_1_0.jpg", os.getpid(), "abcd")
    mine.write_bytes(b"partial")
    CacheStore(data_dir)
    assert mine.exists()


def test_writes_use_pid_temp_names(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    real_replace = os.replace

    def spy(src: str | Path, dst: str | Path) -> None:
        seen.append(Path(src).name)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    atomic_write_bytes(data_dir / "x.json", b"{}")
    parsed = layout.parse_temp_filename(seen[0])
    assert parsed == layout.TempName("x.json", os.getpid())


# -- read-only stores ---------------------------------------------------------------------------------


def test_read_only_store_creates_renames_and_deletes_nothing(tmp_path: Path, data_dir: Path) -> None:
    missing = tmp_path / "missing"
    assert CacheStore(missing, read_only=True).tweet_ids_of("foo") == []
    assert not missing.exists()
    store = CacheStore(data_dir)
    path = store.write_tweet(doc(5))
    path.write_text("{")
    orphan = data_dir / layout.temp_filename("x.json", 1, "ab")  # pid 1 lives, but the name is a year old
    orphan.write_bytes(b"")
    os.utime(orphan, (0, 0))
    before = sorted(os.listdir(data_dir))
    reader = CacheStore(data_dir, read_only=True)
    assert reader.read_tweet(5) is None
    assert sorted(os.listdir(data_dir)) == before
    store.reindex()  # (a writer's start removes it only after a killed writer: see below)
    assert not orphan.exists()


def _python(code: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, str(data_dir)], capture_output=True, text=True, timeout=60, check=False
    )


KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from nostrweet.cache.atomic import temp_path
from nostrweet.store import CacheStore
store = CacheStore(Path(sys.argv[1]))
temp_path(Path(sys.argv[1]) / "20240102_030405_foo_1.json").write_bytes(b"{")
print(os.getpid(), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
WRITER = "import sys; from nostrweet.store import CacheStore; CacheStore(sys.argv[1]); print('ok')"


def test_a_start_after_a_killed_writer_removes_its_temp_files(data_dir: Path) -> None:
    assert _python(WRITER, data_dir).stdout == "ok\n"
    assert (
        os.listdir(data_dir / WRITERS_DIR) == []
    )  # a clean exit leaves no marker: the next start lists nothing
    killed = _python(KILLED_WRITER, data_dir)
    assert killed.returncode == -signal.SIGKILL
    pid = killed.stdout.strip()
    assert os.listdir(data_dir / WRITERS_DIR) == [pid]
    assert [n for n in os.listdir(data_dir) if layout.is_temp_filename(n)]
    CacheStore(data_dir, read_only=True)  # a reader removes nothing
    assert [n for n in os.listdir(data_dir) if layout.is_temp_filename(n)]
    assert _python(WRITER, data_dir).stdout == "ok\n"
    assert not [n for n in os.listdir(data_dir) if layout.is_temp_filename(n)]
    assert os.listdir(data_dir / WRITERS_DIR) == []


# -- unreadable entries ---------------------------------------------------------------------------------


def test_directory_named_like_a_tweet_is_skipped_with_one_warning(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = CacheStore(data_dir)
    store.write_tweet(doc(5))
    bad = data_dir / layout.tweet_filename(T0, "foo", 6)
    bad.mkdir()
    store = CacheStore(data_dir)
    assert store.reindex().tweets == 1  # (its name is a tweet's: the listing takes it)
    assert store.tweet_ids_of("foo") == [5, 6]
    with caplog.at_level(logging.WARNING):
        assert store.readable_tweet_ids([5, 6]) == [5]
        assert store.read_tweet(6) is None
        CacheStore(data_dir).read_tweet(6)
    assert sum(str(bad) in r.getMessage() for r in caplog.records) == 1
    assert bad.is_dir() and store.readable_tweet_ids(store.tweet_ids_of("foo")) == [5]


# -- modes ------------------------------------------------------------------------------------------------


def test_files_0600_and_new_dirs_0700(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        data = tmp_path / "new"
        store = CacheStore(data)
        store.write_tweet(doc(5))
        store.mark_not_found(6)
        store.write_profile({"id": "11", "username": "foo", "name": "Foo"}, T0)
        made = tmp_path / "made" / "deeper"
        make_private_dir(made)
    finally:
        os.umask(old)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE(made.stat().st_mode) == 0o700
    assert stat.S_IMODE(made.parent.stat().st_mode) == 0o700  # a parent it had to create too
    files = [p for p in data.rglob("*") if p.is_file()]
    others = [p for p in files if not p.name.startswith("nostrweet.sqlite3")]  # and the state
    assert sorted(p.parent.name for p in others if p.parent != data) == [WRITERS_DIR]  # this writer's marker
    assert len(others) == 4
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {oct(0o600)}


# -- corrupt tweets are remembered ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "tweet_id"),
    [
        ("20240102_030405_foo_5.json.corrupt", 5),
        ("20240102_030405_foo_5.json.corrupt.2", 5),
        ("20240102_030405_foo_profile.json.corrupt", None),
        ("20240102_030405_foo_5.json", None),
        ("20240102_030405_foo_5.json.corrupt.x", None),
        ("event_" + "a" * 64 + "_tweet_5.json.corrupt", None),
    ],
)
def test_parse_corrupt_tweet_filename(name: str, tweet_id: int | None) -> None:
    parsed = layout.parse_corrupt_tweet_filename(name)
    assert (parsed.tweet_id if parsed else None) == tweet_id


def test_corrupt_ids_survive_a_restart_until_cached_again(data_dir: Path) -> None:
    store = CacheStore(data_dir)
    for tid in (5, 6, 7):
        store.write_tweet(doc(tid))
    store.tweet_path(6).write_text("{")  # type: ignore[union-attr]
    assert store.read_tweet(6) is None
    assert store.corrupt_tweet_ids_of("foo") == [6]
    fresh = CacheStore(data_dir)
    assert fresh.corrupt_tweet_ids_of("FOO") == [6] and build_index(data_dir).corrupt == {"foo": {6}}
    fresh.write_tweet(doc(6))
    assert fresh.corrupt_tweet_ids_of("foo") == []
    assert CacheStore(data_dir).corrupt_tweet_ids_of("foo") == []  # the .corrupt file stays
    assert (data_dir / (layout.tweet_filename(T0, "foo", 6) + ".corrupt")).exists()
    store.mark_not_found(8)
    (data_dir / (layout.tweet_filename(T0, "foo", 8) + ".corrupt")).write_text("{")
    assert CacheStore(data_dir).corrupt_tweet_ids_of("foo") == []  # gone from X: not asked again


# -- the daemon lock ---------------------------------------------------------------------------------------


def test_daemon_lock_is_exclusive_and_names_its_holder(data_dir: Path) -> None:
    first = DaemonLock(data_dir)
    first.acquire("host:42")
    assert stat.S_IMODE(first.path.stat().st_mode) == 0o600
    second = DaemonLock(data_dir)
    with pytest.raises(OperationalError) as caught:
        second.acquire()
    host = socket.gethostname()
    assert str(caught.value) == (
        f"another daemon (host:42, host {host}, pid {os.getpid()}) is running on {data_dir}"
    )
    first.release()
    second.acquire()
    assert second.held
    second.release()


@pytest.mark.parametrize(
    ("content", "shown"),
    [
        (lock_content("h:1", 1, "h"), "h:1, host h, pid 1"),
        (b'{"instance_id": "h:1", "pid": 1}', "h:1, pid 1"),
        (b"", "unknown"),
        (b"[1]", "unknown"),
        (b'{"instance_id": "h\\u001b[31m:1"}', "h\\x1b[31m:1"),
    ],
)
def test_describe_holder(content: bytes, shown: str) -> None:
    assert describe_holder(content) == shown


def test_sqlite_state_lock_names_the_state(tmp_path: Path) -> None:
    database = tmp_path / "shared.sqlite3"
    first = DaemonLock.for_sqlite_state(database, f"sqlite:///{database}")
    first.acquire("one")
    assert first.path == tmp_path / "shared.sqlite3.daemon.lock"
    with pytest.raises(OperationalError) as caught:
        DaemonLock.for_sqlite_state(database, f"sqlite:///{database}").acquire("two")
    assert str(caught.value).startswith("another daemon (one, host ")
    assert str(caught.value).endswith(f"is running on sqlite:///{database}")
    first.release()


def test_clear_keeps_live_temp_files_and_skips_directories(data_dir: Path) -> None:
    store = CacheStore(data_dir)
    store.write_tweet(doc(5))
    live = data_dir / layout.temp_filename("foo_5_0.jpg", os.getpid(), "ab")
    live.write_bytes(b"partial")
    events = data_dir / layout.EVENTS_DIR
    events.mkdir()
    live_record = events / layout.temp_filename("relays.json", os.getpid(), "cd")
    live_record.write_bytes(b"partial")
    dead = data_dir / ".foo_5_1.jpg.abcd.tmp"  # no pid: nobody writes it any more
    dead.write_bytes(b"")
    folder = data_dir / layout.tweet_filename(T0, "foo", 6)
    folder.mkdir()
    assert store.clear(include_events=True) == 2
    assert live.exists() and live_record.exists() and folder.is_dir() and not dead.exists()
