"""NIP-42 AUTH: the kind 22242 event that answers a relay's challenge, signed with a mirror identity.

A relay that wants AUTH sends ``["AUTH", <challenge>]`` on the connection; the client answers
``["AUTH", <signed event>]`` with ``["relay", <relay URL>]`` and ``["challenge", <challenge>]`` tags, and
the relay answers it with an OK. The pool authenticates each identity that publishes on the connection
it publishes on (:class:`~nostrweet.nostr.connection.RelayConnection` keeps which ones it did).
"""

from __future__ import annotations

from nostrweet.nostr.event import SignedEvent, UnsignedEvent, sign_event
from nostrweet.nostr.keys import MirrorKey

AUTH_KIND = 22242


def auth_event(key: MirrorKey, relay_url: str, challenge: str, created_at: int) -> SignedEvent:
    """The signed NIP-42 answer of ``key`` to a relay's ``challenge`` (pure: the time is given)."""
    unsigned = UnsignedEvent(
        pubkey=key.pubkey_hex,
        created_at=created_at,
        kind=AUTH_KIND,
        tags=(("relay", relay_url), ("challenge", challenge)),
        content="",
    )
    return sign_event(unsigned, key)
