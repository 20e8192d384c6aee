"""Which processes write a data directory, so that a start finds the temp files of a killed one without
listing the cache (SPEC §2).

Each process that opens a data directory to write leaves a marker ``.writers/<pid>`` there (an empty
file) and removes it when it exits. A marker whose process is gone means that process was killed: it
may have left temp files behind, so the next writer to start lists the directory once and removes the
temp files whose writer is gone (``cache.atomic.remove_orphaned_temp_files``), then removes the
marker. A start after clean exits reads only the few names in ``.writers/``. A directory without
``.writers/`` (new, or written by an earlier version) is swept once too.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
from pathlib import Path

from nostrweet.cache.atomic import DIR_MODE, FILE_MODE, pid_alive, remove_stale_temp_files

log = logging.getLogger(__name__)

WRITERS_DIR = ".writers"
"""The directory of the markers, inside the data directory."""

_registered: dict[Path, Path] = {}
"""The markers this process left: data dir → marker path."""


def register_writer(data_dir: Path) -> int:
    """Mark ``data_dir`` as written by this process (once per process); first, when a writer before it
    was killed (its marker outlived it) or the directory has no markers yet, remove the temp files that
    no live process writes. Returns how many were removed."""
    data_dir = Path(data_dir)
    key = data_dir.resolve()
    if key in _registered:
        return 0
    markers = data_dir / WRITERS_DIR
    try:
        names = os.listdir(markers)
        fresh = False
    except FileNotFoundError:
        names, fresh = [], True
    own = str(os.getpid())
    # a marker with our own pid is a previous process's (the pid was reused): this one has none yet
    dead = [n for n in names if n.isdigit() and (n == own or not pid_alive(int(n)))]
    removed = 0
    if fresh or dead:
        removed = remove_stale_temp_files(data_dir)
        if removed:
            log.info("removed %d temp file(s) left by an interrupted write", removed)
    try:
        if fresh:
            os.mkdir(markers, DIR_MODE)
        for name in dead:
            (markers / name).unlink(missing_ok=True)
        os.close(os.open(markers / own, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    except FileExistsError:  # another writer created the directory meanwhile
        os.close(os.open(markers / own, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    except OSError as exc:
        log.debug("cannot mark %s as written: %s", data_dir, exc)
        return removed
    if not _registered:
        atexit.register(_unregister_all)
    _registered[key] = markers / own
    return removed


def _unregister_all() -> None:
    """Remove this process's markers (at a clean exit: it left no temp file behind)."""
    for marker in _registered.values():
        with contextlib.suppress(OSError):
            marker.unlink(missing_ok=True)
    _registered.clear()
