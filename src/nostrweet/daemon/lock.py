"""One daemon per data directory (SPEC §7): an exclusive lock on ``<data-dir>/daemon.lock``.

The daemon takes ``fcntl.flock(LOCK_EX | LOCK_NB)`` on the file at start and holds it for its whole
life; the kernel releases it when the process ends, however it ends (a SIGKILL too), so a stale lock
never blocks a new start. The file holds who has it (``{"instance_id": "host:1234", "pid": 1234}``),
so a second daemon can say whom it found. Short commands (``post-…``, ``fetch-…``) never take it and
may run beside a daemon.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from pathlib import Path
from typing import Any

from nostrweet.cache.atomic import FILE_MODE, make_private_dir
from nostrweet.cache.layout import DAEMON_LOCK
from nostrweet.errors import OperationalError

LOCK_FILE = DAEMON_LOCK


def default_instance_id(pid: int | None = None) -> str:
    """``<host name>:<pid>``, the instance id when none is configured."""
    return f"{socket.gethostname()}:{os.getpid() if pid is None else pid}"


def lock_content(instance_id: str, pid: int) -> bytes:
    """What the holder writes into the lock file."""
    return (json.dumps({"instance_id": instance_id, "pid": pid}) + "\n").encode()


def describe_holder(content: bytes) -> str:
    """``host:1234, pid 1234`` from the lock file's content (``unknown`` if it cannot be read)."""
    try:
        data: Any = json.loads(content.decode("utf-8", "replace"))
    except ValueError:
        return "unknown"
    if not isinstance(data, dict):
        return "unknown"
    instance = str(data.get("instance_id", "?")).encode("unicode_escape").decode("ascii")
    pid = data.get("pid")
    return f"{instance[:200]}, pid {pid}" if isinstance(pid, int) else instance[:200]


class DaemonLock:
    """The data directory's daemon lock; held from :meth:`acquire` until :meth:`release` or the process ends."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self, instance_id: str | None = None) -> None:
        """Take the lock, or raise OperationalError (exit 1) naming the daemon that holds it."""
        if self._fd is not None:
            return
        try:
            make_private_dir(self.data_dir)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        except OSError as exc:
            raise OperationalError(f"cannot open {self.path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = describe_holder(_read_all(fd))
            os.close(fd)
            raise OperationalError(f"another daemon ({holder}) is running on {self.data_dir}") from None
        except OSError as exc:
            os.close(fd)
            raise OperationalError(f"cannot lock {self.path}: {exc.strerror or exc}") from None
        pid = os.getpid()
        os.ftruncate(fd, 0)
        os.pwrite(fd, lock_content(instance_id or default_instance_id(pid), pid), 0)
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        """Give the lock up (the file stays; its content names the last holder)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _read_all(fd: int) -> bytes:
    try:
        return os.pread(fd, 4096, 0)
    except OSError:
        return b""
