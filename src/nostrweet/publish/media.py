"""Blossom uploads of cached media, and the media links a note is built with.

For each media item of a tweet, the cached file ``<username>_<tweetid>_<n>.<ext>`` (n = position in
``attachments.media_keys``) is uploaded to every configured Blossom server (BUD-02, kind 24242 auth
signed by the tweet author's mirror key). The note uses the first server's URL (in configured order)
that succeeded; the imeta fallbacks list the other servers' URLs, then the original URL. A failed
upload never blocks the post: with no success the note keeps the original URL.

The imeta ``x`` (SHA-256) is there whenever the media file was downloaded (SPEC §4), with or without
Blossom: the hash is read here, at the I/O edge, from the cached file, and handed to the pure
builder in the :class:`MediaLink`. With no Blossom server (or none that took the blob) the link is
the original URL with that hash, since the original URL serves the bytes that were downloaded.

Optimisation (``[media]``, :attr:`MediaUploader.optimize`): before a Blossom upload an image is
shrunk, re-encoded and stripped of its metadata by :func:`nostrweet.shaping.media.optimize` (on a
worker thread); the imeta ``x``, ``m`` and ``dim`` then describe the uploaded file and ``ox`` the
cached original. A decompression bomb is not uploaded: the note keeps the original URL.

Upload memo: the state's ``blossom_blobs`` (:class:`~nostrweet.state.blossom.BlossomMemo`) records, per
blob, each server that holds it and the URL it gave (independent of the event records). A re-run asks no
server that the memo lists again, so nothing is uploaded twice. A server that failed is tried again on the next build
of a note that has no event record yet (a recorded event is never rebuilt, so its id never changes).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from nostrweet.bridge.media import MediaLink, choose_link, hashed_link, mime_of, original_media_link
from nostrweet.cache import layout, legacy
from nostrweet.nostr.keys import MirrorKey
from nostrweet.publish.outcome import LruDict
from nostrweet.shaping.media_settings import MediaSettings
from nostrweet.state.blossom import BlobCopy, BlossomMemo
from nostrweet.store import CacheStore
from nostrweet.twitter.models import TweetDocument

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

_EXTENSIONS = ("jpg", "png", "mp4", "gif", "webp", "mov", "m4v", "jpeg", "webm")
"""The extensions the archiver stores media with, most common first (tried before a scan)."""


class MediaResult(msgspec.Struct):
    """What the uploads of one note gave: the links by media key, and whether anything was uploaded."""

    links: dict[str, MediaLink]
    uploaded_any: bool


class MediaUploader:
    """Uploads cached media to the Blossom servers, with an on-disk memo so nothing is sent twice."""

    def __init__(
        self,
        store: CacheStore,
        servers: Sequence[str],
        http: httpx.AsyncClient | None,
        *,
        clock: Callable[[], float] = time.time,
        cache_size: int = 1024,
    ) -> None:
        self.store = store
        self.servers = list(servers)
        self._http = http
        self._own_http = False
        self.clock = clock
        self._by_tweet: LruDict[tuple[int, int], str] = LruDict(cache_size)
        self.optimize: MediaSettings | None = None
        """``[media]``: how images are optimised before a Blossom upload (None: uploaded as cached)."""
        self.scans = 0
        """Lookups of a tweet's owner in the state (the author's own names did not answer)."""

    async def aclose(self) -> None:
        """Close the HTTP client if this uploader created it."""
        if self._own_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            import httpx  # only when there is media to upload

            self._http = httpx.AsyncClient(timeout=60.0)
            self._own_http = True
        return self._http

    def media_file(self, tweet_id: str, n: int, username: str | None = None) -> str | None:
        """The cached media file name of item ``n`` of a tweet, if any, without listing the cache.

        The name follows from the document (docs/CACHE.md): ``<username>_<tweetid>_<n>.<ext>``, tried
        with the author's ``username``, then (when that finds nothing) with the owner of the tweet's
        file in the state (a renamed author), one stat per extension. A bounded LRU keeps recent answers.
        """
        key = (int(tweet_id), n)
        found = self._by_tweet.hit(key)
        if found is not None:
            return found
        if username is not None and (name := self._stat_names(username, key)) is not None:
            return name
        self.scans += 1
        owner = self.store.tweet_owner(key[0])
        if owner is None or owner == username:
            return None
        return self._stat_names(owner, key)

    def _stat_names(self, username: str, key: tuple[int, int]) -> str | None:
        for ext in _EXTENSIONS:
            try:
                name = layout.media_filename(username, key[0], key[1], ext)
            except ValueError:
                return None
            if self.store.has_media(name):
                self._by_tweet[key] = name
                return name
        return None

    def legacy_media_file(self, media_key: str, username: str) -> str | None:
        """The earlier tool's file of a media item (``<username>_<media key suffix>.<jpg|mp4>``), if there
        (SPEC §11); one stat per extension it used."""
        for name in legacy.media_names(username, media_key):
            if (self.store.data_dir / name).is_file():
                return name
        return None

    def _memo(self, sha256: str) -> dict[str, str]:
        return BlossomMemo(self.store.state).servers_of(sha256)

    def _save_memo(self, sha256: str, size: int, mime: str, servers: dict[str, str]) -> None:
        BlossomMemo(self.store.state).remember(
            BlobCopy(sha256, server, url, size, mime) for server, url in servers.items()
        )

    async def links_for(self, doc: TweetDocument, key: MirrorKey) -> MediaResult:
        """Upload the media of ``doc`` (the tweet itself, not its references) and return its links.

        Every media item with a cached file gets a link carrying the file's SHA-256; with no Blossom
        server nothing is uploaded and the link is the original URL with that hash.
        """
        result = MediaResult({}, False)
        attachments = doc.data.attachments
        if attachments is None:
            return result
        author = doc.author()
        username = author.username if author is not None else None
        for n, media_key in enumerate(attachments.media_keys):
            media = doc.media(media_key)
            name = self.media_file(doc.data.id, n, username)
            if name is None and username is not None and doc.nostrweet.source == legacy.SOURCE:
                name = self.legacy_media_file(media_key, username)
            if media is None or name is None:
                continue
            link, uploaded = await self._upload_one(
                self.store.data_dir / name, original_media_link(media), key
            )
            if link is not None:
                result.links[media_key] = link
            result.uploaded_any = result.uploaded_any or uploaded
        return result

    async def _upload_one(
        self, path: Path, original: MediaLink, key: MirrorKey
    ) -> tuple[MediaLink | None, bool]:
        if not self.servers:
            if not original.url:
                return None, False
            try:
                small = _small_file_sha256(path)
                digest = small if small is not None else await asyncio.to_thread(_file_sha256, path)
            except OSError as exc:
                log.warning("cannot read media file %s: %s", path.name, exc.__class__.__name__)
                return None, False
            return hashed_link(original, digest), False
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except OSError as exc:
            log.warning("cannot read media file %s: %s", path.name, exc.__class__.__name__)
            return None, False
        sha256 = hashlib.sha256(data).hexdigest()
        mime = mime_of(path.suffix)
        original_sha256: str | None = None
        dim: tuple[int, int] | None = None
        if self.optimize is not None:
            from nostrweet.shaping.media import MediaRefused, optimize  # Pillow loads only when asked

            try:
                better = await asyncio.to_thread(optimize, data, mime, self.optimize)
            except MediaRefused as exc:
                log.warning("media file %s not uploaded: %s", path.name, exc)
                return (hashed_link(original, sha256) if original.url else None), False
            if better.changed:
                original_sha256, data, mime = sha256, better.data, better.mime
                sha256 = hashlib.sha256(data).hexdigest()
                dim = better.dim
        held = self._memo(sha256)
        missing = [s for s in self.servers if s not in held]
        uploaded = False
        if missing:
            from nostrweet.nostr import blossom  # only when there is something to upload

            results = await blossom.upload_everywhere(
                self._client(), missing, data, mime, key, now=int(self.clock())
            )
            for server, res in zip(missing, results, strict=True):
                if isinstance(res, BaseException):
                    log.warning("Blossom upload of %s to %s failed: %s", path.name, server, res)
                    continue
                held[server] = res.url
                uploaded = True
            if uploaded:
                self._save_memo(sha256, len(data), mime, held)
        link = choose_link(self.servers, held, original, sha256=sha256, mime=mime)
        if link is not None and original_sha256 is not None:
            link = msgspec.structs.replace(link, original_sha256=original_sha256, dim=dim or link.dim)
        if link is None and original.url:
            link = hashed_link(original, original_sha256 or sha256)  # X's URL serves the cached file
        return link, uploaded or bool(held)


INLINE_HASH_BYTES = 1 << 20
"""A media file up to this size is hashed on the loop: that takes less than the hop to a thread."""


def _small_file_sha256(path: Path) -> str | None:
    """The SHA-256 of a media file up to INLINE_HASH_BYTES (None for a larger one)."""
    with path.open("rb") as handle:
        if os.fstat(handle.fileno()).st_size > INLINE_HASH_BYTES:
            return None
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
