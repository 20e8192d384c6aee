"""Logging to stderr, as text or one JSON object per line, with secrets scrubbed as a last line of defence.

Structured fields: in JSON mode a record carries, as top-level keys, the :data:`FIELDS` (``user``,
``tweet_id``, ``action``, ``retry_count``, ``relay``, ``endpoint``) that apply to it. They come from
``extra={"tweet_id": …}`` on the call, from ``extra={"fields": {...}}``, and from the context:
:func:`context_with` builds a :class:`contextvars.Context` for an asyncio task (the daemon polls each
user in a task made with ``context_with(user=…, action="poll")``), so every record logged inside that
task, at any depth, names its user without each call having to pass it.

Code never passes a secret to a logger on purpose (secrets travel as :class:`nostrweet.settings.Secret`).
The :class:`RedactingFilter` still replaces any registered secret text, and anything that looks like an
nsec, in every record, so a mistake in a message or an exception text cannot leak one.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any

from nostrweet.textsafe import printable

_NSEC_RE = re.compile(r"nsec1[02-9ac-hj-np-z]{20,}")
_REDACTED = "**redacted**"
_secrets: set[str] = set()


FIELDS = ("user", "tweet_id", "action", "retry_count", "relay", "endpoint", "event_id")
"""The structured fields a JSON record carries when they apply (see the module docstring)."""

_context_fields: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "nostrweet_log_fields", default=MappingProxyType({})
)


def current_fields() -> Mapping[str, Any]:
    """The structured fields of the current context."""
    return _context_fields.get()


def context_with(**fields: Any) -> contextvars.Context:
    """A copy of the current context with these fields added, for ``asyncio.create_task(..., context=)``."""
    context = contextvars.copy_context()
    merged = {**context.run(_context_fields.get), **{k: v for k, v in fields.items() if v is not None}}
    context.run(_context_fields.set, merged)
    return context


@contextmanager
def log_fields(**fields: Any) -> Iterator[None]:
    """Add structured fields to every record logged inside the ``with`` block (this task only)."""
    token = _context_fields.set(
        {**_context_fields.get(), **{k: v for k, v in fields.items() if v is not None}}
    )
    try:
        yield
    finally:
        _context_fields.reset(token)


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The structured fields of a record: context, then ``extra`` keys, then ``extra={"fields": ...}``."""
    out: dict[str, Any] = dict(getattr(record, "context_fields", None) or {})
    for key in FIELDS:
        value = getattr(record, key, None)
        if value is not None:
            out[key] = value
    fields = getattr(record, "fields", None)
    if isinstance(fields, dict):
        out.update(fields)
    return out


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
        if not hasattr(record, "context_fields"):
            record.context_fields = dict(_context_fields.get())
        message = scrub(record.getMessage())
        record.msg, record.args = message, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, plus the record's structured fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update(record_fields(record))
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
    "apprise",
    "asyncio",
    "hpack",
    "httpcore",
    "httpx",
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
