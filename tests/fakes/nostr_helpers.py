"""Small helpers for relay and Blossom tests: throwaway keys and signed events."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from nostrweet.nostr.event import SignedEvent, UnsignedEvent, sign_event
from nostrweet.nostr.keys import MirrorKey, npub_of_hex, pubkey_of_secret
from nostrweet.settings import Secret


def random_key(user_id: str = "1") -> MirrorKey:
    """A fresh random identity (not derived from a mnemonic)."""
    secret = os.urandom(32)
    pubkey = pubkey_of_secret(secret)
    return MirrorKey(
        user_id=user_id,
        path="test:random",
        pubkey_hex=pubkey,
        npub=npub_of_hex(pubkey),
        secret=Secret(secret.hex()),
    )


def make_event(
    key: MirrorKey,
    content: str = "hello",
    *,
    kind: int = 1,
    tags: Sequence[Sequence[str]] = (),
    created_at: int | None = None,
) -> SignedEvent:
    """A signed event by ``key``."""
    unsigned = UnsignedEvent(
        pubkey=key.pubkey_hex,
        created_at=int(time.time()) if created_at is None else created_at,
        kind=kind,
        tags=tuple(tuple(t) for t in tags),
        content=content,
    )
    return sign_event(unsigned, key)
