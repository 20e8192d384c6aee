"""Atomic writes and the batch sync: what every cache file relies on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nostrweet.cache.atomic import (
    PUBLIC_FILE_MODE,
    atomic_file,
    atomic_write_bytes,
    read_json_or_quarantine,
    sync_filesystem,
)


def test_sync_filesystem_on_a_directory_and_a_missing_one(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"x")
    sync_filesystem(tmp_path)  # syncfs on Linux, os.sync elsewhere: must not raise
    with pytest.raises(FileNotFoundError):
        sync_filesystem(tmp_path / "missing")


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    atomic_write_bytes(target, b'{"a": 1}')
    atomic_write_bytes(target, b'{"a": 2}')
    assert target.read_bytes() == b'{"a": 2}'
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_unparsable_file_is_moved_aside(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    target.write_bytes(b'{"a": ')
    assert read_json_or_quarantine(target) is None
    assert not target.exists()
    assert (tmp_path / "f.json.corrupt").read_bytes() == b'{"a": '


def test_a_block_that_raises_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"old")
    with pytest.raises(RuntimeError), atomic_file(target) as handle:
        handle.write(b"half of the new")
        raise RuntimeError("the stream broke")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_exclusive_never_replaces_a_file_and_keeps_the_mode(tmp_path: Path) -> None:
    target = tmp_path / "secret"
    atomic_write_bytes(target, b"first", exclusive=True)
    assert target.stat().st_mode & 0o777 == 0o600
    with pytest.raises(FileExistsError):
        atomic_write_bytes(target, b"second", exclusive=True)
    assert target.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["secret"]


def test_a_public_mode_is_set_whatever_the_umask(tmp_path: Path) -> None:
    target = tmp_path / "nostr.json"
    old = os.umask(0o077)
    try:
        atomic_write_bytes(target, b"{}", mode=PUBLIC_FILE_MODE)
    finally:
        os.umask(old)
    assert target.stat().st_mode & 0o777 == 0o644
