"""A webhook receiver as a user would write one: it checks each POST's signature with its own HMAC code,
drops repeats by the body's ``id``, and keeps what it accepted in arrival order.

``status`` sets what it answers (503 = down for a while); ``bad_signatures`` counts POSTs whose
``X-Nostrweet-Signature`` did not match, which a correct sender never causes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


class WebhookReceiver:
    """A ThreadingHTTPServer on 127.0.0.1 verifying ``sha256=<hex HMAC>`` signatures."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self.accepted: list[dict[str, Any]] = []
        self.posts = 0
        self.repeats = 0
        self.bad_signatures = 0
        self.status = 200
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                want = "sha256=" + hmac.new(receiver.secret, body, hashlib.sha256).hexdigest()
                got = self.headers.get("X-Nostrweet-Signature", "")
                with receiver.lock:
                    receiver.posts += 1
                    status = receiver.status
                    if not hmac.compare_digest(want, got):
                        receiver.bad_signatures += 1
                        status = 401
                    elif status == 200:
                        doc = json.loads(body)
                        if any(seen["id"] == doc["id"] for seen in receiver.accepted):
                            receiver.repeats += 1
                        else:
                            receiver.accepted.append(doc)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/nostrweet?token=hunter2"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A receiver whose secret is ``whsec-test``."""
    receiver = WebhookReceiver(b"whsec-test")
    yield receiver
    receiver.close()
