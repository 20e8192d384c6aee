"""Where media may be downloaded from, as pure functions (SPEC §4, issue 14).

Media and profile-image URLs come from API answers, so they are not trusted: a URL is fetched only
when it is https on one of X's media hosts (:data:`X_MEDIA_HOSTS`), or on the configured API root's
own origin (scheme, host and port; the fake X API serves media at ``<root>/media/…``). Each redirect
hop is checked against the same rule, at most :data:`MAX_REDIRECTS` hops. Only an ``image/*`` or
``video/*`` answer is stored (never a playlist such as m3u8).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from nostrweet.values import http_origin

X_MEDIA_HOSTS = frozenset({"pbs.twimg.com", "video.twimg.com", "abs.twimg.com", "ton.twimg.com"})
MAX_REDIRECTS = 5


def refusal(url: str, api_root: str) -> str | None:
    """Why ``url`` must not be fetched, or None when it may be (see the module docstring)."""
    origin = http_origin(url)
    if origin is None:
        return "not an http(s) URL"
    try:
        if urlsplit(url).username is not None:
            return "credentials in the URL"
    except ValueError:  # pragma: no cover - _origin already parsed it
        return "unreadable URL"
    scheme, host, port = origin
    if scheme == "https" and host in X_MEDIA_HOSTS and port == 443:
        return None
    root = http_origin(api_root)
    if root is not None and origin == root:
        return None
    return f"host {host} is not one of X's media hosts"


def acceptable_content_type(value: str | None) -> bool:
    """True for an ``image/*`` or ``video/*`` content type (parameters ignored)."""
    if not value:
        return False
    kind = value.split(";", 1)[0].strip().lower()
    major, _, minor = kind.partition("/")
    return major in ("image", "video") and bool(minor)
