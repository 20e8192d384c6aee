"""What a tweet's build reads besides its document (SPEC §4). PURE.

:class:`BuildContext` holds it as plain mappings loaded beforehand: the mirror pubkeys of the users a
document names, the media links, and the events already built for the tweets it references
(:class:`EventRef`). :func:`needed_users` and :func:`needed_refs` say which entries a document needs;
:func:`dependencies` which tweets to publish before it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

import msgspec

from nostrweet.bridge.media import MediaLink
from nostrweet.errors import NostrweetError
from nostrweet.twitter.models import Entities, MentionEntity, Tweet, TweetDocument

__all__ = [
    "BuildContext",
    "ConversionError",
    "EventRef",
    "dependencies",
    "mention_resolver",
    "needed_refs",
    "needed_users",
    "sub_document",
    "text_and_entities",
]


class ConversionError(NostrweetError):
    """A tweet document cannot become an event as asked (e.g. a retweet whose original is not built)."""


class EventRef(msgspec.Struct, frozen=True, gc=False):
    """An event already built/signed for another tweet (parent, quoted, original).

    A reply's root is read from its parent's ``event_json`` (its ``root`` e tag), so the builder knows
    the chain's root without reading anything itself.
    """

    event_id: str
    pubkey: str
    kind: int
    event_json: str  # the signed event (kind 6 content)


class BuildContext(msgspec.Struct, frozen=True):
    """Everything besides the document that decides the events, as plain values loaded beforehand:
    building reads nothing else (no disk, no state, no key derivation).

    ``pubkeys`` must hold every id of :func:`needed_users` of the document, and ``refs`` every id of
    :func:`needed_refs` that has an event (a ref that is absent is a tweet not mirrored).
    """

    pubkeys: Mapping[str, str]  # numeric user id -> hex pubkey of its mirror identity
    media: Mapping[str, MediaLink] = msgspec.field(default_factory=lambda: MappingProxyType({}))
    refs: Mapping[str, EventRef] = msgspec.field(default_factory=lambda: MappingProxyType({}))
    first_relay: str | None = None

    def pubkey(self, user_id: str) -> str:
        """The mirror pubkey of a user id the build needs; ConversionError if it was not loaded."""
        try:
            return self.pubkeys[user_id]
        except KeyError:
            raise ConversionError(f"no mirror pubkey loaded for user {user_id}") from None


def text_and_entities(tweet: Tweet) -> tuple[str, Entities | None]:
    """The text a note is rendered from (``note_tweet`` where present) and its entities."""
    note = tweet.note_tweet
    if note is not None and note.text:
        return note.text, note.entities or tweet.entities
    return tweet.text, tweet.entities


def mention_resolver(doc: TweetDocument) -> Callable[[MentionEntity], str | None]:
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


def needed_users(doc: TweetDocument) -> list[str]:
    """The user ids whose mirror pubkeys building ``doc`` may read (``BuildContext.pubkeys``): the
    author, each mention that resolves to an id, and a reply's parent author; first-seen order."""
    tweet = doc.data
    out: list[str] = [tweet.author_id] if tweet.author_id else []
    referenced = bool(tweet.referenced_tweets)
    original = tweet.reference("retweeted") if referenced else None
    if original is not None and doc.tweet(original) is not None:
        return out  # a repost names only its author; the original's pubkey comes with its ref
    _, entities = text_and_entities(tweet)
    if entities is not None and entities.mentions:
        resolve: Callable[[MentionEntity], str | None] | None = None
        for mention in entities.mentions:
            if not mention.username:
                continue
            uid = mention.id
            if not (uid and uid.isdigit()):  # what mention_resolver answers, built only when needed
                if resolve is None:
                    resolve = mention_resolver(doc)
                uid = resolve(mention)
            if uid is not None:
                out.append(uid)
    parent = tweet.reference("replied_to") if referenced else None
    if parent is not None:
        parent_tweet = doc.tweet(parent)
        parent_author = tweet.in_reply_to_user_id or (parent_tweet.author_id if parent_tweet else None)
        if parent_author and parent_author.isdigit():
            out.append(parent_author)
    return list(dict.fromkeys(out)) if len(out) > 1 else out


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
