"""Streaming a media file from X's media hosts into the cache: atomic, size-capped, retried, tokenless.

Uses the :class:`~nostrweet.twitter.session.ApiSession`'s HTTP client and backoff, but never its
bearer token (that is only added to API requests).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import httpx

from nostrweet.cache.atomic import create_private, temp_path
from nostrweet.cache.store import fsync_dir
from nostrweet.errors import TwitterApiError
from nostrweet.twitter.session import ApiSession

# The records keep the logger name they had before this module was split out of the client.
log = logging.getLogger("nostrweet.twitter.client")


class _RetryableStatus(Exception):
    pass


async def download(session: ApiSession, url: str, dest: Path, *, max_bytes: int) -> bool:
    """Stream ``url`` to ``dest`` atomically (temp file, fsync, rename), without the API token.

    True when ``dest`` is in place (already there, or downloaded). False, with a warning, when the
    media cannot be had: a 4xx answer or more than ``max_bytes``. Transient errors (network, 5xx,
    429) are retried with the session's backoff; when they persist, TwitterApiError.
    """
    if _exists(dest):
        return True
    failures = 0
    while True:
        try:
            return await _download_once(session.http, url, dest, max_bytes)
        except (httpx.TransportError, _RetryableStatus) as exc:
            failures += 1
            if failures >= session.max_tries:
                raise TwitterApiError(
                    f"media download failed after {failures} tries: {url} ({exc})"
                ) from None
            await session.sleep(session.backoff_delay(failures - 1))


async def _download_once(http: httpx.AsyncClient, url: str, dest: Path, max_bytes: int) -> bool:
    tmp = temp_path(dest)
    try:
        async with http.stream("GET", url) as response:
            if response.status_code >= 500 or response.status_code == 429:
                raise _RetryableStatus(f"HTTP {response.status_code}")
            if response.status_code >= 400:
                log.warning("media not available (HTTP %d): %s", response.status_code, url)
                return False
            length = response.headers.get("content-length")
            if length and length.isdigit() and int(length) > max_bytes:
                log.warning("media larger than %d bytes, skipped: %s", max_bytes, url)
                return False
            size = 0
            # Chunks are small; a blocking write of each is cheaper than a thread hop.
            with os.fdopen(create_private(tmp), "wb") as handle:
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        log.warning("media larger than %d bytes, skipped: %s", max_bytes, url)
                        return False
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, dest)
        fsync_dir(dest.parent)
        return True
    finally:
        tmp.unlink(missing_ok=True)


def _exists(path: Path) -> bool:
    return path.exists()
