"""Atomic writes and the batch sync: what every cache file relies on."""

from __future__ import annotations

from pathlib import Path

import pytest

from nostrweet.cache.atomic import atomic_write_bytes, read_json_or_quarantine, sync_filesystem


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
