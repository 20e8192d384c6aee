"""PURE: a relay's NIP-11 information document, as far as publishing needs it: its ``limitation``.

The pool reads the document once per connection (HTTP GET on the relay's URL with
``Accept: application/nostr+json``) and checks each event against what it reads here before sending:
an event the relay is known to refuse is answered ``invalid:`` with the limit it breaks, and is not
sent (SPEC §4). Fields that are missing, of the wrong type or negative are ignored, so a hostile or
sloppy document can only make us send what we would have sent anyway.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import msgspec

from nostrweet.nostr.event import SignedEvent

ACCEPT = "application/nostr+json"
MAX_DOCUMENT_BYTES = 64 * 1024
"""The largest NIP-11 document read (real ones are a few hundred bytes)."""


class RelayLimits(msgspec.Struct, frozen=True, gc=False):
    """The limits of ``limitation`` that decide whether an event can be accepted (None: not given)."""

    max_message_length: int | None = None
    max_event_tags: int | None = None
    max_content_length: int | None = None
    created_at_lower_limit: int | None = None
    """Seconds: events older than now minus this are refused."""
    created_at_upper_limit: int | None = None
    """Seconds: events newer than now plus this are refused."""


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def read_limits(document: Any) -> RelayLimits:
    """The limits a decoded NIP-11 document states; no limits for anything that is not one."""
    limitation = document.get("limitation") if isinstance(document, dict) else None
    if not isinstance(limitation, dict):
        return RelayLimits()
    return RelayLimits(
        max_message_length=_count(limitation.get("max_message_length")),
        max_event_tags=_count(limitation.get("max_event_tags")),
        max_content_length=_count(limitation.get("max_content_length")),
        created_at_lower_limit=_count(limitation.get("created_at_lower_limit")),
        created_at_upper_limit=_count(limitation.get("created_at_upper_limit")),
    )


def document_url(relay_url: str) -> str:
    """The HTTP(S) URL a relay serves its document on: the relay URL with ws→http, wss→https."""
    parts = urlsplit(relay_url)
    scheme = "https" if parts.scheme.lower() == "wss" else "http"
    return urlunsplit((scheme, parts.netloc, parts.path or "/", parts.query, ""))


def refusal(event: SignedEvent, limits: RelayLimits, now: int) -> str | None:
    """Why the relay is known to refuse this event (an ``invalid:`` message), or None."""
    if limits.max_message_length is not None:
        frame_bytes = len(f'["EVENT",{event.to_json()}]'.encode())
        if frame_bytes > limits.max_message_length:
            return (
                f"invalid: the relay's max_message_length is {limits.max_message_length}, "
                f"the event's frame is {frame_bytes} bytes"
            )
    if limits.max_event_tags is not None and len(event.tags) > limits.max_event_tags:
        return (
            f"invalid: the relay's max_event_tags is {limits.max_event_tags}, the event has {len(event.tags)}"
        )
    if limits.max_content_length is not None and len(event.content) > limits.max_content_length:
        return (
            f"invalid: the relay's max_content_length is {limits.max_content_length}, "
            f"the content has {len(event.content)} characters"
        )
    lower = limits.created_at_lower_limit
    if lower is not None and event.created_at < now - lower:
        return f"invalid: the relay's created_at_lower_limit is {lower} s, the event is older"
    upper = limits.created_at_upper_limit
    if upper is not None and event.created_at > now + upper:
        return f"invalid: the relay's created_at_upper_limit is {upper} s, the event is newer"
    return None
