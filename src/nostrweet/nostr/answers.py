"""Relay answers and filters as plain values (NIP-01), with no I/O: how an ``OK`` message is read and
classified.

``duplicate:`` counts as accepted, ``rate-limited:`` is retried later, ``invalid:``/``blocked:``/``pow:``/
``restricted:`` are permanent for that relay and event (SPEC §4, "Relay answers").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import msgspec

from nostrweet.errors import InputError

Outcome = Literal["accepted", "duplicate", "rate_limited", "rejected", "pending"]

PREFIX_RE = re.compile(r"^([a-z][a-z0-9-]*):")


def classify_ok(accepted: bool, message: str) -> Outcome:
    """Classify a NIP-01 ``OK`` answer.

    ``duplicate:`` → duplicate (counts as accepted, whatever the flag); true → accepted;
    ``rate-limited:`` → rate_limited; ``auth-required:`` and ``error:`` → pending (transient);
    ``invalid:``, ``blocked:``, ``pow:``, ``restricted:`` and any other false answer → rejected.
    """
    match = PREFIX_RE.match(message.strip().lower())
    prefix = match.group(1) if match else ""
    if prefix == "duplicate":
        return "duplicate"
    if accepted:
        return "accepted"
    if prefix == "rate-limited":
        return "rate_limited"
    if prefix in ("auth-required", "error"):
        return "pending"
    return "rejected"


HEX64_RE = re.compile(r"^[0-9a-f]{64}$")
MALFORMED_OK = "error: malformed OK from the relay"
"""The message an OK with a flag that is not a JSON boolean is recorded with (``error:``: retried later)."""


class OkMessage(msgspec.Struct, frozen=True, gc=False):
    """A NIP-01 ``["OK", <event id>, <true|false>, <message>]`` as read, before any judgement."""

    event_id: str | None
    """64 lower-case hex, or None when the relay sent no id (``""``, null or no element at all)."""
    accepted: bool | None
    """The flag when it is a JSON boolean; None otherwise (``"false"``, ``1``, missing)."""
    message: str = ""

    def answer(self) -> tuple[bool, str]:
        """``(accepted, message)``: only a JSON ``true`` accepts. A flag that is not a boolean is a
        malformed answer, neither accepted nor a final rejection: ``error:``, so it is retried."""
        if self.accepted is None:
            return False, f"{MALFORMED_OK}: {self.message}" if self.message else MALFORMED_OK
        return self.accepted, self.message


def read_ok(msg: Any) -> OkMessage | None:
    """Read a decoded relay message as an OK; None when it is not one, or when its event id is present
    but not 64 lower-case hex (such an OK answers no event we can name, so it must match none)."""
    if not isinstance(msg, list) or not msg or msg[0] != "OK":
        return None
    raw_id = msg[1] if len(msg) > 1 else None
    if raw_id is None or raw_id == "":
        event_id = None
    elif isinstance(raw_id, str) and HEX64_RE.match(raw_id):
        event_id = raw_id
    else:
        return None
    flag = msg[2] if len(msg) > 2 else None
    message = msg[3] if len(msg) > 3 and isinstance(msg[3], str) else ""
    return OkMessage(event_id, flag if isinstance(flag, bool) else None, message)


class RelayAnswer(msgspec.Struct, frozen=True, gc=False):
    """What one relay answered to one event."""

    relay: str
    outcome: Outcome
    message: str = ""

    @property
    def is_accepted(self) -> bool:
        """Accepted or duplicate: the event is on the relay."""
        return self.outcome in ("accepted", "duplicate")

    @property
    def is_final(self) -> bool:
        """Accepted, duplicate or rejected: nothing more to do for this relay and event."""
        return self.outcome in ("accepted", "duplicate", "rejected")


class RelayStatus(msgspec.Struct, frozen=True, gc=False):
    """A snapshot of one relay's health and counters."""

    url: str
    connected: bool
    accepted: int = 0
    rejected: int = 0
    pending: int = 0
    last_error: str | None = None


class QueryFilter(msgspec.Struct, frozen=True):
    """A NIP-01 filter. ``tags`` maps a single-letter tag (``"r"`` or ``"#r"``) to values."""

    kinds: Sequence[int] = ()
    authors: Sequence[str] = ()
    ids: Sequence[str] = ()
    tags: Mapping[str, Sequence[str]] = msgspec.field(default_factory=dict)
    since: int | None = None
    until: int | None = None
    limit: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The filter as NIP-01 JSON."""
        out: dict[str, Any] = {}
        if self.kinds:
            out["kinds"] = list(self.kinds)
        if self.authors:
            out["authors"] = list(self.authors)
        if self.ids:
            out["ids"] = list(self.ids)
        for name, values in self.tags.items():
            key = name if name.startswith("#") else f"#{name}"
            if len(key) != 2:
                raise InputError(f"invalid tag filter {name!r}: use a single letter")
            out[key] = list(values)
        if self.since is not None:
            out["since"] = self.since
        if self.until is not None:
            out["until"] = self.until
        if self.limit is not None:
            out["limit"] = self.limit
        return out
