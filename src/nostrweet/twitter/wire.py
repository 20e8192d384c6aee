"""PURE: X's answers decoded once into typed values at the twitter/ boundary, each kept with its raw JSON.

Every object the archiver reads (a tweet, a user, a media object, a poll) arrives as a :class:`Decoded`:
the typed msgspec value code reads, and the object exactly as X sent it, which is what the cached
file stores (docs/CACHE.md), so files are byte-identical to what the API returned.

Leniency (X is a hostile peer; docs/CACHE.md "What nostrweet accepts from X"):
- ids given as JSON numbers are read as strings (the raw object keeps the number);
- a ``referenced_tweets`` entry without a ``type`` (or without an id) is dropped;
- unknown fields are ignored, and every field X may omit has a default;
- an object that cannot be read even so (no id, a field of the wrong kind) is dropped with one
  warning naming it, as objects without an id always were: one bad object never stops the others.
An answer that is not a JSON object is a :class:`~nostrweet.errors.TwitterApiError` (the session
raises it), and so is a by-username answer whose user cannot be read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec

from nostrweet.twitter.models import Media, Poll, Tweet, User, ids_as_strings, tweet_shape

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Decoded(Generic[T]):
    """A typed value and the raw JSON object it was read from (kept for the cached file)."""

    value: T
    raw: dict[str, Any]


def _convert(shape: dict[str, Any], kind: type[T]) -> T:
    return msgspec.convert(shape, kind, strict=False)


def _decode(raw: Any, kind: type[T], shape: dict[str, Any] | None, what: str) -> Decoded[T] | None:
    if not isinstance(raw, dict):
        log.warning("X API answered a %s that is not an object; skipped", what)
        return None
    try:
        return Decoded(_convert(raw if shape is None else shape, kind), raw)
    except msgspec.ValidationError as exc:
        ident = raw.get("id", raw.get("media_key"))
        log.warning("X API answered a %s nostrweet cannot read (%s: %s); skipped", what, ident, exc)
        return None


def decode_tweet(raw: Any) -> Decoded[Tweet] | None:
    """A raw tweet object as a typed tweet; None (with a warning) if it cannot be read."""
    return _decode(raw, Tweet, tweet_shape(raw) if isinstance(raw, dict) else None, "tweet")


def decode_user(raw: Any) -> Decoded[User] | None:
    """A raw user object as a typed user; None (with a warning) if it cannot be read."""
    return _decode(raw, User, ids_as_strings(raw, "id") if isinstance(raw, dict) else None, "user")


def decode_media(raw: Any) -> Decoded[Media] | None:
    """A raw media object as a typed media object; None (with a warning) if it cannot be read."""
    return _decode(raw, Media, ids_as_strings(raw, "media_key") if isinstance(raw, dict) else None, "media")


def decode_poll(raw: Any) -> Decoded[Poll] | None:
    """A raw poll object as a typed poll; None (with a warning) if it cannot be read."""
    return _decode(raw, Poll, ids_as_strings(raw, "id") if isinstance(raw, dict) else None, "poll")


def _all(items: Any, decode: Any) -> list[Any]:
    if not isinstance(items, list):
        return []
    return [d for d in (decode(i) for i in items) if d is not None]


def decode_tweets(items: Any) -> list[Decoded[Tweet]]:
    """The readable tweets of a ``data`` or ``includes.tweets`` list (anything else gives none)."""
    return _all(items, decode_tweet)


@dataclass(slots=True)
class WireIncludes:
    """A response's ``includes``, decoded: users, tweets, media and polls, each with its raw object."""

    users: list[Decoded[User]]
    tweets: list[Decoded[Tweet]]
    media: list[Decoded[Media]]
    polls: list[Decoded[Poll]]

    @classmethod
    def empty(cls) -> WireIncludes:
        return cls([], [], [], [])

    def extend(self, raw: Any) -> None:
        """Add the readable objects of a raw ``includes`` object (anything else adds nothing)."""
        if not isinstance(raw, dict):
            return
        self.users.extend(_all(raw.get("users"), decode_user))
        self.tweets.extend(_all(raw.get("tweets"), decode_tweet))
        self.media.extend(_all(raw.get("media"), decode_media))
        self.polls.extend(_all(raw.get("polls"), decode_poll))
