"""PURE: X usernames as nostrweet accepts them, the one rule every layer uses (paths, config keys, the API)."""

from __future__ import annotations

import re

from nostrweet.errors import InputError

__all__ = ["USERNAME_RE", "normalize_username"]

USERNAME_RE = re.compile(r"@?([A-Za-z0-9_]{1,15})")
"""An X username, with an optional leading ``@``."""


def normalize_username(raw: str) -> str:
    """Validate a username (``^@?[A-Za-z0-9_]{1,15}$``) and return it lower-case without the ``@``.

    Raises InputError for anything else, so a name like ``../x`` can never reach a path.
    """
    match = USERNAME_RE.fullmatch(raw)
    if match is None:
        raise InputError(f"invalid username {raw!r}: use 1 to 15 letters, digits or '_'")
    return match.group(1).lower()
