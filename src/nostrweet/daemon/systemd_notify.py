"""sd_notify(3) with the standard library: tell systemd the daemon is ready, alive, or stopping.

Under a ``Type=notify`` unit systemd sets ``NOTIFY_SOCKET`` (a path, or ``@name`` for an abstract
socket). The daemon sends ``READY=1`` once started, ``WATCHDOG=1`` every round of its loop (the loop
wakes at least every ``--stats-interval`` and every outbox interval, so ``WatchdogSec`` must be longer
than both), and ``STOPPING=1`` when it begins to stop. Without ``NOTIFY_SOCKET`` every call is a no-op;
a send that fails is logged at debug level and never stops the daemon, and a send never waits (the
socket is non-blocking: a listener whose queue is full loses the message rather than stall the loop).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from typing import Any

log = logging.getLogger("nostrweet.daemon")


def notify_address(environ: Mapping[str, str]) -> str | None:
    """The socket address of ``NOTIFY_SOCKET`` (``@`` → the abstract namespace), or None (pure)."""
    value = environ.get("NOTIFY_SOCKET", "")
    if not value or value[0] not in "/@":
        return None
    return "\0" + value[1:] if value[0] == "@" else value


class SystemdNotifier:
    """Sends sd_notify messages to ``NOTIFY_SOCKET``; a no-op when it is not set."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.address = notify_address(os.environ if environ is None else environ)

    @property
    def enabled(self) -> bool:
        """Whether systemd listens."""
        return self.address is not None

    def notify(self, message: str) -> bool:
        """Send one message (``READY=1``, ``WATCHDOG=1``, ``STOPPING=1``, ``STATUS=…``); True if sent."""
        if self.address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.setblocking(False)  # a listener that stopped reading must not stall the loop
                sock.connect(self.address)
                sock.sendall(message.encode("utf-8"))
        except OSError as exc:
            log.debug("sd_notify %s: %s", message.split("=", 1)[0], exc.__class__.__name__)
            return False
        return True

    def ready(self, status: str = "") -> bool:
        """``READY=1`` (and a ``STATUS=`` line)."""
        return self.notify("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def stopping(self) -> bool:
        """``STOPPING=1``."""
        return self.notify("STOPPING=1")

    # the daemon loop's hook (see nostrweet.daemon.ports.LoopHook)
    def after_round(self, loop: Any) -> None:
        """``WATCHDOG=1``: the loop made one more round."""
        self.notify("WATCHDOG=1")

    def after_poll(self, user: str, error: BaseException | None) -> None:
        """Nothing per poll."""
