"""The alert settings (SPEC §9): ``--alert URL`` (repeatable), env ``NOSTRWEET_ALERTS``, ``[alerts]``.

Flags (and their environment variable) win over the file's ``[alerts] urls``; the thresholds come
from ``[alerts]`` or their defaults. A value may hold several URLs separated by whitespace or by a
comma that starts a new URL (``json://a/x,slack://…``): a comma inside a URL, as in
``mailto://…?to=a@x.org,b@x.org``, stays in it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nostrweet.alerts.incidents import (
    DEFAULT_OUTBOX_AGE_SECONDS,
    DEFAULT_RELAY_DOWN_SECONDS,
    DEFAULT_USER_FAILURES,
    Thresholds,
)
from nostrweet.alerts.sender import check_alert_urls
from nostrweet.errors import InputError

_SEPARATOR = re.compile(r"\s+|,\s*(?=[A-Za-z][A-Za-z0-9+.-]*://)")


@dataclass(frozen=True, slots=True)
class AlertConfig:
    """Where alerts go and when an incident opens."""

    urls: tuple[str, ...] = ()
    thresholds: Thresholds = field(default_factory=Thresholds)


def split_alert_urls(values: Iterable[str] | str | None) -> list[str]:
    """Every URL in the values, split on whitespace and on commas that start a new URL (pure)."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    out: list[str] = []
    for value in values:
        out.extend(part.strip(", ") for part in _SEPARATOR.split(str(value)) if part.strip(", "))
    return out


def alert_urls_problem(value: Any) -> str | None:
    """The config file's ``[alerts] urls`` check: None, or why Apprise cannot send to one of them.

    The problem names the URL's position and scheme only, never its text.
    """
    try:
        check_alert_urls(split_alert_urls(value))
    except InputError as exc:
        return str(exc)
    return None


def resolve_alert_config(flags: Iterable[str] | None, table: Mapping[str, Any]) -> AlertConfig:
    """The flags' URLs, else the file's ``[alerts] urls``; thresholds from the table or the defaults.

    Raises InputError (exit 2) for a URL Apprise cannot send to, naming its position, never its text.
    """
    urls = split_alert_urls(list(flags) if flags else None) or split_alert_urls(table.get("urls"))
    thresholds = Thresholds(
        user_failures=int(table.get("user_failures", DEFAULT_USER_FAILURES)),
        relay_down_seconds=float(table.get("relay_down_seconds", DEFAULT_RELAY_DOWN_SECONDS)),
        outbox_age_seconds=float(table.get("outbox_age_seconds", DEFAULT_OUTBOX_AGE_SECONDS)),
    )
    return AlertConfig(urls=check_alert_urls(urls), thresholds=thresholds)
