"""Typed errors. Each carries the process exit code of SPEC §1 that the CLI boundary turns it into.

Messages are one line, meant for a person, and never contain a secret.
"""

from __future__ import annotations

import errno

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2


class NostrweetError(Exception):
    """Base of every error the CLI reports as one line. Exit code 1 unless a subclass says otherwise."""

    exit_code: int = EXIT_FAILURE


class InputError(NostrweetError):
    """Bad input from the user: usage, username, URL, relay, mnemonic, config, missing credential (exit 2)."""

    exit_code = EXIT_BAD_INPUT


class ConfigError(InputError):
    """The TOML config file does not validate."""


class MissingCredentialError(InputError):
    """A bearer token or mnemonic that the command needs was not given."""


class OperationalError(NostrweetError):
    """Something outside went wrong: the X API, a relay, a Blossom server, the disk (exit 1)."""


class TwitterApiError(OperationalError):
    """The X API answered with an error we cannot recover from."""


class TwitterAuthError(TwitterApiError):
    """401/403: the bearer token is wrong, expired or lacks access."""


class NotFoundError(OperationalError):
    """A tweet or user does not exist, is protected, or is suspended."""


class PublishError(OperationalError):
    """An event reached no relay."""


_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EFBIG})


def describe_os_error(exc: OSError, where: str | None = None) -> str:
    """One line for an :class:`OSError` that reached the CLI boundary (a full disk, a read-only dir).

    ``where`` (the data directory) names the place when the error itself does not (a failed write).
    """
    reason = exc.strerror or str(exc) or exc.__class__.__name__
    if isinstance(exc, ConnectionError | TimeoutError):
        return f"network error: {reason}"
    path = exc.filename if exc.filename is not None else where
    if isinstance(path, str):
        head, _, name = path.rpartition("/")
        if head and name.startswith(".") and name.endswith(".tmp"):  # an atomic write's temp file
            path = head
    if exc.errno in _WRITE_ERRNOS:
        return f"cannot write to {path}: {reason}" if path else f"cannot write: {reason}"
    if isinstance(exc, PermissionError):
        return f"cannot write to {path}: {reason}" if path else f"permission denied: {reason}"
    return f"cannot use {path}: {reason}" if path else f"system error: {reason}"
