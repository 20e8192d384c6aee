"""A local HTTP receiver for Apprise's ``json://`` alerts: records every POSTed JSON body.

``AlertReceiver().url("hook")`` is the Apprise URL to give the daemon; ``messages`` holds what arrived
(Apprise's JSON: ``title``, ``message``, ``type`` = ``failure`` / ``success`` / …). ``status`` sets the
HTTP status it answers (500 makes a failing target); ``hold`` makes a slow one: a POST is answered
(and recorded) only once that event is set.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


class AlertReceiver:
    """A ThreadingHTTPServer on 127.0.0.1 that keeps the JSON bodies it gets."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.status = 200
        self.hold: threading.Event | None = None
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if receiver.hold is not None:
                    receiver.hold.wait(60)
                with receiver.lock:
                    receiver.paths.append(self.path)
                    try:
                        receiver.messages.append(json.loads(body))
                    except ValueError:
                        receiver.messages.append({"raw": body.decode("utf-8", "replace")})
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str = "hook") -> str:
        """The Apprise URL of this receiver."""
        return f"json://127.0.0.1:{self.port}/{path}"

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float) -> bool:
        """Poll until ``predicate(messages)`` holds or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if predicate(list(self.messages)):
                    return True
            time.sleep(0.1)
        with self.lock:
            return predicate(list(self.messages))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def alert_receiver() -> Iterator[AlertReceiver]:
    """A json:// alert receiver on a free port."""
    receiver = AlertReceiver()
    yield receiver
    receiver.close()
