"""Log levels per -q/-v count (nostrweet's and the libraries') and one line for a disk error."""

from __future__ import annotations

import errno
import logging
from pathlib import Path

import pytest

from nostrweet.errors import describe_os_error
from nostrweet.logs import levels_for
from nostrweet.settings import mnemonic_file_warning, resolve_global_options

D, INF, W, E = logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR


@pytest.mark.parametrize(
    ("level", "verbosity", "ours", "libraries"),
    [
        (INF, 0, INF, W),  # default
        (E, 0, E, E),  # -q
        (W, 0, W, E),
        (D, 0, D, INF),  # NOSTRWEET_LOG_LEVEL=debug: the libraries stay one step lower
        (D, 1, D, W),  # -v: only nostrweet's own debug lines
        (D, 2, D, INF),  # -vv: libraries at info, no debug floods
        (D, 3, D, D),  # -vvv: everything
        (D, 5, D, D),
    ],
)
def test_levels_for(level: int, verbosity: int, ours: int, libraries: int) -> None:
    assert levels_for(level, verbosity) == (ours, libraries)


def _options(verbose: int, quiet: bool) -> tuple[int, int]:
    options = resolve_global_options(
        data_dir=None,
        bearer_token=None,
        mnemonic=None,
        mnemonic_file=None,
        twitter_api_url=None,
        key_derivation=None,
        config_path=None,
        verbose=verbose,
        quiet=quiet,
        log_format=None,
    )
    return levels_for(options.log_level, options.verbosity)


def test_quiet_wins_over_verbose() -> None:
    assert _options(0, True) == (E, E)
    assert _options(2, True) == (E, E)
    assert _options(2, False) == (D, INF)


@pytest.mark.parametrize(
    ("exc", "where", "line"),
    [
        (
            OSError(errno.ENOSPC, "No space left on device"),
            "/data",
            "cannot write to /data: No space left on device",
        ),
        (
            PermissionError(errno.EACCES, "Permission denied", "/data/x.json"),
            "/data",
            "cannot write to /data/x.json: Permission denied",
        ),
        (
            OSError(errno.EROFS, "Read-only file system", "/ro"),
            None,
            "cannot write to /ro: Read-only file system",
        ),
        (OSError(errno.ENOSPC, "No space left on device"), None, "cannot write: No space left on device"),
        (
            PermissionError(errno.EACCES, "Permission denied", "/data/.20260101_000000_a_1.json.1f2e.tmp"),
            None,
            "cannot write to /data: Permission denied",
        ),
        (
            ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
            "/d",
            "network error: Connection refused",
        ),
        (OSError(errno.EIO, "Input/output error", "/d/f"), None, "cannot use /d/f: Input/output error"),
    ],
)
def test_describe_os_error(exc: OSError, where: str | None, line: str) -> None:
    assert describe_os_error(exc, where) == line


@pytest.mark.parametrize(
    ("mode", "warns"),
    [
        (0o100600, False),
        (0o100400, False),
        (0o100644, True),
        (0o100640, True),
        (0o100604, True),
        (0o100620, True),
    ],
)
def test_mnemonic_file_warning(mode: int, warns: bool) -> None:
    warning = mnemonic_file_warning(Path("/k/m.txt"), mode)
    assert (warning is not None) == warns
    if warning:
        assert "/k/m.txt" in warning and "chmod 600 /k/m.txt" in warning
