"""The build step of publishing: what a tweet's event names is loaded first, then the pure build runs.

A tweet's event may name other events (a reply's parent and thread root, a quoted tweet, a retweeted
original) and other identities (its author, the mentioned users, a reply's parent author). Before
:func:`nostrweet.bridge.events.build_tweet_event` runs, :func:`load_context` loads exactly what
:func:`~nostrweet.bridge.events.needed_refs` and :func:`~nostrweet.bridge.events.needed_users` list into
plain mappings, so building reads neither the disk nor the state.

:class:`RefBook` is where a tweet's event is found: a round in progress first (never evicted while it
runs), then a bounded LRU, then the tweet's best event record in the state (the record a re-send would
use), so a miss reads the record and never builds a different event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from nostrweet.bridge.events import BuildContext, EventRef, needed_refs, needed_users
from nostrweet.bridge.media import MediaLink
from nostrweet.nostr.event import SignedEvent
from nostrweet.nostr.keys import MirrorKey
from nostrweet.nostr.record import best_record
from nostrweet.publish.outcome import LruDict
from nostrweet.publish.records import PublishRecords
from nostrweet.twitter.models import TweetDocument


class KeySource(Protocol):
    """Where mirror keys come from (a KeyDeriver)."""

    def for_user(self, user_id: str | int) -> MirrorKey: ...


Retired = Callable[[Iterable[str | int]], Mapping[str, str | None]]
"""Of some tweet ids, those retired on X: id -> the newest version's id (an edit), or None (deleted)."""


def ref_of_event(event: SignedEvent) -> EventRef:
    """The ref other tweets' events name a signed event by."""
    return EventRef(event.id, event.pubkey, event.kind, event.to_json())


class RefBook:
    """The events tweets are referenced by: rounds in progress, a bounded LRU, then the state."""

    def __init__(self, records: PublishRecords, retired: Retired, *, cap: int) -> None:
        self.records = records
        self.retired = retired
        self.lru: LruDict[str, EventRef] = LruDict(cap)
        self.rounds: dict[object, dict[str, EventRef]] = {}

    def remember(self, tweet_id: str, ref: EventRef, round_refs: dict[str, EventRef]) -> None:
        """Keep a tweet's ref for its round (pinned) and in the LRU."""
        round_refs[tweet_id] = self.lru[tweet_id] = ref

    def of(self, tweet_id: str) -> EventRef | None:
        """The event a tweet is referenced by; a reply or quote of an edited tweet names its newest
        version's event. None if the tweet has no event."""
        for round_refs in self.rounds.values():
            found = round_refs.get(tweet_id)
            if found is not None:
                return found
        if tweet_id.isdigit():
            newer = self.retired([tweet_id]).get(tweet_id)
            if newer is not None and newer != tweet_id and (found := self.of(newer)) is not None:
                return found
        ref = self.lru.hit(tweet_id)
        if ref is None:
            best = best_record(self.records.for_tweet(tweet_id)) if tweet_id.isdigit() else None
            if best is None:
                return None
            ref = self.lru[tweet_id] = ref_of_event(SignedEvent.from_dict(best.event))
        return ref

    def load(self, tweet_ids: Iterable[str]) -> dict[str, EventRef]:
        """The refs of those of ``tweet_ids`` that have an event, as a plain mapping."""
        out: dict[str, EventRef] = {}
        for tweet_id in tweet_ids:
            ref = self.of(tweet_id)
            if ref is not None:
                out[tweet_id] = ref
        return out


def load_context(
    doc: TweetDocument,
    keys: KeySource,
    refs: RefBook,
    media: Mapping[str, MediaLink],
    first_relay: str | None,
) -> BuildContext:
    """Everything building ``doc``'s event reads, loaded into plain mappings."""
    return BuildContext(
        pubkeys={uid: keys.for_user(uid).pubkey_hex for uid in needed_users(doc)},
        media=media,
        refs=refs.load(needed_refs(doc)),
        first_relay=first_relay,
    )
