"""Logging to stderr, as text or one JSON object per line, with secrets scrubbed as a last line of defence.

Code never passes a secret to a logger on purpose (secrets travel as :class:`nostrweet.settings.Secret`).
The :class:`RedactingFilter` still replaces any registered secret text, and anything that looks like an
nsec, in every record, so a mistake in a message or an exception text cannot leak one.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

from nostrweet.textsafe import printable

_NSEC_RE = re.compile(r"nsec1[02-9ac-hj-np-z]{20,}")
_REDACTED = "**redacted**"
_secrets: set[str] = set()


def register_secret(text: str) -> None:
    """Add a secret (token, mnemonic, hex secret key) that must never appear in a log record."""
    text = text.strip()
    if len(text) >= 8:
        _secrets.add(text)


def scrub(text: str) -> str:
    """Replace every registered secret, and anything shaped like an nsec, in ``text``."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, _REDACTED)
    return _NSEC_RE.sub(_REDACTED, text)


class RedactingFilter(logging.Filter):
    """Scrubs the formatted message of every record before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = scrub(record.getMessage())
        record.msg, record.args = message, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, plus any ``extra={"fields": {...}}``."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            payload.update(fields)
        if record.exc_text:
            payload["exception"] = record.exc_text
        return scrub(json.dumps(payload, ensure_ascii=False, default=str))


class TextFormatter(logging.Formatter):
    """``2026-01-01T00:00:00Z INFO  nostrweet.x: message``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-5s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%SZ")
        self.converter = time.gmtime

    def formatMessage(self, record: logging.LogRecord) -> str:
        """The line, with control and bidi characters of the message (relay or X text) escaped."""
        record.message = printable(record.message)
        return super().formatMessage(record)


LIBRARY_LOGGERS = (
    "aiohttp",
    "asyncio",
    "hpack",
    "httpcore",
    "httpx",
    "nostr_sdk",
    "nostr-sdk",
    "urllib3",
    "websockets",
)
_STEPS = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR)


def levels_for(level: int, verbosity: int) -> tuple[int, int]:
    """``(nostrweet's level, the libraries' level)`` for a base ``level`` and the count of ``-v``.

    ``-v`` shows nostrweet's own debug lines; ``-vv`` adds the libraries at info; ``-vvv`` shows
    everything at debug. Without ``-v`` the libraries sit one step above ``level``, so that
    ``NOSTRWEET_LOG_LEVEL=debug`` does not flood the log with asyncio and httpcore lines.
    """
    if verbosity >= 3:
        return logging.DEBUG, logging.DEBUG
    if verbosity == 2:
        return logging.DEBUG, logging.INFO
    if verbosity == 1:
        return logging.DEBUG, logging.WARNING
    above = next((step for step in _STEPS if step > level), logging.ERROR)
    return level, above


def configure_logging(level: int, fmt: str, verbosity: int = 0) -> None:
    """Send log records to stderr, as text or JSON, at the levels of :func:`levels_for`.

    Safe to call more than once.
    """
    ours, libraries = levels_for(level, verbosity)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(libraries)  # any other library logs at the libraries' level too
    logging.getLogger("nostrweet").setLevel(ours)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(libraries)
