"""What a webhook receives, PURE: the JSON body, its delivery id, its signature, and the retry delay.

The body is one JSON object (SPEC §12): ``event``, ``id`` (the same on every retry of a delivery, so a
receiver can drop a repeat), ``username``, ``tweet_id``, ``nostr_event_ids``, ``relays`` (each relay's
status), ``at`` (RFC 3339, UTC). It is signed with ``X-Nostrweet-Signature: sha256=<hex HMAC-SHA256 of
the body bytes>`` under the webhook's secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from nostrweet.webhook_config import EVENTS

__all__ = [
    "EVENTS",
    "SIGNATURE_HEADER",
    "WebhookEvent",
    "body_of",
    "delivery_id",
    "retry_delay",
    "sign",
    "verify",
]

SIGNATURE_HEADER = "X-Nostrweet-Signature"

FIRST_RETRY_SECONDS = 10
LAST_RETRY_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One thing that happened, before it is addressed to any webhook.

    ``subject`` tells two events of the same kind about the same user apart (the tweet id, or the start
    of a failure incident); with the webhook's URL it makes the delivery id, so the same event queued
    twice (a command run again after a crash) is delivered once.
    """

    event: str
    username: str
    at: float
    subject: str
    tweet_id: str | None = None
    nostr_event_ids: Sequence[str] = ()
    relays: Mapping[str, str] = field(default_factory=dict)


def delivery_id(webhook_url: str, event: WebhookEvent) -> str:
    """The id of the delivery of ``event`` to one webhook: stable across retries and re-runs."""
    text = "\n".join((webhook_url, event.event, event.username, event.subject))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def rfc3339(at: float) -> str:
    """A Unix time as RFC 3339 in UTC with a ``Z``."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def body_of(webhook_url: str, event: WebhookEvent) -> bytes:
    """The exact bytes POSTed (compact JSON, keys sorted): what the signature covers."""
    document = {
        "event": event.event,
        "id": delivery_id(webhook_url, event),
        "username": event.username,
        "tweet_id": event.tweet_id,
        "nostr_event_ids": list(event.nostr_event_ids),
        "relays": dict(sorted(event.relays.items())),
        "at": rfc3339(event.at),
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(body: bytes, secret: bytes) -> str:
    """The signature header's value for ``body``: ``sha256=`` and the hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(body: bytes, header: str | None, secret: bytes) -> bool:
    """What a receiver does: recompute the signature and compare it in constant time."""
    return header is not None and hmac.compare_digest(sign(body, secret), header.strip())


def retry_delay(attempts: int) -> int:
    """Seconds to wait after the ``attempts``-th failed try: 10 s doubling, at most one hour."""
    if attempts <= 0:
        return 0
    return int(min(LAST_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** min(attempts - 1, 20)))
