"""The tags of a mirrored tweet's events, one NIP at a time. PURE.

- NIP-48: the ``proxy`` tag and the ``r`` tag naming the tweet's URL (:func:`tweet_url`);
- NIP-10: a reply's ``e`` tags with ``root`` / ``reply`` markers, the thread's root found without
  reading anything (:func:`reply_tags`);
- NIP-18: a repost's ``e`` and ``p`` tags (:func:`repost_tags`), a quote's ``q`` tag;
- NIP-92: a media link's ``imeta`` tag (:func:`imeta_tag`).
"""

from __future__ import annotations

import json

from nostrweet.bridge.context import BuildContext, EventRef
from nostrweet.bridge.media import MediaLink
from nostrweet.twitter.models import TweetDocument

__all__ = [
    "CLIENT_TAG",
    "imeta_tag",
    "legacy_tweet_url",
    "proxy_tags",
    "quote_tag",
    "reply_tags",
    "repost_tags",
    "thread_root",
    "tweet_url",
]

CLIENT_TAG: tuple[str, ...] = ("client", "nostrweet")

Tag = tuple[str, ...]


def tweet_url(tweet_id: str) -> str:
    """``https://x.com/i/status/<id>``: the r and proxy tag value of a tweet."""
    return f"https://x.com/i/status/{tweet_id}"


def legacy_tweet_url(tweet_id: str) -> str:
    """``https://twitter.com/i/status/<id>``: the earlier tool's form, for the duplicate check."""
    return f"https://twitter.com/i/status/{tweet_id}"


def proxy_tags(tweet_id: str) -> list[Tag]:
    """NIP-48 ``proxy`` (web) and the ``r`` tag: the tweet's URL, which the duplicate check asks for."""
    own_url = tweet_url(tweet_id)
    return [("proxy", own_url, "web"), ("r", own_url)]


def repost_tags(tweet_id: str, original: EventRef, first_relay: str | None) -> list[Tag]:
    """NIP-18: a kind 6's tags for the event of the ``original`` tweet, then NIP-48 and the client."""
    return [
        ("e", original.event_id, first_relay or ""),
        ("p", original.pubkey),
        *proxy_tags(tweet_id),
        CLIENT_TAG,
    ]


def quote_tag(quoted: EventRef) -> Tag:
    """NIP-18: the ``q`` tag of a quoted tweet's event."""
    return ("q", quoted.event_id, "", quoted.pubkey)


def reply_tags(doc: TweetDocument, parent: str, parent_ref: EventRef, ctx: BuildContext) -> list[Tag]:
    """NIP-10: the marked ``e`` tags of a reply to the mirrored ``parent`` (a direct reply to the
    root carries only the ``root`` marker)."""
    root_id, root_pubkey = thread_root(doc, parent, parent_ref, ctx)
    if root_id == parent_ref.event_id:
        return [("e", parent_ref.event_id, "", "root", parent_ref.pubkey)]
    return [
        ("e", root_id, "", "root", root_pubkey) if root_pubkey else ("e", root_id, "", "root"),
        ("e", parent_ref.event_id, "", "reply", parent_ref.pubkey),
    ]


def imeta_tag(link: MediaLink) -> tuple[str, ...]:
    """The NIP-92 ``imeta`` tag of a media link."""
    fields = [f"url {link.url}"]
    if link.mime:
        fields.append(f"m {link.mime}")
    if link.sha256:
        fields.append(f"x {link.sha256}")
    if link.original_sha256 and link.original_sha256 != link.sha256:
        fields.append(f"ox {link.original_sha256}")
    if link.dim:
        fields.append(f"dim {link.dim[0]}x{link.dim[1]}")
    if link.alt and link.alt.strip():
        fields.append("alt " + " ".join(link.alt.split()))
    fields.extend(f"fallback {url}" for url in link.fallbacks if url and url != link.url)
    return ("imeta", *fields)


def _root_named_by(event_json: str) -> tuple[str, ...] | None:
    """The ``["e", id, relay, "root", pubkey]`` tag of a signed event's JSON, if it has one."""
    try:
        event = json.loads(event_json)
    except ValueError:
        return None
    tags = event.get("tags") if isinstance(event, dict) else None
    for tag in tags if isinstance(tags, list) else ():
        if not (isinstance(tag, list) and len(tag) >= 4 and all(isinstance(p, str) for p in tag)):
            continue
        if tag[0] == "e" and tag[3] == "root" and _is_hex64(tag[1]):
            return tuple(tag[:5])
    return None


def _is_hex64(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def thread_root(doc: TweetDocument, parent: str, parent_ref: EventRef, ctx: BuildContext) -> tuple[str, str]:
    """The root of the thread a reply joins, as (event id, pubkey) (SPEC §4 "Reply").

    The conversation's first tweet where it is mirrored. Where it cannot be had, the root is the oldest
    mirrored ancestor of the chain: the root the parent's event names, else the parent itself (its own
    parent is not mirrored). Every reply of the chain so names the same event, and a client shows one
    thread.
    """
    first = doc.data.conversation_id
    if first == parent:
        return parent_ref.event_id, parent_ref.pubkey
    first_ref = ctx.refs.get(first) if first else None
    if first_ref is not None:
        return first_ref.event_id, first_ref.pubkey
    named = _root_named_by(parent_ref.event_json)
    if named is not None:
        return named[1], named[4] if len(named) > 4 else ""
    return parent_ref.event_id, parent_ref.pubkey
