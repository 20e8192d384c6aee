"""X → cache orchestration: fetch tweets and timelines, enrich them, download media, cache profiles.

Enrichment of a tweet (SPEC §4 "References", issue #2):
- referenced tweets (retweeted, quoted, replied_to) are followed at most 3 levels deep; ids that
  are neither in a response's includes nor complete (media missing) are looked up in batches of 100,
  each id at most once per run (the per-run memo of this object);
- the authors of all those tweets are resolved (``/2/users?ids=`` in batches, for those not in the
  includes);
- media of the tweet and of its referenced tweets is downloaded (see :mod:`.media`), each file named
  after the tweet that carries it, and skipped when already cached;
- profiles of the referenced users (the tweet's author, or the timeline owner, and the authors of the
  referenced tweets) are cached as snapshots unless ``skip_profiles``. Profile rule: a profile is
  written at most once per run, and only when no snapshot exists or the newest is older than 24 h;
- the tweet document (docs/CACHE.md) is written last, so its presence means the tweet is complete.
Ids the API cannot give (deleted, protected) get a ``tweet_<id>.not_found`` marker.

One bad tweet never stops the others (issue 14): a media file that cannot be had (refused, 4xx, 5xx
that persists, too big, too slow) is a warning, and the tweet is cached without it; later runs try the
missing files again (:mod:`.media_fetch`: every timeline run of that user, and ``fetch-tweet`` of the
cached tweet). A referenced id that is not a canonical tweet id is skipped with a warning and never
asked for.

Timeline rule (``user-tweets``): the goal is that the ``count`` newest tweets of the user are cached.
With cached tweets, new ones are fetched with ``since_id`` = the newest cached id (none of the cached
ones again). If new + cached is still below ``count``, older tweets are fetched with
``until_id`` = the oldest cached id until ``count`` is reached or the timeline ends. New tweets are
written oldest first, so a crash never leaves a gap below the newest cached id; older ones (the
second phase) newest first, for the same reason at the other end.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from nostrweet.archive.media_fetch import MediaFetcher, canonical_id
from nostrweet.cache import layout
from nostrweet.store import CacheStore, created_at_of
from nostrweet.twitter.client import TwitterClient
from nostrweet.twitter.models import Media, TweetDocument, User, decode_document

log = logging.getLogger(__name__)

MAX_DEPTH = 3
PROFILE_MAX_AGE = timedelta(hours=24)
DOCUMENT_FORMAT = 1

Progress = Callable[[int, int], None]  # (done, total)


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class ArchiveResult:
    """What one archive run did: tweet ids written, already cached, and referenced ids not found.

    ``documents`` holds the documents this run wrote, by tweet id, as typed values: a caller that
    publishes them next (the daemon's poll) hands them to the publisher instead of reading the files.
    """

    user: User | None = None
    new: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)
    documents: dict[str, TweetDocument] = field(default_factory=dict)


def _raw_refs(tweet: dict[str, Any]) -> list[str]:
    return [str(r["id"]) for r in tweet.get("referenced_tweets") or [] if isinstance(r, dict) and "id" in r]


def _refs(tweet: dict[str, Any]) -> list[str]:
    """The referenced ids that are canonical tweet ids (the others are never followed)."""
    return [r for r in _raw_refs(tweet) if canonical_id(r)]


def _media_keys(tweet: dict[str, Any]) -> list[str]:
    attachments = tweet.get("attachments") or {}
    return [str(k) for k in attachments.get("media_keys") or []]


def _poll_ids(tweet: dict[str, Any]) -> list[str]:
    attachments = tweet.get("attachments") or {}
    return [str(k) for k in attachments.get("poll_ids") or []]


def _mentions(tweet: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for entities in (tweet.get("entities"), (tweet.get("note_tweet") or {}).get("entities")):
        if isinstance(entities, dict):
            out.extend(m for m in entities.get("mentions") or [] if isinstance(m, dict))
    return out


def _typed_media(raw: dict[str, Any] | None) -> Media | None:
    """A raw media object as the typed value the media choice reads (None: absent or not a media object)."""
    if raw is None:
        return None
    try:
        return msgspec.convert(raw, Media, strict=False)
    except msgspec.ValidationError:
        return None


class Archiver:
    """Fetches from X into a :class:`CacheStore`; one per run (its memo lives as long as it does)."""

    def __init__(
        self,
        store: CacheStore,
        client: TwitterClient,
        *,
        skip_profiles: bool = False,
        max_media_bytes: int = 512 * 2**20,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.store = store
        self.client = client
        self.skip_profiles = skip_profiles
        self.max_media_bytes = max_media_bytes
        self.media = MediaFetcher(store, client, max_bytes=max_media_bytes)
        self.clock = clock
        # The per-run memo: raw objects seen in any response, and what was already asked for.
        self._tweets: dict[str, dict[str, Any]] = {}
        self._users: dict[str, dict[str, Any]] = {}
        self._media: dict[str, dict[str, Any]] = {}
        self._polls: dict[str, dict[str, Any]] = {}
        self._missing: dict[str, dict[str, Any]] = {}
        self._looked_up: set[str] = set()
        self._users_looked_up: set[str] = set()
        self._profiles_done: set[str] = set()
        self._bad_refs_seen: set[str] = set()

    # -- the memo ---------------------------------------------------------------------------

    def _absorb(self, tweets: list[dict[str, Any]], includes: dict[str, list[dict[str, Any]]]) -> None:
        for tweet in [*tweets, *includes.get("tweets", [])]:
            tid = str(tweet["id"])
            self._tweets[tid] = {**self._tweets.get(tid, {}), **tweet}
            self._warn_bad_refs(tid, tweet)
        for user in includes.get("users", []):
            if "id" in user and "username" in user:
                uid = str(user["id"])
                self._users[uid] = {**self._users.get(uid, {}), **user}
        for media in includes.get("media", []):
            if "media_key" in media:
                key = str(media["media_key"])
                self._media[key] = {**self._media.get(key, {}), **media}
        for poll in includes.get("polls", []):
            if "id" in poll:
                self._polls[str(poll["id"])] = poll

    def _warn_bad_refs(self, tweet_id: str, tweet: dict[str, Any]) -> None:
        for ref in _raw_refs(tweet):
            if not canonical_id(ref) and f"{tweet_id}/{ref}" not in self._bad_refs_seen:
                self._bad_refs_seen.add(f"{tweet_id}/{ref}")
                log.warning(
                    "tweet %s references %r, which is not a tweet id; skipped",
                    tweet_id,
                    ref,
                    extra={"tweet_id": tweet_id, "action": "enrich"},
                )

    def _complete(self, tweet_id: str) -> bool:
        tweet = self._tweets.get(tweet_id)
        if tweet is None:
            return False
        return all(k in self._media for k in _media_keys(tweet))

    async def _lookup(self, ids: list[str]) -> None:
        need = [i for i in dict.fromkeys(ids) if i not in self._looked_up and i not in self._missing]
        if not need:
            return
        self._looked_up.update(need)
        result = await self.client.tweets_by_ids(need)
        self._absorb(list(result.tweets.values()), result.includes)
        for tid, problem in result.not_found.items():
            self._missing[tid] = problem

    def _closure(self, root_id: str) -> list[str]:
        """Ids of the tweets referenced from ``root_id``, at most MAX_DEPTH levels, that the memo holds."""
        seen = {root_id}
        level = [root_id]
        found: list[str] = []
        for _ in range(MAX_DEPTH):
            level = [t for t in self._next_level(level, seen) if t in self._tweets]
            found.extend(level)
        return found

    def _next_level(self, level: list[str], seen: set[str]) -> list[str]:
        """Ids referenced by the tweets of ``level`` not seen before (added to ``seen``)."""
        following: list[str] = []
        for tid in level:
            for ref in _refs(self._tweets.get(tid, {})):
                if ref not in seen:
                    seen.add(ref)
                    following.append(ref)
        return following

    def _referenced_missing(self, root_id: str) -> list[str]:
        seen = {root_id, *self._closure(root_id)}
        return [r for t in seen for r in _refs(self._tweets.get(t, {})) if r in self._missing]

    async def _enrich(self, root_ids: list[str]) -> None:
        """Make the memo hold every referenced tweet (≤ 3 levels) and every author of the roots."""
        level = list(root_ids)
        seen = set(root_ids)
        for _ in range(MAX_DEPTH):
            following = self._next_level(level, seen)
            await self._lookup([t for t in following if not self._complete(t)])
            level = [t for t in following if t in self._tweets]
        authors: list[str] = []
        for tid in seen:
            tweet = self._tweets.get(tid)
            if tweet is not None and tweet.get("author_id"):
                authors.append(str(tweet["author_id"]))
        need = [a for a in dict.fromkeys(authors) if a not in self._users and a not in self._users_looked_up]
        if need:
            self._users_looked_up.update(need)
            self._users.update(await self.client.users_by_ids_raw(need))

    # -- one tweet ----------------------------------------------------------------------------

    def _document(self, root_id: str) -> dict[str, Any]:
        root = self._tweets[root_id]
        tweets = [root, *(self._tweets[t] for t in self._closure(root_id))]
        user_ids: list[str] = []
        by_username = {u["username"].lower(): uid for uid, u in self._users.items()}
        for tweet in tweets:
            for uid in (tweet.get("author_id"), tweet.get("in_reply_to_user_id")):
                if uid:
                    user_ids.append(str(uid))
            for mention in _mentions(tweet):
                uid = mention.get("id") or by_username.get(str(mention.get("username", "")).lower())
                if uid:
                    user_ids.append(str(uid))
        media_keys = [k for t in tweets for k in _media_keys(t)]
        poll_ids = [p for t in tweets for p in _poll_ids(t)]
        missing = self._referenced_missing(root_id)
        return {
            "data": root,
            "includes": {
                "users": [self._users[u] for u in dict.fromkeys(user_ids) if u in self._users],
                "tweets": tweets[1:],
                "media": [self._media[k] for k in dict.fromkeys(media_keys) if k in self._media],
                "polls": [self._polls[p] for p in dict.fromkeys(poll_ids) if p in self._polls],
            },
            "errors": [self._missing[m] for m in dict.fromkeys(missing)],
            "nostrweet": {"format": DOCUMENT_FORMAT, "fetched_at": _iso(self.clock())},
        }

    async def _download_media(self, tweet: dict[str, Any]) -> bool:
        author = self._users.get(str(tweet.get("author_id")))
        if author is None:
            log.warning(
                "tweet %s: author unknown, its media is not downloaded",
                tweet["id"],
                extra={"tweet_id": tweet["id"], "action": "media"},
            )
            return True
        media = [_typed_media(self._media.get(key)) for key in _media_keys(tweet)]
        return await self.media.download_items(str(author["username"]), str(tweet["id"]), media)

    async def _maybe_write_profile(self, raw_user: dict[str, Any]) -> None:
        username = str(raw_user["username"]).lower()
        if username in self._profiles_done:
            return
        self._profiles_done.add(username)
        now = self.clock()
        fetched = self.store.profile_fetched_at(username)
        if fetched is not None and now - fetched < PROFILE_MAX_AGE:
            return
        # the file is synced: in a worker thread, so a daemon's loop goes on meanwhile
        name = await asyncio.to_thread(self.store.save_profile_file, raw_user, now)
        self.store.note_profile(name)

    async def _save(self, root_id: str) -> TweetDocument:
        """Download media, cache profiles, then write the document of one enriched tweet; returns it."""
        root = self._tweets[root_id]
        closure = [self._tweets[t] for t in self._closure(root_id)]
        complete = True
        for tweet in (root, *closure):
            complete = await self._download_media(tweet) and complete
        if not self.skip_profiles:
            for tweet in (root, *closure):
                user = self._users.get(str(tweet.get("author_id")))
                if user is not None:
                    await self._maybe_write_profile(user)
        for missing in self._referenced_missing(root_id):
            if not self.store.is_not_found(missing):
                self.store.mark_not_found(missing, self._missing[missing])
        raw_document = self._document(root_id)
        self.store.write_tweet(raw_document)
        log.debug("tweet %s: cached", root_id, extra={"tweet_id": str(root_id), "action": "cache"})
        author = self._users.get(str(root.get("author_id")))
        if not complete and author is not None:
            self.media.mark(root_id, str(author["username"]), complete)
        return decode_document(raw_document)

    async def fetch_tweet(self, tweet_id: str) -> TweetDocument | None:
        """The tweet document: from the cache, else fetched, enriched and cached. None if not found."""
        tweet_id = str(int(tweet_id))
        if self.store.has_tweet(tweet_id):
            cached = self.store.read_tweet(tweet_id)
            if cached is not None:
                await self.media.retry_document(cached)
                return cached
        if self.store.is_not_found(tweet_id) or tweet_id in self._missing:
            return None
        if not self._complete(tweet_id):
            await self._lookup([tweet_id])
        if tweet_id not in self._tweets:
            problem = self._missing.get(tweet_id)
            self.store.mark_not_found(tweet_id, problem)
            return None
        await self._enrich([tweet_id])
        return await self._save(tweet_id)

    def not_found_problem(self, tweet_id: str) -> dict[str, Any] | None:
        """The API's Problem for an id that could not be had this run, if any."""
        return self._missing.get(str(tweet_id))

    # -- users --------------------------------------------------------------------------------

    async def fetch_profile(self, username: str) -> User:
        """Fetch a profile from the API and write a snapshot (always, whatever its age)."""
        raw = await self.client.user_by_username_raw(username)
        self._users[str(raw["id"])] = raw
        self.store.write_profile(raw, self.clock())
        self._profiles_done.add(str(raw["username"]).lower())
        return msgspec.convert(raw, User, strict=False)

    async def resolve_user(self, username: str) -> User:
        """The user: the newest cached profile if any, else fetched from the API and cached."""
        name = layout.normalize_username(username)
        cached = self.store.newest_profile_raw(name)
        if cached is not None:
            self._users.setdefault(str(cached["id"]), cached)
            return msgspec.convert(cached, User, strict=False)
        return await self.fetch_profile(name)

    async def _fetch_again(self, username: str, planned: set[str]) -> list[str]:
        """Look up by id (batched) the user's tweets whose files were moved aside (``*.corrupt``) and
        are not cached again: the timeline's ``since_id``/``until_id`` would never ask for such a hole
        (SPEC §2). Returns the ids found, to be cached as usual; the ``.corrupt`` files stay."""
        ids = [str(t) for t in self.store.corrupt_tweet_ids_of(username) if str(t) not in planned]
        if not ids:
            return []
        await self._lookup(ids)
        for tid in ids:
            if tid in self._missing and not self.store.is_not_found(tid):
                self.store.mark_not_found(tid, self._missing[tid])
        found = [t for t in ids if t in self._tweets]
        log.info(
            "@%s: fetching %d tweet(s) again whose cached file was corrupt",
            username,
            len(found),
            extra={"user": username, "action": "refetch"},
        )
        return found

    # -- timelines ----------------------------------------------------------------------------

    async def _page_through(
        self,
        user_id: str,
        *,
        want: int | None,
        since_id: str | None,
        until_id: str | None,
        cutoff: datetime | None,
    ) -> list[dict[str, Any]]:
        """Timeline tweets newest first, paging until ``want`` tweets, the cutoff or the end."""
        got: list[dict[str, Any]] = []
        ids: set[str] = set()
        token: str | None = None
        start_time = _iso(cutoff) if cutoff is not None else None
        while want is None or len(got) < want:
            ask = 100 if want is None else want - len(got)
            page = await self.client.user_timeline(
                user_id,
                since_id=since_id,
                until_id=until_id,
                max_results=ask,
                pagination_token=token,
                start_time=start_time,
            )
            self._absorb(page.tweets, page.includes)
            log.debug("timeline of user %s: a page of %d tweets", user_id, len(page.tweets))
            too_old = False
            for tweet in page.tweets:
                if cutoff is not None and created_at_of(tweet) < cutoff:
                    too_old = True
                    continue
                if str(tweet["id"]) not in ids:
                    ids.add(str(tweet["id"]))
                    got.append(tweet)
            if too_old or not page.next_token or not page.tweets:
                break
            token = page.next_token
        got.sort(key=lambda t: int(t["id"]), reverse=True)
        return got if want is None else got[:want]

    async def archive_timeline(
        self,
        username: str,
        *,
        count: int | None,
        days: int | None = None,
        since_id: str | None = None,
        progress: Progress | None = None,
        user: User | None = None,
    ) -> ArchiveResult:
        """Cache the ``count`` newest tweets of a user (all new ones if None); see the module docstring.
        ``user``: the user as resolved already (the daemon's every poll), so its profile is not read again."""
        if user is None:
            user = await self.resolve_user(username)
        result = ArchiveResult(user=user)
        await self.media.retry_marked(user.username)
        cutoff = self.clock() - timedelta(days=days) if days else None
        explicit = since_id is not None
        # (one aggregate, not every id; nothing to ask when the caller knows where to start: the daemon)
        cached, oldest, newest = self.store.tweet_span(user.username) if not explicit or count else (0, 0, 0)
        since = since_id or (str(newest) if cached else None)
        newer = await self._page_through(user.id, want=count, since_id=since, until_id=None, cutoff=cutoff)
        older: list[dict[str, Any]] = []
        if count is not None and cached and not explicit and len(newer) + cached < count:
            older = await self._page_through(
                user.id,
                want=count - len(newer) - cached,
                since_id=None,
                until_id=str(oldest),
                cutoff=cutoff,
            )
        todo = [t for t in reversed(newer)] + older  # new ones oldest first, then older ones newest first
        fresh = [str(t["id"]) for t in todo if not self.store.has_tweet(t["id"])]
        result.skipped = [str(t["id"]) for t in todo if self.store.has_tweet(t["id"])]
        fresh += await self._fetch_again(user.username, set(fresh))
        for tweet_id in result.skipped:
            known = self.store.read_tweet(tweet_id)
            if known is not None:
                await self.media.retry_document(known)
        await self._enrich(fresh)
        for done, tweet_id in enumerate(fresh, 1):
            result.documents[tweet_id] = await self._save(tweet_id)
            result.new.append(tweet_id)
            result.not_found.extend(
                m for m in self._referenced_missing(tweet_id) if m not in result.not_found
            )
            if progress is not None:
                progress(done, len(fresh))
        if not self.skip_profiles and user.username.lower() not in self._profiles_done:
            raw = self._users.get(user.id)
            if raw is not None:
                await self._maybe_write_profile(raw)
        return result
