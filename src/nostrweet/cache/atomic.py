"""Atomic writes and quarantine of unreadable files: how every file of the cache is written and read.

A crash at any instant leaves either the old file or the new one under a final name, never a part:
write a temp file in the same directory, fsync it, rename it into place, fsync the directory.
:func:`atomic_file` is that one primitive; every writer under ``src/`` goes through it (the cache's
documents and media, downloads, imports, migrations, exports, secret files; a test checks that no
module writes a file another way).

Modes (SPEC §2): every file is created 0600 and every directory 0700 (:data:`FILE_MODE`,
:data:`DIR_MODE`); a directory that already exists keeps its mode. A temp file's name carries the
writer's pid (``layout.temp_filename``), so a start removes only temp files whose writer is gone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from nostrweet.cache import layout

log = logging.getLogger(__name__)


FILE_MODE = 0o600
"""The mode of every file nostrweet writes: tweets of protected accounts and the records are private."""
PUBLIC_FILE_MODE = 0o644
"""The mode of a file written for others to read (a web server's NIP-05 document, exported events)."""
DIR_MODE = 0o700
"""The mode of every directory nostrweet creates."""
TEMP_MAX_AGE = 3600.0
"""A temp file older than this is removed even if a live process has its pid (the pid was reused)."""


def temp_path(path: Path) -> Path:
    """A new temp file name for a write of ``path``, in the same directory, carrying this process's pid."""
    return path.with_name(layout.temp_filename(path.name, os.getpid(), secrets.token_hex(4)))


def create_private(path: Path) -> int:
    """Create a new file (it must not exist) with mode 0600 and return its descriptor, open for writing."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)


def make_private_dir(path: Path) -> None:
    """Create a directory and its missing parents, each with mode 0700; an existing one is left as it is."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        directory.mkdir(mode=DIR_MODE, exist_ok=True)


@contextmanager
def atomic_file(path: Path, *, mode: int = FILE_MODE, exclusive: bool = False) -> Iterator[BinaryIO]:
    """The one way nostrweet writes a file: a crash leaves either the old file or the new one, never a part.

    The block writes to the handle of a temp file next to ``path`` (0600, or ``mode`` whatever the
    umask). When it ends normally the temp file is synced and renamed to ``path`` and the directory is
    synced; when it raises, the temp file is removed and ``path`` is as it was. With ``exclusive`` an
    existing ``path`` is never replaced: FileExistsError (a secret the user asked to be created).
    """
    tmp = temp_path(path)
    fd = create_private(tmp)
    try:
        with os.fdopen(fd, "wb") as handle:
            if mode != FILE_MODE:
                os.fchmod(handle.fileno(), mode)
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if exclusive:
            _link_new(tmp, path)
        else:
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def _link_new(tmp: Path, path: Path) -> None:
    """Give the temp file the name ``path`` only if no file has it (a hard link fails if one has)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: the check and the rename are two steps
        if path.exists():
            raise FileExistsError(errno.EEXIST, "File exists", str(path)) from None
        os.replace(tmp, path)
        return
    tmp.unlink()


def atomic_write_bytes(path: Path, data: bytes, *, mode: int = FILE_MODE, exclusive: bool = False) -> None:
    """Write ``data`` to ``path`` with :func:`atomic_file` (0600 unless ``mode`` says otherwise)."""
    with atomic_file(path, mode=mode, exclusive=exclusive) as handle:
        handle.write(data)


def atomic_write_chunks(path: Path, chunks: Iterable[bytes], *, mode: int = FILE_MODE) -> None:
    """:func:`atomic_write_bytes` of a stream: the chunks are written as they come (flat memory)."""
    with atomic_file(path, mode=mode) as handle:
        for chunk in chunks:
            handle.write(chunk)


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


def read_entry(path: Path) -> bytes | None:
    """The bytes of a cache entry. None if it is missing, or unreadable (a directory, no permission):
    that is skipped with one warning naming it, and never stops the caller."""
    try:
        return _read_all(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        warn_unreadable(path, exc)
        return None


def _read_all(path: Path) -> bytes:
    """A file's bytes with plain system calls (no buffered reader: cache files are read whole, once)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


_WARNED: set[str] = set()
_WARNED_MAX = 10_000


def warn_unreadable(path: Path, exc: OSError) -> None:
    """Warn once per process about an entry that cannot be read (later reads of it stay quiet)."""
    key = str(path)
    if key in _WARNED:
        return
    if len(_WARNED) < _WARNED_MAX:
        _WARNED.add(key)
    log.warning("skipped unreadable entry %s: %s", path, exc.strerror or exc.__class__.__name__)


def read_json_or_quarantine(path: Path, *, quarantine: bool = True) -> Any | None:
    """Read a JSON file. A missing or unreadable entry gives None (see :func:`read_entry`); a file that
    does not parse is moved aside (only warned about when ``quarantine`` is False) and gives None."""
    data = read_entry(path)
    if data is None:
        return None
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        if quarantine:
            move_aside(path, str(exc))
        else:
            log.warning("skipped unreadable file %s: %s", path.name, exc)
        return None


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (one of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def is_orphaned_temp(
    path: Path,
    *,
    now: float | None = None,
    alive: Callable[[int], bool] = pid_alive,
    max_age: float = TEMP_MAX_AGE,
) -> bool:
    """Whether the temp file at ``path`` belongs to no live writer (``layout.temp_is_orphaned``)."""
    parsed = layout.parse_temp_filename(path.name)
    pid = parsed.pid if parsed is not None else None
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return False  # gone already (its writer renamed it), or not ours to judge
    age = (time.time() if now is None else now) - mtime
    return layout.temp_is_orphaned(
        pid, alive=pid is not None and alive(pid), age_seconds=age, max_age=max_age
    )


def remove_orphaned_temp_files(
    paths: list[Path], *, now: float | None = None, alive: Callable[[int], bool] = pid_alive
) -> int:
    """Delete the temp files among ``paths`` whose writer is gone; returns how many. A temp file of a
    live process (a download or a write in another command) is left alone."""
    removed = 0
    for path in paths:
        if is_orphaned_temp(path, now=now, alive=alive):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def remove_stale_temp_files(directory: Path) -> int:
    """Delete temp files in ``directory`` whose writer is gone (see :func:`remove_orphaned_temp_files`)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return 0
    return remove_orphaned_temp_files([directory / n for n in names if layout.is_temp_filename(n)])


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
