"""Which file to download for a media object, as pure functions.

- photo: the original size (``name=orig`` in the query string, replacing any other size);
- video and animated_gif: the ``video/mp4`` variant with the highest bit rate (never the m3u8);
  without an mp4 variant nothing is downloaded.
The extension comes from the URL's path (or its ``format=`` parameter) and is lower-case.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_KNOWN_EXT = {"jpg", "jpeg", "png", "gif", "webp", "mp4", "mov", "m4v"}


@dataclass(frozen=True, slots=True)
class MediaChoice:
    """The URL to download for one media object, and the file extension to store it with."""

    url: str
    ext: str


def original_photo_url(url: str) -> str:
    """The original-size form of a pbs.twimg.com photo URL: ``name=orig``, other params kept."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "name"]
    query.append(("name", "orig"))
    return urlunsplit(parts._replace(query=urlencode(query)))


def url_extension(url: str, default: str) -> str:
    """The file extension of a media URL (path suffix, else ``format=``), else ``default``."""
    parts = urlsplit(url)
    last = parts.path.rsplit("/", 1)[-1]
    if "." in last:
        ext = last.rsplit(".", 1)[1].lower()
        if ext in _KNOWN_EXT:
            return "jpg" if ext == "jpeg" else ext
    fmt = dict(parse_qsl(parts.query)).get("format", "").lower()
    if fmt in _KNOWN_EXT:
        return "jpg" if fmt == "jpeg" else fmt
    return default


def best_mp4_variant(variants: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The ``video/mp4`` variant with the highest bit rate (a missing bit rate counts as 0)."""
    mp4 = [v for v in variants if v.get("content_type") == "video/mp4" and v.get("url")]
    if not mp4:
        return None
    return max(mp4, key=lambda v: int(v.get("bit_rate") or 0))


def choose_download(media: dict[str, Any]) -> MediaChoice | None:
    """What to download for a raw media object, or None when nothing suitable is offered."""
    kind = media.get("type")
    if kind == "photo":
        url = media.get("url")
        if not url:
            return None
        return MediaChoice(original_photo_url(url), url_extension(url, "jpg"))
    if kind in ("video", "animated_gif"):
        best = best_mp4_variant([v for v in media.get("variants") or [] if isinstance(v, dict)])
        if best is None:
            return None
        return MediaChoice(str(best["url"]), "mp4")
    return None
