"""Cached tweet documents → Nostr events (SPEC §4). PURE: no I/O, no clock; same input → same event id.

- a tweet → kind 1 (content from :mod:`nostrweet.bridge.content`, tags here), or kind 6 for a retweet;
- a profile → kind 0; the relays → kind 10002; the Blossom servers → kind 10063 (built in
  :mod:`nostrweet.bridge.profile`, re-exported here).

What the publisher must supply is in :class:`BuildContext`, loaded before the build as plain mappings
(:func:`needed_users` and :func:`needed_refs` say which entries a document needs): the mirror pubkeys of
the users it names, the media links (Blossom or original; :mod:`nostrweet.bridge.media`), and the
events already built for the tweets it references.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType

from nostrweet.bridge.content import (
    decode_html_entities,
    drop_truncated_link,
    expanded_link,
    join_blocks,
    render_text,
    status_url_id,
    tidy,
)
from nostrweet.bridge.media import MediaLink, original_media_link
from nostrweet.bridge.profile import (
    KIND_BLOSSOM_LIST,
    KIND_METADATA,
    KIND_RELAY_LIST,
    build_blossom_list_event,
    build_profile_event,
    build_relay_list_event,
    profile_metadata,
    profile_url,
)
from nostrweet.errors import NostrweetError
from nostrweet.nostr.event import UnsignedEvent, nevent_of, npub_of
from nostrweet.twitter.models import Entities, MentionEntity, Tweet, TweetDocument, UrlEntity

KIND_NOTE = 1
KIND_REPOST = 6
CLIENT_TAG: tuple[str, ...] = ("client", "nostrweet")


__all__ = [
    "CLIENT_TAG",
    "KIND_BLOSSOM_LIST",
    "KIND_METADATA",
    "KIND_NOTE",
    "KIND_RELAY_LIST",
    "KIND_REPOST",
    "BuildContext",
    "ConversionError",
    "EventRef",
    "MediaLink",
    "build_blossom_list_event",
    "build_profile_event",
    "build_relay_list_event",
    "build_tweet_event",
    "dependencies",
    "imeta_tag",
    "legacy_tweet_url",
    "needed_refs",
    "needed_users",
    "original_media_link",
    "profile_metadata",
    "profile_url",
    "status_link",
    "sub_document",
    "tweet_url",
]


class ConversionError(NostrweetError):
    """A tweet document cannot become an event as asked (e.g. a retweet whose original is not built)."""


@dataclass(frozen=True)
class EventRef:
    """An event already built/signed for another tweet (parent, quoted, original).

    A reply's root is read from its parent's ``event_json`` (its ``root`` e tag), so the builder knows
    the chain's root without reading anything itself.
    """

    event_id: str
    pubkey: str
    kind: int
    event_json: str  # the signed event (kind 6 content)


@dataclass(frozen=True)
class BuildContext:
    """Everything besides the document that decides the events, as plain values loaded beforehand:
    building reads nothing else (no disk, no state, no key derivation).

    ``pubkeys`` must hold every id of :func:`needed_users` of the document, and ``refs`` every id of
    :func:`needed_refs` that has an event (a ref that is absent is a tweet not mirrored).
    """

    pubkeys: Mapping[str, str]  # numeric user id -> hex pubkey of its mirror identity
    media: Mapping[str, MediaLink] = field(default_factory=lambda: MappingProxyType({}))
    refs: Mapping[str, EventRef] = field(default_factory=lambda: MappingProxyType({}))
    first_relay: str | None = None

    def pubkey(self, user_id: str) -> str:
        """The mirror pubkey of a user id the build needs; ConversionError if it was not loaded."""
        try:
            return self.pubkeys[user_id]
        except KeyError:
            raise ConversionError(f"no mirror pubkey loaded for user {user_id}") from None


def _text_and_entities(tweet: Tweet) -> tuple[str, Entities | None]:
    """The text a note is rendered from (``note_tweet`` where present) and its entities."""
    note = tweet.note_tweet
    if note is not None and note.text:
        return note.text, note.entities or tweet.entities
    return tweet.text, tweet.entities


def needed_users(doc: TweetDocument) -> list[str]:
    """The user ids whose mirror pubkeys building ``doc`` may read (``BuildContext.pubkeys``): the
    author, each mention that resolves to an id, and a reply's parent author; first-seen order."""
    tweet = doc.data
    out: list[str] = [tweet.author_id] if tweet.author_id else []
    original = tweet.reference("retweeted")
    if original is not None and doc.tweet(original) is not None:
        return out  # a repost names only its author; the original's pubkey comes with its ref
    _, entities = _text_and_entities(tweet)
    if entities is not None and entities.mentions:
        resolve = _mention_resolver(doc)
        for mention in entities.mentions:
            uid = resolve(mention)
            if uid is not None and mention.username:
                out.append(uid)
    parent = tweet.reference("replied_to")
    if parent is not None:
        parent_tweet = doc.tweet(parent)
        parent_author = tweet.in_reply_to_user_id or (parent_tweet.author_id if parent_tweet else None)
        if parent_author and parent_author.isdigit():
            out.append(parent_author)
    return list(dict.fromkeys(out))


def needed_refs(doc: TweetDocument) -> list[str]:
    """The tweet ids whose events building ``doc`` may name (``BuildContext.refs``): the retweeted
    original, the quoted tweet, the parent and the conversation's first tweet."""
    tweet = doc.data
    out = [
        ref
        for ref in (
            tweet.reference("retweeted"),
            tweet.reference("quoted"),
            tweet.reference("replied_to"),
        )
        if ref is not None
    ]
    if tweet.conversation_id and tweet.reference("replied_to") is not None:
        out.append(tweet.conversation_id)
    return list(dict.fromkeys(out))


def tweet_url(tweet_id: str) -> str:
    """``https://x.com/i/status/<id>``: the r and proxy tag value of a tweet."""
    return f"https://x.com/i/status/{tweet_id}"


def legacy_tweet_url(tweet_id: str) -> str:
    """``https://twitter.com/i/status/<id>``: the earlier tool's form, for the duplicate check."""
    return f"https://twitter.com/i/status/{tweet_id}"


def sub_document(doc: TweetDocument, tweet_id: str) -> TweetDocument | None:
    """An included tweet as its own document (sharing the includes), or None if it is not included."""
    if doc.data.id == tweet_id:
        return doc
    tweet = doc.tweet(tweet_id)
    if tweet is None:
        return None
    return TweetDocument(data=tweet, includes=doc.includes, errors=doc.errors, nostrweet=doc.nostrweet)


def dependencies(doc: TweetDocument) -> list[str]:
    """Tweet ids to publish before this one, in order: replied-to parent, quoted, retweeted original.

    Only those present in ``includes.tweets``.
    """
    out: list[str] = []
    for kind in ("replied_to", "quoted", "retweeted"):
        ref = doc.data.reference(kind)
        if ref is not None and ref not in out and ref != doc.data.id and doc.tweet(ref) is not None:
            out.append(ref)
    return out


def _created_at(doc: TweetDocument) -> int:
    stamp = doc.data.created_at
    if not stamp:
        raise ConversionError(f"tweet {doc.data.id} has no created_at")
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        raise ConversionError(f"tweet {doc.data.id} has an unreadable created_at {stamp!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def _author_pubkey(doc: TweetDocument, ctx: BuildContext) -> str:
    if not doc.data.author_id:
        raise ConversionError(f"tweet {doc.data.id} has no author_id")
    return ctx.pubkey(doc.data.author_id)


def status_link(doc: TweetDocument, tweet_id: str, user_id: str | None) -> str:
    """``https://x.com/<username>/status/<id>`` with the included user's name, else ``/i/status/``."""
    user = doc.user(user_id)
    return (
        f"https://x.com/{user.username}/status/{tweet_id}" if user and user.username else tweet_url(tweet_id)
    )


def build_tweet_event(doc: TweetDocument, ctx: BuildContext) -> UnsignedEvent:
    """kind 1 for a tweet, or kind 6 for a retweet (needs ``ctx.refs[original]``, else ConversionError).

    A retweet whose original is not in the document (deleted, protected) becomes a kind 1 of its own
    ``RT @…`` text instead.
    """
    original = doc.data.reference("retweeted")
    if original is not None and doc.tweet(original) is not None:
        return _build_repost(doc, original, ctx)
    return _build_note(doc, ctx)


def _build_repost(doc: TweetDocument, original: str, ctx: BuildContext) -> UnsignedEvent:
    ref = ctx.refs.get(original)
    if ref is None:
        raise ConversionError(
            f"retweet {doc.data.id}: the original tweet {original} must be published before its repost"
        )
    tags: list[tuple[str, ...]] = [
        ("e", ref.event_id, ctx.first_relay or ""),
        ("p", ref.pubkey),
        ("proxy", tweet_url(doc.data.id), "web"),
        ("r", tweet_url(doc.data.id)),
        CLIENT_TAG,
    ]
    return UnsignedEvent(
        pubkey=_author_pubkey(doc, ctx),
        created_at=_created_at(doc),
        kind=KIND_REPOST,
        tags=tuple(tags),
        content=ref.event_json,
    )


def _media_links(doc: TweetDocument, ctx: BuildContext) -> list[MediaLink]:
    links: list[MediaLink] = []
    keys = doc.data.attachments.media_keys if doc.data.attachments else []
    for key in keys:
        link = ctx.media.get(key)
        if link is None:
            media = doc.media(key)
            if media is None:
                continue
            link = original_media_link(media)
        if link.url and all(link.url != other.url for other in links):
            links.append(link)
    return links


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


def _mention_resolver(doc: TweetDocument) -> Callable[[MentionEntity], str | None]:
    """A mention's numeric user id: its own, else that of the included user of that name."""
    by_name: dict[str, str] | None = None

    def resolve(mention: MentionEntity) -> str | None:
        nonlocal by_name
        if mention.id and mention.id.isdigit():
            return mention.id
        if by_name is None:  # built once, and only for a mention without an id
            by_name = {u.username.lower(): u.id for u in doc.includes.users if u.username and u.id.isdigit()}
        return by_name.get(mention.username.lower())

    return resolve


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


def _thread_root(doc: TweetDocument, parent: str, parent_ref: EventRef, ctx: BuildContext) -> tuple[str, str]:
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


def _poll_block(doc: TweetDocument) -> str:
    ids = doc.data.attachments.poll_ids if doc.data.attachments else []
    blocks = []
    for poll in doc.includes.polls:
        if poll.id in ids and poll.options:
            options = sorted(poll.options, key=lambda o: o.position)
            lines = [f"{n}. {decode_html_entities(o.label)}" for n, o in enumerate(options, start=1)]
            blocks.append("\n".join(["Poll:", *lines]))
    return "\n\n".join(blocks)


def _build_note(doc: TweetDocument, ctx: BuildContext) -> UnsignedEvent:
    tweet = doc.data
    pubkey = _author_pubkey(doc, ctx)
    created_at = _created_at(doc)
    media = _media_links(doc, ctx)
    quoted = tweet.reference("quoted")
    quote_ref = ctx.refs.get(quoted) if quoted else None
    quote_text = ""
    if quoted is not None:
        if quote_ref is not None:
            relays = [ctx.first_relay] if ctx.first_relay else []
            quote_text = "nostr:" + nevent_of(quote_ref.event_id, relays, quote_ref.pubkey, quote_ref.kind)
        else:
            quoted_tweet = doc.tweet(quoted)
            quote_text = status_link(doc, quoted, quoted_tweet.author_id if quoted_tweet else None)
    quote_in_text = False

    def url_for(url: UrlEntity) -> str:
        nonlocal quote_in_text
        expanded = expanded_link(url)
        status = status_url_id(expanded)
        if url.media_key or (status is not None and status[1] and status[0] == tweet.id):
            return "" if media else expanded
        if status is not None and quoted is not None and status[0] == quoted and not status[1]:
            quote_in_text = True
            return quote_text if quote_ref is not None else expanded
        return expanded

    text, entities = _text_and_entities(tweet)
    rendered = render_text(
        text,
        entities,
        mention_id=_mention_resolver(doc),
        npub_for=lambda uid: npub_of(ctx.pubkey(uid)),
        url_for=url_for,
    )

    own_url = tweet_url(tweet.id)
    tags: list[tuple[str, ...]] = [("proxy", own_url, "web"), ("r", own_url)]
    header = ""
    replied_pubkey: str | None = None
    parent = tweet.reference("replied_to")
    if parent is not None:
        parent_ref = ctx.refs.get(parent)
        if parent_ref is not None:
            replied_pubkey = parent_ref.pubkey
            root_id, root_pubkey = _thread_root(doc, parent, parent_ref, ctx)
            if root_id == parent_ref.event_id:  # a direct reply to the root: only the "root" marker
                tags.append(("e", parent_ref.event_id, "", "root", parent_ref.pubkey))
            else:
                tags.append(
                    ("e", root_id, "", "root", root_pubkey) if root_pubkey else ("e", root_id, "", "root")
                )
                tags.append(("e", parent_ref.event_id, "", "reply", parent_ref.pubkey))
        else:
            parent_tweet = doc.tweet(parent)
            parent_author = tweet.in_reply_to_user_id or (parent_tweet.author_id if parent_tweet else None)
            header = "In reply to " + status_link(doc, parent, parent_author)
            if parent_author and parent_author.isdigit():
                replied_pubkey = ctx.pubkey(parent_author)
    if quote_ref is not None and quoted is not None:
        tags.append(("q", quote_ref.event_id, "", quote_ref.pubkey))

    pubkeys = [ctx.pubkey(uid) for uid in rendered.mentioned_ids]
    if replied_pubkey is not None:
        pubkeys.append(replied_pubkey)
    seen: set[str] = set()
    for pk in pubkeys:
        if pk not in seen:
            seen.add(pk)
            tags.append(("p", pk))
    tags += [("t", tag) for tag in rendered.hashtags]
    tags += [imeta_tag(link) for link in media]
    tags.append(CLIENT_TAG)

    content = join_blocks(
        [
            header,
            tidy(drop_truncated_link(rendered.text)),
            _poll_block(doc),
            "" if quote_in_text else quote_text,
            "\n".join(link.url for link in media),
            status_link(doc, tweet.id, tweet.author_id),
        ]
    )
    return UnsignedEvent(
        pubkey=pubkey, created_at=created_at, kind=KIND_NOTE, tags=tuple(tags), content=content
    )
