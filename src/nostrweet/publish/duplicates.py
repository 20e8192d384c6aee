"""The duplicate check's acceptance rule (SPEC §4, "Duplicate check"), as pure functions.

Anyone can publish a note with any ``r`` tag. An event found on a relay by a tweet's ``r`` tag counts
as that tweet's mirror event only when all of these hold:

- it parses as a NIP-01 event whose id matches its content and whose signature is valid;
- its pubkey is one of the tweet's mirror identities (the author's key under the configured
  derivation, or the same user's key under the other scheme, the earlier tool's);
- its kind is a tweet's kind (1, or 6 for a repost);
- it carries an ``r`` tag equal to the tweet's URL (``x.com`` or the earlier ``twitter.com`` form).

Anything else is ignored. When several events pass, the oldest (then the lowest id) wins, so the
choice is the same on every run.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import msgspec

from nostrweet.errors import NostrweetError
from nostrweet.nostr.answers import QueryFilter
from nostrweet.nostr.event import SignedEvent, verify_event
from nostrweet.publish.plan import lookup_urls

TWEET_KINDS = (1, 6)
"""The kinds a tweet's mirror event has: a note, or a repost."""


class Verdict(msgspec.Struct, frozen=True):
    """Whether a found event is the tweet's own (``event`` set) or why it is ignored (``reason``)."""

    event: SignedEvent | None
    reason: str = ""


def lookup_filter(tweet_ids: Sequence[str], wanted: Mapping[str, Collection[str]]) -> QueryFilter:
    """The relay query of a batch of tweets: ``#r`` in both URL forms, ``authors`` = their mirror
    pubkeys (``wanted``: tweet id → pubkeys), tweet kinds only."""
    urls = [u for t in tweet_ids for u in lookup_urls(t)]
    authors = sorted({k for t in tweet_ids for k in wanted[t]})
    return QueryFilter(kinds=TWEET_KINDS, authors=authors, tags={"r": urls}, limit=4 * len(tweet_ids))


def mirror_pubkeys(keys: object, author_id: str) -> tuple[str, ...]:
    """The pubkeys whose events count for a tweet of this author: the key source's
    ``mirror_pubkeys(user_id)`` when it has one (a KeyDeriver: both derivations; a fixed key: itself),
    else its ``for_user(user_id)`` key alone."""
    both = getattr(keys, "mirror_pubkeys", None)
    if callable(both):
        return tuple(str(k) for k in both(author_id))
    return (str(keys.for_user(author_id).pubkey_hex),)  # type: ignore[attr-defined]


def judge_found(raw: Mapping[str, Any], tweet_id: str, pubkeys: Collection[str]) -> Verdict:
    """Whether ``raw`` (an event a relay sent for ``tweet_id``) is that tweet's mirror event, signed by
    one of ``pubkeys`` (lower-case hex); see the module docstring for the rule."""
    try:
        event = SignedEvent.from_dict(raw)
    except (NostrweetError, TypeError, ValueError):
        return Verdict(None, "not a valid event (malformed, or its id does not match)")
    if event.pubkey not in pubkeys:
        return Verdict(None, f"signed by {event.pubkey[:12]}, not by the tweet's mirror identity")
    if event.kind not in TWEET_KINDS:
        return Verdict(None, f"kind {event.kind} is not a tweet's kind")
    urls = set(lookup_urls(tweet_id))
    if not any(len(tag) >= 2 and tag[0] == "r" and tag[1] in urls for tag in event.tags):
        return Verdict(None, "no r tag with the tweet's URL")
    if not verify_event(event):
        return Verdict(None, "bad signature")
    return Verdict(event)


def pick_own(
    events: Iterable[Mapping[str, Any]],
    wanted: Mapping[str, Collection[str]],
    *,
    ignored: list[tuple[str, str, str]] | None = None,
) -> dict[str, SignedEvent]:
    """Map each wanted tweet id (→ its mirror pubkeys) to the event found for it that passes
    :func:`judge_found`; the oldest (then lowest id) of several. Events ignored for a tweet they
    name are appended to ``ignored`` as ``(tweet_id, event id, reason)``."""
    by_url = {url: tid for tid in wanted for url in lookup_urls(tid)}
    found: dict[str, SignedEvent] = {}
    for raw in events:
        named = {
            by_url[str(tag[1])]
            for tag in _tags(raw)
            if len(tag) >= 2 and tag[0] == "r" and str(tag[1]) in by_url
        }
        for tid in sorted(named):
            verdict = judge_found(raw, tid, wanted[tid])
            event = verdict.event
            if event is None:
                if ignored is not None:
                    ignored.append((tid, str(raw.get("id", "?"))[:64], verdict.reason))
                continue
            old = found.get(tid)
            if old is None or (event.created_at, event.id) < (old.created_at, old.id):
                found[tid] = event
    return found


def _tags(raw: Mapping[str, Any]) -> list[Any]:
    tags = raw.get("tags")
    return [t for t in tags if isinstance(t, list | tuple)] if isinstance(tags, list | tuple) else []
