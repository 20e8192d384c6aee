"""Alert delivery through Apprise, off the daemon's loop (SPEC §9).

:meth:`AlertSender.send` only puts the message on a bounded queue and returns at once: the work is
never held up by an alert. One worker thread takes the messages in order and sends each to every
target with a timeout. A target that fails or does not answer in time is logged in one line, with its
URL's credentials masked, and the message is not tried again: a broken target cannot pile up retries.
When the queue is full the new message is dropped, with a warning.

Alert URLs may hold tokens and passwords (``slack://…``, ``pagerduty://…``, ``mailto://user:pass@…``):
they are registered with :func:`nostrweet.logs.register_secret` and only their masked form
(:func:`redact_url`) is ever logged.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import apprise

from nostrweet.errors import InputError
from nostrweet.logs import register_secret

log = logging.getLogger("nostrweet.alerts")

DEFAULT_TIMEOUT = 15.0
DEFAULT_QUEUE_SIZE = 100


@dataclass(frozen=True, slots=True)
class Alert:
    """One message: ``failure`` when an incident opens, else it is the resolved message."""

    title: str
    body: str
    failure: bool


def redact_url(url: str) -> str:
    """The URL with its credentials masked (Apprise's privacy form, without the query), for logs."""
    try:
        plugin: Any = apprise.Apprise.instantiate(url)
    except Exception:
        plugin = None
    scheme = url.split("://", 1)[0] if "://" in url else "?"
    if plugin is None:
        return f"{scheme}://…"
    try:
        masked = str(plugin.url(privacy=True))
    except Exception:
        return f"{scheme}://…"
    return masked.split("?", 1)[0]


def check_alert_urls(urls: Sequence[str]) -> tuple[str, ...]:
    """The URLs, each registered as a secret; InputError (exit 2) for one Apprise does not know.

    The error names the URL's position and scheme only: the rest may be a token.
    """
    out: list[str] = []
    for index, url in enumerate(urls, 1):
        url = url.strip()
        if not url:
            continue
        register_secret(url)
        quiet = logging.getLogger("apprise")
        was, quiet.disabled = quiet.disabled, True  # its own "Unparseable URL" line would be a second one
        try:
            plugin = apprise.Apprise.instantiate(url)
        except Exception:
            plugin = None
        finally:
            quiet.disabled = was
        if plugin is None:
            scheme = url.split("://", 1)[0] if "://" in url else "(none)"
            raise InputError(
                f"alert URL #{index} is not a URL Apprise can send to (scheme {scheme!r}): "
                "see https://github.com/caronc/apprise/wiki"
            )
        out.append(url)
    return tuple(dict.fromkeys(out))


Notify = Callable[[str, Alert, float], bool]


def apprise_notify(url: str, alert: Alert, timeout: float) -> bool:
    """Send one alert to one Apprise URL; True when it was delivered."""
    target = apprise.Apprise()
    if not target.add(url):
        return False
    kind = apprise.NotifyType.FAILURE if alert.failure else apprise.NotifyType.SUCCESS
    return bool(target.notify(body=alert.body, title=alert.title, notify_type=kind, timeout=timeout))


class AlertSender:
    """A bounded queue and one worker thread that sends each alert to every target once."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        notify: Notify = apprise_notify,
    ) -> None:
        self.urls = tuple(urls)
        self.timeout = timeout
        self.notify = notify
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._queue: queue.Queue[Alert | None] = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the worker thread (a no-op without targets)."""
        if self._thread is not None or not self.urls:
            return
        self._thread = threading.Thread(target=self._work, name="nostrweet-alerts", daemon=True)
        self._thread.start()

    def send(self, alert: Alert) -> bool:
        """Queue one alert without waiting; False when it was dropped (no target or queue full)."""
        if not self.urls:
            return False
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            self.dropped += 1
            log.warning("alert dropped, %d are waiting to be sent: %s", self._queue.qsize(), alert.title)
            return False
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued for up to ``timeout`` seconds, then stop the worker."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        thread.join(timeout)
        if thread.is_alive():
            log.warning("alerts: %d message(s) not sent before the exit", self._queue.qsize())

    def _work(self) -> None:
        while True:
            alert = self._queue.get()
            if alert is None:
                return
            for url in self.urls:
                self._deliver(url, alert)

    def _deliver(self, url: str, alert: Alert) -> None:
        """One try with a deadline; a failure is logged, never retried."""
        done: list[bool] = []
        problem: list[str] = []

        def attempt() -> None:
            try:
                done.append(self.notify(url, alert, self.timeout))
            except Exception as exc:  # a target's failure must not end the worker
                problem.append(exc.__class__.__name__)

        worker = threading.Thread(target=attempt, name="nostrweet-alert-send", daemon=True)
        worker.start()
        worker.join(self.timeout + 1.0)
        if worker.is_alive():
            reason = f"no answer within {self.timeout:.0f} s"
        elif problem:
            reason = problem[0]
        elif done and done[0]:
            self.sent += 1
            log.info("alert sent to %s: %s", redact_url(url), alert.title)
            return
        else:
            reason = "the target refused it or could not be reached"
        self.failed += 1
        log.warning("alert not sent to %s (%s): %s", redact_url(url), reason, alert.title)
