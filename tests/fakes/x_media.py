"""Deterministic media bytes for the fake X API: small, with the right magic header and type."""

from __future__ import annotations

import hashlib
import struct
import zlib

CONTENT_TYPES = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "mp4": "video/mp4",
    "m3u8": "application/x-mpegURL",
}


def media_kind(path: str, format_param: str | None = None) -> str:
    """The file kind: the `format=` query wins (pbs.twimg.com style), else the path's extension."""
    if format_param:
        return format_param.lower()
    last = path.rsplit("/", 1)[-1]
    ext = last.rsplit(".", 1)[-1].lower() if "." in last else "jpg"
    return ext if ext in CONTENT_TYPES else "jpg"


def _filler(seed: str, size: int) -> bytes:
    out = b""
    block = hashlib.sha256(seed.encode()).digest()
    while len(out) < size:
        out += block
        block = hashlib.sha256(block).digest()
    return out[:size]


def _png(seed: str) -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" + _filler(seed, 1))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"tEXt", b"seed\x00" + seed.encode())
        + (chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    )


def media_body(host: str, path: str, format_param: str | None, base_url: str) -> tuple[bytes, str]:
    """(bytes, content type) for a media path; the same path always gives the same bytes."""
    kind = media_kind(path, format_param)
    seed = f"{host}/{path}"
    if kind == "png":
        return _png(seed), CONTENT_TYPES["png"]
    if kind == "gif":
        body = b"GIF89a\x01\x00\x01\x00\x00\x00\x00" + _filler(seed, 512) + b";"
        return body, CONTENT_TYPES["gif"]
    if kind == "mp4":
        ftyp = struct.pack(">I", 24) + b"ftypmp42" + struct.pack(">I", 0) + b"mp42isom"
        mdat = _filler(seed, 4096)
        return ftyp + struct.pack(">I", len(mdat) + 8) + b"mdat" + mdat, CONTENT_TYPES["mp4"]
    if kind == "m3u8":
        stem = path.rsplit("/", 1)[0]
        text = (
            "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n"
            '#EXT-X-STREAM-INF:BANDWIDTH=256000,RESOLUTION=480x270,CODECS="avc1.4d001e"\n'
            f"{base_url}/media/{host}/{stem}/480x270/playlist.mp4\n"
        )
        return text.encode(), CONTENT_TYPES["m3u8"]
    if kind == "webp":
        data = b"WEBP" + _filler(seed, 1024)
        return b"RIFF" + struct.pack("<I", len(data)) + data, CONTENT_TYPES["webp"]
    body = (
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        + _filler(seed, 2048)
        + b"\xff\xd9"
    )
    return body, CONTENT_TYPES["jpg"]
