"""Blossom client (BUD-01/02/03): kind 24242 upload authorization and ``PUT /upload``.

Pure parts (:func:`build_upload_auth`, :func:`auth_header`, :func:`parse_descriptor`) and a thin async
shell over httpx (:func:`upload_blob`, :func:`upload_everywhere`). A failed upload is an exception in the
result list, never a blocked post: the caller falls back to the original media URL.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from nostrweet.errors import OperationalError
from nostrweet.nostr.event import SignedEvent, UnsignedEvent, sign_event
from nostrweet.nostr.keys import MirrorKey

AUTH_KIND = 24242
DEFAULT_TTL = 300


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
        response = await http.put(f"{base}/upload", content=data, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise BlossomError(f"{base}: upload failed: {exc.__class__.__name__}") from None
    if response.status_code not in (200, 201):
        reason = response.headers.get("X-Reason") or response.text[:200].strip() or response.reason_phrase
        raise BlossomError(f"{base}: upload refused with HTTP {response.status_code}: {reason}")
    try:
        payload = response.json()
    except ValueError:
        raise BlossomError(f"{base}: the upload answer is not JSON") from None
    return parse_descriptor(base, payload, digest, len(data))


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
