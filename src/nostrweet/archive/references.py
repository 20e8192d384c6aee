"""The references of tweets (SPEC §4 "References", issue #2): the per-run memo and the enrichment.

Everything X answered in a run is remembered here as typed values with their raw JSON
(:class:`~nostrweet.twitter.wire.Decoded`): tweets, users, media, polls, and the referenced ids it
could not give. :meth:`References.enrich` follows referenced tweets at most 3 levels deep, looking up
(in batches of 100, each id at most once per run) those neither in a response's includes nor
complete (media missing), and resolves their authors. :meth:`References.document` builds the cached
document of one tweet (docs/CACHE.md) from the raw objects, so the file holds what X sent.
"""

from __future__ import annotations

import logging
from typing import Any

from nostrweet.archive.media_fetch import canonical_id
from nostrweet.twitter.client import TwitterClient
from nostrweet.twitter.models import Media, MentionEntity, Poll, Tweet, User
from nostrweet.twitter.wire import Decoded, WireIncludes, decode_media, decode_tweet, decode_user

log = logging.getLogger(__name__)

MAX_DEPTH = 3
DOCUMENT_FORMAT = 1


def _raw_refs(tweet: Tweet | None) -> list[str]:
    return [r.id for r in tweet.referenced_tweets] if tweet is not None else []


def _refs(tweet: Tweet | None) -> list[str]:
    """The referenced ids that are canonical tweet ids (the others are never followed)."""
    return [r for r in _raw_refs(tweet) if canonical_id(r)]


def media_keys(tweet: Tweet) -> list[str]:
    return list(tweet.attachments.media_keys) if tweet.attachments is not None else []


def _poll_ids(tweet: Tweet) -> list[str]:
    return list(tweet.attachments.poll_ids) if tweet.attachments is not None else []


def _mentions(tweet: Tweet) -> list[MentionEntity]:
    out: list[MentionEntity] = []
    for entities in (tweet.entities, tweet.note_tweet.entities if tweet.note_tweet is not None else None):
        if entities is not None:
            out.extend(entities.mentions)
    return out


def _merged(old: Decoded[Tweet] | None, new: Decoded[Tweet]) -> Decoded[Tweet]:
    """The same tweet seen again: the fields of both raw objects (the newer wins), read again."""
    if old is None or old.raw == new.raw:
        return new
    merged = decode_tweet({**old.raw, **new.raw})
    return merged if merged is not None else new


class References:
    """The per-run memo of what X answered, and the enrichment of tweets from it; one per run."""

    def __init__(self, client: TwitterClient) -> None:
        self.client = client
        # The per-run memo: objects seen in any response (typed, with their raw JSON for the files),
        # and what was already asked for.
        self.tweets: dict[str, Decoded[Tweet]] = {}
        self.users: dict[str, Decoded[User]] = {}
        self.media: dict[str, Decoded[Media]] = {}
        self.polls: dict[str, Decoded[Poll]] = {}
        self.missing: dict[str, dict[str, Any]] = {}
        self.looked_up: set[str] = set()
        self.users_looked_up: set[str] = set()
        self.bad_refs_seen: set[str] = set()
        self.unreadable: set[str] = set()  # ids X answered in a shape the typed models cannot read

    def absorb(self, tweets: list[Decoded[Tweet]], includes: WireIncludes) -> None:
        for tweet in [*tweets, *includes.tweets]:
            tid = tweet.value.id
            self.tweets[tid] = _merged(self.tweets.get(tid), tweet)
            self._warn_bad_refs(tid, tweet.value)
        for user in includes.users:
            old = self.users.get(user.value.id)
            if old is not None and old.raw != user.raw:
                user = decode_user({**old.raw, **user.raw}) or user
            self.users[user.value.id] = user
        for media in includes.media:
            old_media = self.media.get(media.value.media_key)
            if old_media is not None and old_media.raw != media.raw:
                media = decode_media({**old_media.raw, **media.raw}) or media
            self.media[media.value.media_key] = media
        for poll in includes.polls:
            self.polls[poll.value.id] = poll

    def _warn_bad_refs(self, tweet_id: str, tweet: Tweet) -> None:
        for ref in _raw_refs(tweet):
            if not canonical_id(ref) and f"{tweet_id}/{ref}" not in self.bad_refs_seen:
                self.bad_refs_seen.add(f"{tweet_id}/{ref}")
                log.warning(
                    "tweet %s references %r, which is not a tweet id; skipped",
                    tweet_id,
                    ref,
                    extra={"tweet_id": tweet_id, "action": "enrich"},
                )

    def complete(self, tweet_id: str) -> bool:
        tweet = self.tweets.get(tweet_id)
        if tweet is None:
            return False
        return all(k in self.media for k in media_keys(tweet.value))

    async def lookup(self, ids: list[str]) -> None:
        need = [i for i in dict.fromkeys(ids) if i not in self.looked_up and i not in self.missing]
        if not need:
            return
        self.looked_up.update(need)
        result = await self.client.tweets_by_ids(need)
        self.absorb(list(result.tweets.values()), result.includes)
        for tid, problem in result.not_found.items():
            self.missing[tid] = problem
        self.unreadable.update(result.unreadable)

    def closure(self, root_id: str) -> list[str]:
        """Ids of the tweets referenced from ``root_id``, at most MAX_DEPTH levels, that the memo holds."""
        seen = {root_id}
        level = [root_id]
        found: list[str] = []
        for _ in range(MAX_DEPTH):
            level = [t for t in self._next_level(level, seen) if t in self.tweets]
            found.extend(level)
        return found

    def _next_level(self, level: list[str], seen: set[str]) -> list[str]:
        """Ids referenced by the tweets of ``level`` not seen before (added to ``seen``)."""
        following: list[str] = []
        for tid in level:
            for ref in _refs(self.value(tid)):
                if ref not in seen:
                    seen.add(ref)
                    following.append(ref)
        return following

    def referenced_missing(self, root_id: str) -> list[str]:
        seen = {root_id, *self.closure(root_id)}
        return [r for t in seen for r in _refs(self.value(t)) if r in self.missing]

    def value(self, tweet_id: str) -> Tweet | None:
        known = self.tweets.get(tweet_id)
        return known.value if known is not None else None

    async def enrich(self, root_ids: list[str]) -> None:
        """Make the memo hold every referenced tweet (≤ 3 levels) and every author of the roots."""
        level = list(root_ids)
        seen = set(root_ids)
        for _ in range(MAX_DEPTH):
            following = self._next_level(level, seen)
            await self.lookup([t for t in following if not self.complete(t)])
            level = [t for t in following if t in self.tweets]
        authors: list[str] = []
        for tid in seen:
            tweet = self.value(tid)
            if tweet is not None and tweet.author_id:
                authors.append(tweet.author_id)
        need = [a for a in dict.fromkeys(authors) if a not in self.users and a not in self.users_looked_up]
        if need:
            self.users_looked_up.update(need)
            self.users.update(await self.client.users_answer(need))

    def document(self, root_id: str, fetched_at: str) -> dict[str, Any]:
        """The document of one tweet, built from the raw objects X sent (docs/CACHE.md)."""
        root = self.tweets[root_id]
        tweets = [root, *(self.tweets[t] for t in self.closure(root_id))]
        user_ids: list[str] = []
        by_username = {u.value.username.lower(): uid for uid, u in self.users.items()}
        for tweet in (t.value for t in tweets):
            for uid in (tweet.author_id, tweet.in_reply_to_user_id):
                if uid:
                    user_ids.append(uid)
            for mention in _mentions(tweet):
                uid = mention.id or by_username.get(mention.username.lower())
                if uid:
                    user_ids.append(uid)
        keys = [k for t in tweets for k in media_keys(t.value)]
        poll_ids = [p for t in tweets for p in _poll_ids(t.value)]
        missing = self.referenced_missing(root_id)
        return {
            "data": root.raw,
            "includes": {
                "users": [self.users[u].raw for u in dict.fromkeys(user_ids) if u in self.users],
                "tweets": [t.raw for t in tweets[1:]],
                "media": [self.media[k].raw for k in dict.fromkeys(keys) if k in self.media],
                "polls": [self.polls[p].raw for p in dict.fromkeys(poll_ids) if p in self.polls],
            },
            "errors": [self.missing[m] for m in dict.fromkeys(missing)],
            "nostrweet": {"format": DOCUMENT_FORMAT, "fetched_at": fetched_at},
        }
