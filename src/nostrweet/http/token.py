"""The admin API's bearer token, read from a file (SPEC §8), and its constant-time check."""

from __future__ import annotations

import contextlib
import hmac
from pathlib import Path

from nostrweet.errors import InputError
from nostrweet.secret import Secret

MAX_TOKEN_FILE = 4096  # bytes: a token, not a document


def token_file_warning(path: Path, mode: int, uid: int) -> str | None:
    """PURE: a warning when others may read the token file (a root-owned, group-readable file is how
    Kubernetes mounts a secret for the pod's ``fsGroup``, and is fine)."""
    if mode & 0o007 or (mode & 0o070 and uid != 0):
        return f"admin token file {path} is open to other users (mode {mode & 0o777:04o}): run 'chmod 600 {path}'"
    return None


def read_admin_token(path: Path, warnings: list[str]) -> Secret:
    """The token in ``path`` (surrounding whitespace ignored); InputError (exit 2) when missing or empty."""
    path = path.expanduser()
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_TOKEN_FILE + 1)
        text = raw.decode("utf-8").strip()
    except FileNotFoundError:
        raise InputError(f"admin token file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read admin token file {path}: {exc.__class__.__name__}") from None
    if len(raw) > MAX_TOKEN_FILE:
        raise InputError(f"admin token file {path} is over {MAX_TOKEN_FILE} bytes: it should hold one token")
    if not text:
        raise InputError(f"admin token file {path} is empty")
    if any(c.isspace() for c in text):
        raise InputError(f"admin token file {path} holds more than one word: it should hold one token")
    with contextlib.suppress(OSError):
        info = path.stat()
        warning = token_file_warning(path, info.st_mode, info.st_uid)
        if warning:
            warnings.append(warning)
    return Secret(text)


def authorized(header: str | None, token: Secret) -> bool:
    """True when an ``Authorization`` header carries the token (``Bearer <token>``), compared in constant time."""
    if header is None:
        return False
    scheme, _, given = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.reveal().encode())
