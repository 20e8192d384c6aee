"""The ``[[webhooks]]`` tables of the config file (SPEC §12): checked here, their secrets read at start.

It sits beside ``config.py`` in the base layer; the delivery itself is the ``webhooks`` package.

Each has ``url`` (http or https), ``events`` (any of :data:`EVENTS`; all of
them when left out) and ``secret_file`` (the HMAC key, surrounding whitespace ignored). The checks are
pure and report every problem, one line each naming ``webhooks[<n>].<key>``; reading the secret files
happens in :func:`load_webhooks`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec

from nostrweet.errors import InputError
from nostrweet.secret import Secret
from nostrweet.values import parse_urls

__all__ = ["EVENTS", "Webhook", "WebhookSpec", "check_webhooks", "load_webhooks"]

EVENTS = ("tweet.archived", "tweet.published", "tweet.deleted", "user.failing")
"""Every event a webhook can subscribe to."""

_KEYS = {"url", "events", "secret_file"}


class WebhookSpec(msgspec.Struct, frozen=True, gc=False):
    """A checked ``[[webhooks]]`` table, its secret not read yet."""

    url: str
    events: frozenset[str]
    secret_file: Path


class Webhook(msgspec.Struct, frozen=True):
    """A webhook ready to sign: its URL, its events and its secret."""

    url: str
    events: frozenset[str]
    secret: Secret

    def wants(self, event: str) -> bool:
        """True when this webhook subscribed to ``event``."""
        return event in self.events


def check_webhooks(raw: Any, problem: Callable[[str], None]) -> tuple[WebhookSpec, ...]:
    """The good ``[[webhooks]]`` tables; each problem goes to ``problem`` as one line (pure)."""
    if not isinstance(raw, list):
        problem("'webhooks' must be an array of tables ([[webhooks]])")
        return ()
    specs: list[WebhookSpec] = []
    for n, table in enumerate(raw):
        where = f"webhooks[{n}]"
        if not isinstance(table, dict):
            problem(f"{where} must be a table")
            continue
        for key in sorted(set(table) - _KEYS):
            problem(f"unknown key {key!r} in {where}")
        spec = _check_one(where, table, problem)
        if spec is not None:
            specs.append(spec)
    return tuple(specs)


def _check_one(where: str, table: dict[str, Any], problem: Callable[[str], None]) -> WebhookSpec | None:
    url = table.get("url")
    good = True
    if not isinstance(url, str):
        problem(f"{where}.url is required: the http(s) URL to POST to")
        good = False
    else:
        try:
            parse_urls([url], ("http", "https"), "webhook")
        except InputError:
            problem(f"{where}.url is not an http:// or https:// URL")
            good = False
    events = table.get("events", list(EVENTS))
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        problem(f"{where}.events must be a non-empty list of: {', '.join(EVENTS)}")
        good = False
    else:
        unknown = [e for e in events if e not in EVENTS]
        if unknown:
            problem(f"{where}.events: unknown event {unknown[0]!r} (known: {', '.join(EVENTS)})")
            good = False
    secret_file = table.get("secret_file")
    if not isinstance(secret_file, str) or not secret_file.strip():
        problem(f"{where}.secret_file is required: a file holding the signing secret")
        good = False
    if not good:
        return None
    assert isinstance(url, str) and isinstance(secret_file, str)
    return WebhookSpec(url=url, events=frozenset(events), secret_file=Path(secret_file).expanduser())


def load_webhooks(specs: Sequence[WebhookSpec]) -> tuple[Webhook, ...]:
    """Read each webhook's secret file; an unreadable or empty one is an InputError (exit 2)."""
    hooks: list[Webhook] = []
    for n, spec in enumerate(specs):
        try:
            text = spec.secret_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise InputError(
                f"webhooks[{n}].secret_file {spec.secret_file}: cannot read it ({reason})"
            ) from None
        if not text:
            raise InputError(f"webhooks[{n}].secret_file {spec.secret_file} is empty")
        hooks.append(Webhook(url=spec.url, events=spec.events, secret=Secret(text)))
    return tuple(hooks)
