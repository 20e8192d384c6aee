"""NIP-11 limits (nostr.nip11): read tolerantly, and which events they refuse (a table)."""

from __future__ import annotations

import pytest

from nostrweet.nostr.event import SignedEvent
from nostrweet.nostr.nip11 import RelayLimits, document_url, read_limits, refusal
from tests.fakes.nostr_helpers import make_event, random_key

NOW = 1_700_000_000
KEY = random_key()


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            {"limitation": {"max_event_tags": 100, "created_at_lower_limit": 31536000}},
            RelayLimits(max_event_tags=100, created_at_lower_limit=31536000),
        ),
        (
            {"limitation": {"max_message_length": 16384, "auth_required": True}},
            RelayLimits(max_message_length=16384),
        ),
        (
            {
                "limitation": {
                    "max_event_tags": "100",
                    "max_content_length": -1,
                    "created_at_upper_limit": True,
                }
            },
            RelayLimits(),
        ),
        ({"limitation": {"max_content_length": 1.5}}, RelayLimits()),
        ({"limitation": []}, RelayLimits()),
        ({"name": "no limits"}, RelayLimits()),
        ([], RelayLimits()),
        (None, RelayLimits()),
    ],
)
def test_read_limits(document: object, expected: RelayLimits) -> None:
    assert read_limits(document) == expected


@pytest.mark.parametrize(
    ("relay", "expected"),
    [
        ("wss://relay.damus.io", "https://relay.damus.io/"),
        ("ws://127.0.0.1:7777", "http://127.0.0.1:7777/"),
        ("wss://relay.example.com/nostr?x=1", "https://relay.example.com/nostr?x=1"),
    ],
)
def test_document_url(relay: str, expected: str) -> None:
    assert document_url(relay) == expected


FINE = make_event(KEY, "short", tags=[["t", "a"]], created_at=NOW - 10)
CASES = [
    ("no limits", FINE, RelayLimits(), None),
    (
        "all within",
        FINE,
        RelayLimits(
            max_message_length=10_000,
            max_event_tags=1,
            max_content_length=5,
            created_at_lower_limit=60,
            created_at_upper_limit=60,
        ),
        None,
    ),
    ("frame too big", FINE, RelayLimits(max_message_length=100), "max_message_length"),
    (
        "too many tags",
        make_event(KEY, "x", tags=[["t", "a"], ["t", "b"]], created_at=NOW),
        RelayLimits(max_event_tags=1),
        "max_event_tags",
    ),
    (
        "content too long",
        make_event(KEY, "✓" * 6, created_at=NOW),
        RelayLimits(max_content_length=5),
        "max_content_length",
    ),
    (
        "too old",
        make_event(KEY, "x", created_at=NOW - 3601),
        RelayLimits(created_at_lower_limit=3600),
        "created_at_lower_limit",
    ),
    (
        "just old enough",
        make_event(KEY, "x", created_at=NOW - 3600),
        RelayLimits(created_at_lower_limit=3600),
        None,
    ),
    (
        "from the future",
        make_event(KEY, "x", created_at=NOW + 61),
        RelayLimits(created_at_upper_limit=60),
        "created_at_upper_limit",
    ),
]


@pytest.mark.parametrize(("event", "limits", "breaks"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refusal(event: SignedEvent, limits: RelayLimits, breaks: str | None) -> None:
    why = refusal(event, limits, NOW)
    if breaks is None:
        assert why is None
    else:
        assert why is not None and why.startswith("invalid: ") and breaks in why
