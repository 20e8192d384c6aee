"""Typed views of X API v2 objects and of the cached tweet document (docs/CACHE.md).

The cache stores the raw JSON the API returned; these msgspec structs are how code reads it. They are
lenient on purpose: unknown fields are ignored, and every field the API may omit has a default. Real
data is looser than the OpenAPI spec (see shared/twitter-api/README), so nothing here is stricter
than it must be.
"""

from __future__ import annotations

from typing import Any

import msgspec


class _Base(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=False, gc=False):
    pass


class UrlEntity(_Base):
    start: int = 0
    end: int = 0
    url: str = ""
    expanded_url: str | None = None
    display_url: str | None = None
    unwound_url: str | None = None
    media_key: str | None = None


class MentionEntity(_Base):
    start: int = 0
    end: int = 0
    username: str = ""
    id: str | None = None


class HashtagEntity(_Base):
    start: int = 0
    end: int = 0
    tag: str = ""


class Entities(_Base):
    urls: list[UrlEntity] = []
    mentions: list[MentionEntity] = []
    hashtags: list[HashtagEntity] = []
    cashtags: list[HashtagEntity] = []


class NoteTweet(_Base):
    text: str = ""
    entities: Entities | None = None


class ReferencedTweet(_Base):
    type: str  # "retweeted" | "quoted" | "replied_to"
    id: str


class Attachments(_Base):
    media_keys: list[str] = []
    poll_ids: list[str] = []


class Tweet(_Base):
    id: str
    text: str = ""
    author_id: str | None = None
    created_at: str | None = None
    conversation_id: str | None = None
    in_reply_to_user_id: str | None = None
    referenced_tweets: list[ReferencedTweet] = []
    attachments: Attachments | None = None
    entities: Entities | None = None
    note_tweet: NoteTweet | None = None
    display_text_range: list[int] | None = None
    lang: str | None = None
    possibly_sensitive: bool | None = None

    def reference(self, kind: str) -> str | None:
        """The id of the first referenced tweet of this type ("retweeted", "quoted", "replied_to")."""
        for ref in self.referenced_tweets:
            if ref.type == kind:
                return ref.id
        return None


class UserUrlEntities(_Base):
    urls: list[UrlEntity] = []


class UserEntities(_Base):
    url: UserUrlEntities | None = None
    description: Entities | None = None


class User(_Base):
    id: str
    username: str
    name: str = ""
    description: str | None = None
    profile_image_url: str | None = None
    url: str | None = None
    entities: UserEntities | None = None
    protected: bool | None = None
    created_at: str | None = None
    location: str | None = None


class Variant(_Base):
    content_type: str = ""
    url: str = ""
    bit_rate: int | None = None


class Media(_Base):
    media_key: str
    type: str  # "photo" | "video" | "animated_gif"
    url: str | None = None
    preview_image_url: str | None = None
    width: int | None = None
    height: int | None = None
    alt_text: str | None = None
    duration_ms: int | None = None
    variants: list[Variant] = []


class PollOption(_Base):
    position: int = 0
    label: str = ""
    votes: int | None = None


class Poll(_Base):
    id: str
    options: list[PollOption] = []
    duration_minutes: int | None = None
    end_datetime: str | None = None
    voting_status: str | None = None


class Problem(_Base):
    """An entry of a response's ``errors`` array (a Problem in the OpenAPI spec)."""

    title: str = ""
    detail: str | None = None
    type: str = ""
    value: str | None = None
    resource_id: str | None = None
    resource_type: str | None = None
    parameter: str | None = None


class Includes(_Base):
    users: list[User] = []
    tweets: list[Tweet] = []
    media: list[Media] = []
    polls: list[Poll] = []


class CacheMeta(_Base):
    """What nostrweet adds to a cached tweet document under the ``nostrweet`` key."""

    format: int = 1
    fetched_at: str | None = None
    source: str | None = None
    """Where the document came from when not from the API: ``x-archive``, or ``nostrweet-rust`` (a
    file of the earlier tool, read in its own shape)."""


class TweetDocument(_Base):
    """A cached tweet file: the tweet, everything enrichment gathered around it, and our metadata.

    ``data`` is the tweet exactly as the API returned it. ``includes`` holds the referenced tweets (at
    most 3 levels deep), their authors and the mentioned users that could be resolved, and all their
    media and polls. ``errors`` keeps the API's Problems for referenced ids that could not be had.
    """

    data: Tweet
    includes: Includes = msgspec.field(default_factory=Includes)
    errors: list[Problem] = []
    nostrweet: CacheMeta = msgspec.field(default_factory=CacheMeta)

    def user(self, user_id: str | None) -> User | None:
        """The included user with this id."""
        if user_id is None:
            return None
        return next((u for u in self.includes.users if u.id == user_id), None)

    def tweet(self, tweet_id: str | None) -> Tweet | None:
        """The included (referenced) tweet with this id."""
        if tweet_id is None:
            return None
        return next((t for t in self.includes.tweets if t.id == tweet_id), None)

    def media(self, media_key: str) -> Media | None:
        """The included media object with this key."""
        return next((m for m in self.includes.media if m.media_key == media_key), None)

    def author(self) -> User | None:
        """The author of the main tweet."""
        return self.user(self.data.author_id)


_DOCUMENT = msgspec.json.Decoder(TweetDocument)


def decode_document(raw: bytes | dict[str, Any]) -> TweetDocument:
    """Decode a cached tweet file (bytes) or an already-parsed dict into a :class:`TweetDocument`."""
    if isinstance(raw, bytes):
        return _DOCUMENT.decode(raw)
    return msgspec.convert(raw, type=TweetDocument, strict=False)
