"""PURE: every choice made about an X media object, in one place (SPEC §2 media files, §4 imeta).

- what to **download** for a media object (:func:`choose_download`): a photo at its original size
  (``name=orig``), a video or GIF as its ``video/mp4`` variant with the highest bit rate (never the
  m3u8); without an mp4 variant nothing is downloaded. The file extension comes from the URL's path
  (or its ``format=`` parameter);
- which URL a note **links** when nothing was uploaded (:func:`original_media_link`): the same mp4
  variant, else the media URL (a ``pbs.twimg.com`` photo at ``name=orig``) or the preview image;
- which **Blossom copy** a note uses (:func:`choose_link`): the first configured server that holds the
  blob, the others and the original URL as fallbacks; :func:`hashed_link` is the original link carrying
  the hash of the downloaded bytes.

The rule for "the best variant" is :func:`best_mp4` and nothing else decides it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import msgspec

from nostrweet.twitter.models import Media, Variant

__all__ = [
    "MediaChoice",
    "MediaLink",
    "best_mp4",
    "choose_download",
    "choose_link",
    "hashed_link",
    "link_mime",
    "mime_of",
    "original_media_link",
    "original_photo_url",
    "url_extension",
]

_LINK_MIME = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "mp4": "video/mp4",
}
"""The MIME types a link's ``m`` is read from its URL with (an other extension gives no ``m``)."""
_FILE_MIME = {**_LINK_MIME, "mov": "video/quicktime", "webm": "video/webm"}
"""The MIME types of cached media files, by extension (what a Blossom upload is sent as)."""
_DOWNLOAD_EXT = {"jpg", "jpeg", "png", "gif", "webp", "mp4", "mov", "m4v"}


class MediaLink(msgspec.Struct, frozen=True, gc=False):
    """How one media item appears in the note."""

    url: str  # URL in the content and in imeta "url" (Blossom URL or the original)
    mime: str | None = None
    sha256: str | None = None
    dim: tuple[int, int] | None = None
    alt: str | None = None
    fallbacks: tuple[str, ...] = ()  # other Blossom URLs, then the original URL
    original_sha256: str | None = None  # imeta "ox": the file before optimisation, when it was changed


class MediaChoice(msgspec.Struct, frozen=True, gc=False):
    """The URL to download for one media object, and the file extension to store it with."""

    url: str
    ext: str


def best_mp4(variants: Sequence[Variant]) -> Variant | None:
    """The ``video/mp4`` variant with a URL and the highest bit rate (none counts as 0; the first of
    equals), or None."""
    best: Variant | None = None
    for variant in variants:
        if (
            variant.url
            and variant.content_type == "video/mp4"
            and (best is None or (variant.bit_rate or 0) > (best.bit_rate or 0))
        ):
            best = variant
    return best


def original_photo_url(url: str) -> str:
    """A photo URL at its original size: ``name=orig`` replaces any other size, other parameters kept
    (a fragment, which never reaches the server, is dropped)."""
    if "?" not in url and "#" not in url:  # the usual form: no query to merge
        return url + "?name=orig"
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "name"]
    query.append(("name", "orig"))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def url_extension(url: str, default: str) -> str:
    """The file extension of a media URL (path suffix, else ``format=``), lower-case, else ``default``."""
    parts = urlsplit(url)
    last = parts.path.rsplit("/", 1)[-1]
    if "." in last:
        ext = last.rsplit(".", 1)[1].lower()
        if ext in _DOWNLOAD_EXT:
            return "jpg" if ext == "jpeg" else ext
    fmt = dict(parse_qsl(parts.query)).get("format", "").lower()
    if fmt in _DOWNLOAD_EXT:
        return "jpg" if fmt == "jpeg" else fmt
    return default


def choose_download(media: Media) -> MediaChoice | None:
    """What to download for a media object, or None when nothing suitable is offered."""
    if media.type == "photo":
        if not media.url:
            return None
        return MediaChoice(original_photo_url(media.url), url_extension(media.url, "jpg"))
    if media.type in ("video", "animated_gif"):
        best = best_mp4(media.variants)
        return MediaChoice(best.url, "mp4") if best is not None else None
    return None


def link_mime(url: str) -> str | None:
    """The MIME type a link's URL names by its path's extension (query and fragment ignored), or None."""
    path = url.split("#", 1)[0].split("?", 1)[0]
    if "://" in path:
        path = path.split("://", 1)[1]
    last = path.rsplit("/", 1)[-1] if "/" in path else ""
    ext = last.rsplit(".", 1)[-1].lower() if "." in last else ""
    return _LINK_MIME.get(ext)


def mime_of(ext: str) -> str:
    """MIME type of a cached media file's extension (``application/octet-stream`` if unknown)."""
    return _FILE_MIME.get(ext.lower().lstrip("."), "application/octet-stream")


def original_media_link(media: Media) -> MediaLink:
    """The media item at its original URL: a video/GIF's :func:`best_mp4`, else the media URL (a
    ``pbs.twimg.com`` photo at ``name=orig``) or its preview image. ``url`` is "" when the API gave none."""
    dim = (media.width, media.height) if media.width and media.height else None
    alt = media.alt_text or None
    if media.type != "photo":
        best = best_mp4(media.variants)
        if best is not None:
            return MediaLink(url=best.url, mime="video/mp4", dim=dim, alt=alt)
    url = media.url or media.preview_image_url or ""
    if not url:
        return MediaLink(url="", dim=dim, alt=alt)
    if media.type == "photo" and url.startswith(("https://pbs.twimg.com/", "http://pbs.twimg.com/")):
        url = original_photo_url(url)
    return MediaLink(url=url, mime=link_mime(url), dim=dim, alt=alt)


def choose_link(
    servers: Sequence[str],
    uploaded: Mapping[str, str],
    original: MediaLink,
    *,
    sha256: str,
    mime: str,
) -> MediaLink | None:
    """The media link from upload results (server -> blob URL); None when no server holds the blob.

    The first configured server that holds the blob gives the URL; the others, then the original URL,
    are the fallbacks.
    """
    urls = [uploaded[s] for s in servers if s in uploaded]
    if not urls:
        return None
    return MediaLink(
        url=urls[0],
        mime=mime,
        sha256=sha256,
        dim=original.dim,
        alt=original.alt,
        fallbacks=(*urls[1:], original.url),
    )


def hashed_link(original: MediaLink, sha256: str) -> MediaLink:
    """The original link, carrying the SHA-256 of the downloaded bytes."""
    return msgspec.structs.replace(original, sha256=sha256)
