"""What ``show-tweet`` prints: the events a cached tweet would become, without sending anything.

A tweet (or dependency) that already has an event record shows its recorded event; otherwise the
event is built from the cache with the original media URLs (no Blossom upload happens here).
"""

from __future__ import annotations

from typing import Any

from nostrweet.bridge.context import BuildContext, EventRef, needed_refs, needed_users, sub_document
from nostrweet.bridge.events import build_tweet_event
from nostrweet.nostr.event import SignedEvent, sign_event
from nostrweet.nostr.record import best_record
from nostrweet.publish.building import KeySource
from nostrweet.publish.plan import plan_tweet
from nostrweet.publish.records import PublishRecords
from nostrweet.shaping.filters import FilterBook
from nostrweet.store import CacheStore
from nostrweet.twitter.models import TweetDocument


def _unsigned_dict(event: SignedEvent, tweet_id: str, recorded: bool) -> dict[str, Any]:
    data = event.to_dict()
    del data["sig"]
    return {"tweet_id": tweet_id, "recorded": recorded, "event": data}


def preview_events(
    store: CacheStore,
    keys: KeySource,
    doc: TweetDocument,
    *,
    first_relay: str | None = None,
    filters: FilterBook | None = None,
) -> list[dict[str, Any]]:
    """The events of a tweet and its dependencies (dependencies first), as unsigned JSON objects;
    with ``filters``, a dependency they skip is left out, as the publisher leaves it out."""
    book = filters or FilterBook()
    records = PublishRecords(store.state)
    refs: dict[str, EventRef] = {}
    out: list[dict[str, Any]] = []

    def resolve(parent: TweetDocument, tweet_id: str) -> TweetDocument | None:
        own = store.read_tweet(tweet_id) if store.has_tweet(tweet_id) else None
        found = own if own is not None else sub_document(parent, tweet_id)
        return found if found is not None and book.keeps_dependency(parent, found) else None

    for item in plan_tweet(doc, resolve=resolve):
        best = best_record(records.for_tweet(item.tweet_id))
        if best is not None:
            event = SignedEvent.from_dict(best.event)
        else:
            author = item.author_id
            if author is None:
                continue
            key = keys.for_user(author)
            ctx = BuildContext(
                pubkeys={uid: keys.for_user(uid).pubkey_hex for uid in needed_users(item.doc)},
                refs={r: refs[r] for r in needed_refs(item.doc) if r in refs},
                first_relay=first_relay,
            )
            event = sign_event(build_tweet_event(item.doc, ctx), key)
        refs[item.tweet_id] = EventRef(event.id, event.pubkey, event.kind, event.to_json())
        out.append(_unsigned_dict(event, item.tweet_id, best is not None))
    return out
