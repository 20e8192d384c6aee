"""A cached tweet document → its Nostr event (SPEC §4): kind 1, or kind 6 for a retweet. PURE: no I/O,
no clock; same input → same event id.

The content comes from :mod:`nostrweet.bridge.content`, the tags from :mod:`nostrweet.bridge.tags`
(NIP-10/18/48/92); what the build reads besides the document is the
:class:`~nostrweet.bridge.context.BuildContext` (plain mappings loaded beforehand). Profiles, relay
and Blossom lists are :mod:`nostrweet.bridge.profile`'s.
"""

from __future__ import annotations

from datetime import UTC, datetime

from nostrweet.bridge.content import (
    decode_html_entities,
    drop_truncated_link,
    expanded_link,
    join_blocks,
    render_text,
    status_url_id,
    tidy,
)
from nostrweet.bridge.context import BuildContext, ConversionError, mention_resolver, text_and_entities
from nostrweet.bridge.media import MediaLink, original_media_link
from nostrweet.bridge.tags import (
    CLIENT_TAG,
    imeta_tag,
    proxy_tags,
    quote_tag,
    reply_tags,
    repost_tags,
    tweet_url,
)
from nostrweet.nostr.event import UnsignedEvent, nevent_of, npub_of
from nostrweet.twitter.models import TweetDocument, UrlEntity

__all__ = [
    "KIND_NOTE",
    "KIND_REPOST",
    "build_tweet_event",
    "status_link",
]

KIND_NOTE = 1
KIND_REPOST = 6


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
    if user_id is not None:
        for user in doc.includes.users:  # a plain loop: the build's hot path (doc.user is a generator)
            if user.id == user_id:
                if user.username:
                    return f"https://x.com/{user.username}/status/{tweet_id}"
                break
    return tweet_url(tweet_id)


def build_tweet_event(doc: TweetDocument, ctx: BuildContext) -> UnsignedEvent:
    """kind 1 for a tweet, or kind 6 for a retweet (needs ``ctx.refs[original]``, else ConversionError).

    A retweet whose original is not in the document (deleted, protected) becomes a kind 1 of its own
    ``RT @…`` text instead.
    """
    original = doc.data.reference("retweeted") if doc.data.referenced_tweets else None
    if original is not None and doc.tweet(original) is not None:
        return _build_repost(doc, original, ctx)
    return _build_note(doc, ctx)


def _build_repost(doc: TweetDocument, original: str, ctx: BuildContext) -> UnsignedEvent:
    ref = ctx.refs.get(original)
    if ref is None:
        raise ConversionError(
            f"retweet {doc.data.id}: the original tweet {original} must be published before its repost"
        )
    tags = repost_tags(doc.data.id, ref, ctx.first_relay)
    return UnsignedEvent(
        pubkey=_author_pubkey(doc, ctx),
        created_at=_created_at(doc),
        kind=KIND_REPOST,
        tags=tuple(tags),
        content=ref.event_json,
    )


def _media_links(doc: TweetDocument, ctx: BuildContext) -> list[MediaLink]:
    links: list[MediaLink] = []
    attachments = doc.data.attachments
    if attachments is None or not attachments.media_keys:
        return links
    for key in attachments.media_keys:
        link = ctx.media.get(key)
        if link is None:
            for media in doc.includes.media:  # doc.media(key), as a plain loop
                if media.media_key == key:
                    break
            else:
                continue
            link = original_media_link(media)
        if link.url and all(link.url != other.url for other in links):
            links.append(link)
    return links


def _poll_block(doc: TweetDocument) -> str:
    ids = doc.data.attachments.poll_ids if doc.data.attachments else []
    if not ids:
        return ""
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
    referenced = bool(tweet.referenced_tweets)
    quoted = tweet.reference("quoted") if referenced else None
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
        if url.media_key:
            return "" if media else expanded
        status = status_url_id(expanded)
        if status is not None and status[1] and status[0] == tweet.id:
            return "" if media else expanded
        if status is not None and quoted is not None and status[0] == quoted and not status[1]:
            quote_in_text = True
            return quote_text if quote_ref is not None else expanded
        return expanded

    text, entities = text_and_entities(tweet)
    rendered = render_text(
        text,
        entities,
        mention_id=mention_resolver(doc),
        npub_for=lambda uid: npub_of(ctx.pubkey(uid)),
        url_for=url_for,
    )

    tags = proxy_tags(tweet.id)
    header = ""
    replied_pubkey: str | None = None
    parent = tweet.reference("replied_to") if referenced else None
    if parent is not None:
        parent_ref = ctx.refs.get(parent)
        if parent_ref is not None:
            replied_pubkey = parent_ref.pubkey
            tags += reply_tags(doc, parent, parent_ref, ctx)
        else:
            parent_tweet = doc.tweet(parent)
            parent_author = tweet.in_reply_to_user_id or (parent_tweet.author_id if parent_tweet else None)
            header = "In reply to " + status_link(doc, parent, parent_author)
            if parent_author and parent_author.isdigit():
                replied_pubkey = ctx.pubkey(parent_author)
    if quote_ref is not None and quoted is not None:
        tags.append(quote_tag(quote_ref))

    pubkeys = [ctx.pubkey(uid) for uid in rendered.mentioned_ids]
    if replied_pubkey is not None:
        pubkeys.append(replied_pubkey)
    if len(pubkeys) > 1:
        pubkeys = list(dict.fromkeys(pubkeys))
    for pk in pubkeys:
        tags.append(("p", pk))
    for tag in rendered.hashtags:
        tags.append(("t", tag))
    for link in media:
        tags.append(imeta_tag(link))
    tags.append(CLIENT_TAG)

    content = join_blocks(
        [
            header,
            tidy(drop_truncated_link(rendered.text)),
            _poll_block(doc),
            "" if quote_in_text else quote_text,
            "\n".join([link.url for link in media]),
            status_link(doc, tweet.id, tweet.author_id),
        ]
    )
    return UnsignedEvent(
        pubkey=pubkey, created_at=created_at, kind=KIND_NOTE, tags=tuple(tags), content=content
    )
