"""One daemon per data directory and per SQLite state (SPEC §7): an exclusive lock on a file.

The data directory's lock is ``<data-dir>/daemon.lock``. A SQLite state elsewhere (``--state-url
sqlite:///PATH``) is locked too, by ``PATH.daemon.lock`` beside it, so two daemons with their own data
directories cannot share one SQLite state (SQLite is for one instance; several share PostgreSQL).

The daemon takes ``fcntl.flock(LOCK_EX | LOCK_NB)`` on the file at start and holds it for its whole
life; the kernel releases it when the process ends, however it ends (a SIGKILL too), so a stale lock
never blocks a new start. The file holds who has it
(``{"instance_id": "host:1234", "host": "host", "pid": 1234}``),
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


def lock_content(instance_id: str, pid: int, host: str | None = None) -> bytes:
    """What the holder writes into the lock file."""
    data = {"instance_id": instance_id, "host": host or socket.gethostname(), "pid": pid}
    return (json.dumps(data) + "\n").encode()


def describe_holder(content: bytes) -> str:
    """``host:1234, host host, pid 1234`` from the lock file's content (``unknown`` if it cannot be read)."""
    try:
        data: Any = json.loads(content.decode("utf-8", "replace"))
    except ValueError:
        return "unknown"
    if not isinstance(data, dict):
        return "unknown"
    instance = _printable(data.get("instance_id", "?"))
    host = data.get("host")
    where = f", host {_printable(host)}" if isinstance(host, str) else ""
    pid = data.get("pid")
    return f"{instance}{where}, pid {pid}" if isinstance(pid, int) else f"{instance}{where}"


def _printable(value: Any) -> str:
    return str(value).encode("unicode_escape").decode("ascii")[:200]


class DaemonLock:
    """The data directory's daemon lock; held from :meth:`acquire` until :meth:`release` or the process ends."""

    def __init__(self, data_dir: Path, *, lock_path: Path | None = None, what: str | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.path = lock_path or self.data_dir / LOCK_FILE
        self.what = what or str(self.data_dir)
        self._fd: int | None = None

    @classmethod
    def for_sqlite_state(cls, database: Path, shown: str) -> DaemonLock:
        """The lock of a SQLite state file (``shown``: its URL as logs show it)."""
        return cls(database.parent, lock_path=database.with_name(database.name + ".daemon.lock"), what=shown)

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
            raise OperationalError(f"another daemon ({holder}) is running on {self.what}") from None
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
