"""PURE: parsing of list-valued option values (comma lists, relay, Blossom and API URLs).

The same rules apply wherever a value comes from: a repeated or comma-separated flag, an environment
variable, or a list in the config file. Invalid URLs raise :class:`~nostrweet.errors.InputError`.
"""

from __future__ import annotations

import math
from urllib.parse import urlsplit

from nostrweet.errors import InputError

__all__ = [
    "MAX_DAYS",
    "MAX_UNIX_SECONDS",
    "MAX_WAIT_SECONDS",
    "check_seconds",
    "http_origin",
    "parse_blossom_urls",
    "parse_relay_urls",
    "parse_urls",
    "split_list",
    "url_password",
]

MAX_DAYS = 36_500
"""The largest day count an option accepts (a century; larger ones overflow date arithmetic)."""
MAX_UNIX_SECONDS = 253_402_300_799
"""The largest Unix time an option accepts: 9999-12-31T23:59:59Z (fits int64 and Python's datetime)."""
MAX_WAIT_SECONDS = 3600.0
"""The longest wait (a timeout) an option accepts."""


def check_seconds(value: float, what: str, *, low: float = 0.0, high: float = MAX_WAIT_SECONDS) -> float:
    """A finite number of seconds in ``(low, high]``; InputError for nan, inf and values outside."""
    if not math.isfinite(value) or value <= low or value > high:
        raise InputError(f"invalid {what} {value}: give seconds above {low:g} and at most {high:g}")
    return value


def split_list(values: list[str] | tuple[str, ...] | str | None) -> list[str]:
    """Flatten repeated and comma-separated values, dropping blanks and keeping first-seen order."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    out: list[str] = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if part and part not in out:
                out.append(part)
    return out


def parse_urls(
    values: list[str] | tuple[str, ...] | str | None, schemes: tuple[str, ...], what: str
) -> list[str]:
    """Validate URLs of the given schemes; a bare root path loses its trailing slash."""
    urls = []
    for url in split_list(values):
        try:
            parts = urlsplit(url)
            host = parts.hostname
            _ = parts.port  # raises ValueError on a malformed port
        except ValueError:
            raise InputError(f"invalid {what} URL {url!r}: not a URL") from None
        if parts.scheme.lower() not in schemes or not host:
            raise InputError(f"invalid {what} URL {url!r}: use {' or '.join(s + '://' for s in schemes)}")
        urls.append(url.rstrip("/") if parts.path in ("", "/") else url)
    return urls


def parse_relay_urls(values: list[str] | tuple[str, ...] | str | None) -> list[str]:
    """Validate relay URLs (``ws://`` or ``wss://`` only)."""
    return parse_urls(values, ("ws", "wss"), "relay")


def parse_blossom_urls(values: list[str] | tuple[str, ...] | str | None) -> list[str]:
    """Validate Blossom server URLs (``http://`` or ``https://`` only), without a trailing slash."""
    return [u.rstrip("/") for u in parse_urls(values, ("http", "https"), "Blossom server")]


_DEFAULT_PORTS = {"http": 80, "https": 443}


def http_origin(url: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an http(s) URL, lower-case, with the scheme's default port filled
    in; None for any other URL or one that does not parse. Two URLs are on the same server when
    their origins are equal."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    return scheme, host, port if port is not None else _DEFAULT_PORTS[scheme]


def url_password(url: str | None) -> str | None:
    """The password a URL carries (``postgresql://user:pw@host/db``), so it can be kept out of every output."""
    if not url:
        return None
    try:
        password = urlsplit(url).password
    except ValueError:
        return None
    return password or None
