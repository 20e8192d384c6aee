"""Streaming a media file from X's media hosts into the cache: atomic, size-capped, retried, tokenless.

Uses the :class:`~nostrweet.twitter.session.ApiSession`'s HTTP client and backoff, but never its
bearer token (that is only added to API requests). Only URLs that :mod:`.media_policy` allows are
fetched; redirects are followed by hand, each hop checked against the same rule; only an image or
video answer is stored; a download takes at most ``time_limit`` seconds in all, however slowly the
server sends. A media file that cannot be had is a warning and False, never an exception, so one bad
file never stops the tweets around it.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urljoin

import httpx

from nostrweet.cache.atomic import atomic_file
from nostrweet.twitter.media_policy import MAX_REDIRECTS, acceptable_content_type, refusal
from nostrweet.twitter.session import ApiSession

# The records keep the logger name they had before this module was split out of the client.
log = logging.getLogger("nostrweet.twitter.client")

DOWNLOAD_TIME_LIMIT = 120.0
"""Seconds one download attempt may take in all (connect, redirects and every read together)."""


class _RetryableStatus(Exception):
    pass


class _Refused(Exception):
    pass


async def download(
    session: ApiSession,
    url: str,
    dest: Path,
    *,
    max_bytes: int,
    time_limit: float = DOWNLOAD_TIME_LIMIT,
) -> bool:
    """Stream ``url`` to ``dest`` atomically (temp file, fsync, rename), without the API token.

    True when ``dest`` is in place (already there, or downloaded). False, with a warning, when the
    media cannot be had: a URL or redirect the media policy refuses, a 4xx answer, a content type
    that is not image or video, more than ``max_bytes``, more than ``time_limit`` seconds, or
    transient errors (network, 5xx, 429) that persist over the session's retries.
    """
    if _exists(dest):
        return True
    failures = 0
    while True:
        try:
            async with asyncio.timeout(time_limit):
                return await _download_once(session, url, dest, max_bytes)
        except _Refused as exc:
            log.warning("media not downloaded (%s): %s", exc, url)
            return False
        except TimeoutError:
            log.warning("media download took longer than %g s, skipped: %s", time_limit, url)
            return False
        except (httpx.TransportError, _RetryableStatus) as exc:
            failures += 1
            if failures >= session.max_tries:
                log.warning(
                    "media download failed after %d tries, skipped: %s (%s)",
                    failures,
                    url,
                    exc.__class__.__name__ if isinstance(exc, httpx.TransportError) else exc,
                )
                return False
            await session.sleep(session.backoff_delay(failures - 1))


async def _download_once(session: ApiSession, url: str, dest: Path, max_bytes: int) -> bool:
    http = session.http
    for _hop in range(MAX_REDIRECTS + 1):
        reason = refusal(url, session.api_url)
        if reason is not None:
            raise _Refused(reason)
        async with http.stream("GET", url, follow_redirects=False) as response:
            if response.is_redirect:
                location = response.headers.get("location")
                if not location:
                    raise _Refused(f"HTTP {response.status_code} without a Location")
                url = urljoin(url, location)
                continue
            if response.status_code >= 500 or response.status_code == 429:
                raise _RetryableStatus(f"HTTP {response.status_code}")
            if response.status_code >= 400:
                log.warning("media not available (HTTP %d): %s", response.status_code, url)
                return False
            content_type = response.headers.get("content-type")
            if not acceptable_content_type(content_type):
                raise _Refused(f"content type {content_type or 'missing'} is not image or video")
            length = response.headers.get("content-length")
            if length and length.isdigit() and int(length) > max_bytes:
                log.warning("media larger than %d bytes, skipped: %s", max_bytes, url)
                return False
            try:
                with atomic_file(dest) as handle:  # an exception (or a timeout) leaves no file
                    await _stream_to(response, handle, max_bytes)
            except _TooLarge:
                log.warning("media larger than %d bytes, skipped: %s", max_bytes, url)
                return False
        return True
    raise _Refused(f"more than {MAX_REDIRECTS} redirects")


class _TooLarge(Exception):
    pass


async def _stream_to(response: httpx.Response, handle: BinaryIO, max_bytes: int) -> None:
    size = 0
    # Chunks are small; a blocking write of each is cheaper than a thread hop.
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise _TooLarge
        handle.write(chunk)


def _exists(path: Path) -> bool:
    return path.exists()
