"""A small BUD-01/02 Blossom server for tests (aiohttp in a background thread).

GET/HEAD /<sha256>[.ext], PUT /upload (checks the kind 24242 authorization: id and signature, kind,
``t=upload``, ``x`` equal to the body's sha256, expiration in the future; padded or unpadded base64),
DELETE /<sha256>, GET /list/<pubkey>. It records every upload and every auth event it saw.
``failing=True`` answers 500 to every upload. ``hostile`` stores the blob but answers a descriptor that
must not be trusted: ``"huge"`` (8 MiB of padding), ``"foreign_url"`` (a URL on another host),
``"wrong_path"`` (a URL on this server that does not name the blob), ``"wrong_sha"`` (another sha256).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from nostrweet.nostr.event import SignedEvent, verify_event
from tests.fakes.nostr_relay_proc import free_port

EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "video/mp4": ".mp4"}


def decode_auth(header: str | None) -> SignedEvent:
    """Parse ``Nostr <base64>`` (padded or not) into an event; ValueError with a reason otherwise."""
    if not header or not header.startswith("Nostr "):
        raise ValueError("missing Nostr authorization")
    text = header[len("Nostr ") :].strip()
    text += "=" * (-len(text) % 4)
    try:
        raw = base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError):
        raise ValueError("authorization is not base64") from None
    try:
        return SignedEvent.from_dict(json.loads(raw))
    except Exception:
        raise ValueError("authorization is not a valid event") from None


def check_upload_auth(event: SignedEvent, sha256: str, now: int) -> None:
    """BUD-02 checks; ValueError with the reason."""
    if not verify_event(event):
        raise ValueError("bad event signature")
    if event.kind != 24242:
        raise ValueError("auth event must be kind 24242")
    tags = {t[0]: t[1] for t in event.tags if len(t) >= 2}
    if ("t", "upload") not in [(t[0], t[1]) for t in event.tags if len(t) >= 2]:
        raise ValueError("auth event lacks t=upload")
    if sha256 not in [t[1] for t in event.tags if len(t) >= 2 and t[0] == "x"]:
        raise ValueError("auth event x tag does not match the blob")
    expiration = tags.get("expiration")
    if expiration is None or not expiration.isdigit() or int(expiration) <= now:
        raise ValueError("auth event expired")
    if event.created_at > now + 60:
        raise ValueError("auth event is in the future")


@dataclass
class Blob:
    data: bytes
    mime: str
    uploader: str
    uploaded: int


@dataclass
class BlossomServer:
    """The test server; ``url`` is its base URL once started."""

    failing: bool = False
    hostile: str | None = None
    port: int = field(default_factory=free_port)
    blobs: dict[str, Blob] = field(default_factory=dict)
    auth_events: list[SignedEvent] = field(default_factory=list)
    rejections: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _descriptor(self, sha: str, blob: Blob) -> dict[str, Any]:
        ext = EXTENSIONS.get(blob.mime, "")
        return {
            "url": f"{self.url}/{sha}{ext}",
            "sha256": sha,
            "size": len(blob.data),
            "type": blob.mime,
            "uploaded": blob.uploaded,
        }

    def _refuse(self, status: int, reason: str) -> web.Response:
        self.rejections.append(reason)
        return web.Response(status=status, text=reason, headers={"X-Reason": reason})

    async def _upload(self, request: web.Request) -> web.Response:
        if self.failing:
            return self._refuse(500, "server is failing on purpose")
        data = await request.read()
        sha = hashlib.sha256(data).hexdigest()
        try:
            event = decode_auth(request.headers.get("Authorization"))
            self.auth_events.append(event)
            check_upload_auth(event, sha, int(time.time()))
        except ValueError as exc:
            return self._refuse(401, str(exc))
        mime = request.headers.get("Content-Type", "application/octet-stream")
        blob = self.blobs.get(sha) or Blob(data, mime, event.pubkey, int(time.time()))
        self.blobs[sha] = blob
        answer = self._descriptor(sha, blob)
        if self.hostile == "huge":
            answer["padding"] = "x" * (8 * 2**20)
        elif self.hostile == "foreign_url":
            answer["url"] = "https://evil.example.net/tracker.gif"
        elif self.hostile == "wrong_path":
            answer["url"] = f"{self.url}/tracker.gif"
        elif self.hostile == "wrong_sha":
            answer["sha256"] = hashlib.sha256(b"other").hexdigest()
        return web.json_response(answer)

    def _find(self, request: web.Request) -> tuple[str, Blob] | None:
        name = request.match_info["name"]
        sha = name.split(".", 1)[0].lower()
        blob = self.blobs.get(sha)
        return (sha, blob) if blob else None

    async def _get(self, request: web.Request) -> web.StreamResponse:
        found = self._find(request)
        if found is None:
            return self._refuse(404, "blob not found")
        _sha, blob = found
        # aiohttp sends no body for HEAD but keeps the Content-Length of the body
        return web.Response(body=blob.data, content_type=blob.mime)

    async def _delete(self, request: web.Request) -> web.Response:
        found = self._find(request)
        if found is None:
            return self._refuse(404, "blob not found")
        del self.blobs[found[0]]
        return web.Response(status=200)

    async def _list(self, request: web.Request) -> web.Response:
        pubkey = request.match_info["pubkey"]
        items = [self._descriptor(s, b) for s, b in self.blobs.items() if b.uploader == pubkey]
        return web.json_response(items)

    def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_put("/upload", self._upload)
        app.router.add_get("/list/{pubkey}", self._list)
        app.router.add_get("/{name}", self._get, allow_head=False)
        app.router.add_route("HEAD", "/{name}", self._get)
        app.router.add_delete("/{name}", self._delete)

        async def setup() -> None:
            self._runner = web.AppRunner(app)
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="blossom")
        self._thread.start()
        asyncio.run_coroutine_threadsafe(setup(), self._loop).result(10)

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._runner = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)
