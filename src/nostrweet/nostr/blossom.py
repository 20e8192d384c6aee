"""Blossom client (BUD-01/02/03): kind 24242 upload authorization and ``PUT /upload``.

Pure parts (:func:`build_upload_auth`, :func:`auth_header`, :func:`parse_descriptor`) and a thin async
shell over httpx (:func:`upload_blob`, :func:`upload_everywhere`). A failed upload is an exception in the
result list, never a blocked post: the caller falls back to the original media URL.

A server's answer is not trusted (issue 14): at most :data:`MAX_ANSWER_BYTES` of it are read (a bigger
one is a failed upload), and the descriptor's ``url`` must be http(s) on the server's own origin
(scheme, host and port as configured) and name the uploaded blob by its sha256 (BUD-02), and its
``sha256`` and ``size`` must be those of the bytes sent.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from nostrweet.errors import OperationalError
from nostrweet.nostr.event import SignedEvent, UnsignedEvent, sign_event
from nostrweet.nostr.keys import MirrorKey
from nostrweet.values import http_origin

AUTH_KIND = 24242
DEFAULT_TTL = 300
MAX_ANSWER_BYTES = 64 * 1024
"""The most of a Blossom server's upload answer that is read; a blob descriptor is a few hundred bytes."""


class BlossomError(OperationalError):
    """A Blossom server refused or failed an upload, or answered something we cannot trust."""


@dataclass(frozen=True)
class BlobDescriptor:
    """BUD-02 blob descriptor returned by a server."""

    server: str
    url: str
    sha256: str
    size: int
    type: str | None = None
    uploaded: int | None = None


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256 of the bytes."""
    return hashlib.sha256(data).hexdigest()


def build_upload_auth(
    key: MirrorKey, sha256: str, now: int, ttl: int = DEFAULT_TTL, name: str | None = None
) -> SignedEvent:
    """A signed kind 24242 event allowing the upload of the blob with this hash until ``now + ttl``."""
    unsigned = UnsignedEvent(
        pubkey=key.pubkey_hex,
        created_at=now,
        kind=AUTH_KIND,
        tags=(("t", "upload"), ("x", sha256), ("expiration", str(now + ttl))),
        content=f"Upload {name or sha256}",
    )
    return sign_event(unsigned, key)


def auth_header(event: SignedEvent) -> str:
    """The ``Authorization`` header value: ``Nostr <base64 of the event JSON>``."""
    return "Nostr " + base64.b64encode(event.to_json().encode("utf-8")).decode("ascii")


def blob_url_ok(server: str, url: str, sha256: str) -> bool:
    """True when ``url`` is http(s) on ``server``'s own origin and its path names the blob's sha256."""
    origin = http_origin(url)
    if origin is None or origin != http_origin(server):
        return False
    if any(c in url for c in "\r\n\t "):
        return False
    return sha256 in urlsplit(url).path.lower()


def parse_descriptor(server: str, payload: Any, expected_sha256: str, expected_size: int) -> BlobDescriptor:
    """Check a BUD-02 descriptor against what was sent; BlossomError if it does not match."""
    if not isinstance(payload, dict):
        raise BlossomError(f"{server}: the upload answer is not a blob descriptor")
    url, sha, size = payload.get("url"), payload.get("sha256"), payload.get("size")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise BlossomError(f"{server}: the blob descriptor has no usable url")
    if not isinstance(sha, str) or sha.lower() != expected_sha256:
        raise BlossomError(f"{server}: the server's sha256 {sha!r} does not match the uploaded blob")
    if isinstance(size, bool) or not isinstance(size, int) or size != expected_size:
        raise BlossomError(f"{server}: the server's size {size!r} does not match {expected_size}")
    if not blob_url_ok(server, url, expected_sha256):
        raise BlossomError(
            f"{server}: the blob descriptor's url is not on this server or does not name the blob"
        )
    mime = payload.get("type")
    uploaded = payload.get("uploaded")
    return BlobDescriptor(
        server=server,
        url=url,
        sha256=expected_sha256,
        size=size,
        type=mime if isinstance(mime, str) else None,
        uploaded=uploaded if isinstance(uploaded, int) and not isinstance(uploaded, bool) else None,
    )


async def upload_blob(
    http: httpx.AsyncClient,
    server: str,
    data: bytes,
    mime: str,
    key: MirrorKey,
    *,
    now: int,
    timeout: float = 60,  # noqa: ASYNC109 - passed to httpx per request
) -> BlobDescriptor:
    """``PUT <server>/upload`` with a kind 24242 authorization; the verified descriptor or BlossomError."""
    digest = sha256_hex(data)
    event = build_upload_auth(key, digest, now)
    headers = {"Authorization": auth_header(event), "Content-Type": mime, "X-SHA-256": digest}
    base = server.rstrip("/")
    try:
        async with http.stream(
            "PUT", f"{base}/upload", content=data, headers=headers, timeout=timeout
        ) as response:
            body = await _read_bounded(response, base)
    except httpx.HTTPError as exc:
        raise BlossomError(f"{base}: upload failed: {exc.__class__.__name__}") from None
    if response.status_code not in (200, 201):
        text = body[:200].decode("utf-8", "replace").strip()
        reason = response.headers.get("X-Reason") or text or response.reason_phrase
        raise BlossomError(f"{base}: upload refused with HTTP {response.status_code}: {reason}")
    try:
        payload = json.loads(body)
    except ValueError:
        raise BlossomError(f"{base}: the upload answer is not JSON") from None
    return parse_descriptor(base, payload, digest, len(data))


async def _read_bounded(response: httpx.Response, base: str) -> bytes:
    """The answer's body, or BlossomError once it is longer than MAX_ANSWER_BYTES (reading stops)."""
    length = response.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_ANSWER_BYTES:
        raise BlossomError(f"{base}: the upload answer is larger than {MAX_ANSWER_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise BlossomError(f"{base}: the upload answer is larger than {MAX_ANSWER_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def upload_everywhere(
    http: httpx.AsyncClient,
    servers: Sequence[str],
    data: bytes,
    mime: str,
    key: MirrorKey,
    *,
    now: int,
    timeout: float = 60,  # noqa: ASYNC109 - passed to httpx per request
) -> list[BlobDescriptor | Exception]:
    """Upload to every server at once; one descriptor or exception per server, in the servers' order."""
    results = await asyncio.gather(
        *(upload_blob(http, s, data, mime, key, now=now, timeout=timeout) for s in servers),
        return_exceptions=True,
    )
    out: list[BlobDescriptor | Exception] = []
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, Exception):
            raise result
        out.append(result)
    return out
