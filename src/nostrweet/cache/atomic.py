"""Atomic writes and quarantine of unreadable files: how every file of the cache is written and read.

A crash at any instant leaves either the old file or the new one under a final name, never a part:
write a temp file in the same directory, fsync it, rename it into place, fsync the directory.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from nostrweet.cache import layout

log = logging.getLogger(__name__)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old file or the new one, never a part."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{layout.TEMP_SUFFIX}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """fsync a directory so that a rename in it survives a power loss."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


_ENCODER = msgspec.json.Encoder(order="deterministic")


def encode_json(value: Any) -> bytes:
    """Deterministic, indented JSON bytes (keys sorted) for files a person may read."""
    return msgspec.json.format(_ENCODER.encode(value), indent=2) + b"\n"


def atomic_write_json(path: Path, value: Any) -> None:
    """Serialize ``value`` as JSON and write it atomically."""
    atomic_write_bytes(path, encode_json(value))


def move_aside(path: Path, reason: str) -> Path:
    """Rename a file that does not parse to ``<name>.corrupt`` (keeping older ones) and warn."""
    target = path.with_name(path.name + layout.CORRUPT_SUFFIX)
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}{layout.CORRUPT_SUFFIX}.{n}")
        n += 1
    os.replace(path, target)
    log.warning("moved unreadable file %s aside to %s: %s", path.name, target.name, reason)
    return target


def read_json_or_quarantine(path: Path) -> Any | None:
    """Read a JSON file. A missing file gives None; a file that does not parse is moved aside and gives None."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        move_aside(path, str(exc))
        return None


def remove_stale_temp_files(directory: Path) -> int:
    """Delete temp files that a killed writer left in ``directory``; returns how many."""
    removed = 0
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return 0
    for entry in entries:
        if layout.is_temp_filename(entry.name):
            Path(entry.path).unlink(missing_ok=True)
            removed += 1
    return removed


def _load_syncfs() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        syncfs: Callable[[int], int] = libc.syncfs
    except (OSError, AttributeError):
        return None
    return syncfs


_SYNCFS = _load_syncfs()


def sync_filesystem(directory: Path) -> None:
    """Make every write to the file system holding ``directory`` durable, in one call.

    Batch writers use it instead of one fsync per file. On Linux it is ``syncfs`` on that file system
    only; elsewhere it falls back to ``os.sync()`` (every file system).
    """
    if _SYNCFS is not None:
        fd = os.open(directory, os.O_RDONLY)
        try:
            if _SYNCFS(fd) == 0:
                return
        finally:
            os.close(fd)
    os.sync()
