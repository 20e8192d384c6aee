"""Parsing of tweet references given on the command line (SPEC §1), as pure functions.

A tweet reference is a numeric id, or a status URL on twitter.com, x.com or mobile.twitter.com
(``www.`` allowed), with or without a query string or fragment. Usernames are validated by
:func:`nostrweet.cache.layout.normalize_username`.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from nostrweet.errors import InputError

_ID_RE = re.compile(r"[1-9][0-9]{0,19}")
_HOSTS = frozenset(
    {"twitter.com", "www.twitter.com", "mobile.twitter.com", "x.com", "www.x.com", "mobile.x.com"}
)
# /<username>/status/<id>, /<username>/statuses/<id>, /i/web/status/<id>, /i/status/<id>,
# optionally followed by /photo/1, /video/1, /analytics ... (ignored).
_PATH_RE = re.compile(
    r"^/(?:[A-Za-z0-9_]{1,15}|i(?:/web)?)/status(?:es)?/([0-9]{1,20})(?:/[A-Za-z0-9_/]*)?/?$"
)
_MAX_ID = 2**63 - 1
"""X ids are signed 64-bit numbers; a larger one is no tweet (and would not fit the state's integers)."""


def _check_id(text: str, raw: str) -> str:
    if not _ID_RE.fullmatch(text):
        raise InputError(f"invalid tweet id or URL {raw!r}: give a numeric id or an x.com status URL")
    if int(text) > _MAX_ID:
        raise InputError(f"invalid tweet id {text}: X ids are below 2^63")
    return text


def parse_tweet_ref(text: str) -> str:
    """The tweet id (decimal string) of a numeric id or a status URL; InputError otherwise."""
    raw = text
    text = text.strip()
    if text.isascii() and text.isdigit():
        return _check_id(text, raw)
    candidate = text if "://" in text else f"https://{text}"
    try:
        parts = urlsplit(candidate)
        host = (parts.hostname or "").lower()
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        raise InputError(f"invalid tweet id or URL {raw!r}: not a URL") from None
    if parts.scheme.lower() not in ("http", "https") or host not in _HOSTS:
        raise InputError(f"invalid tweet id or URL {raw!r}: give a numeric id or an x.com status URL")
    match = _PATH_RE.fullmatch(parts.path)
    if match is None:
        raise InputError(f"invalid tweet URL {raw!r}: expected https://x.com/<user>/status/<id>")
    return _check_id(match.group(1), raw)
