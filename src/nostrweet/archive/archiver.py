"""X → cache orchestration: fetch tweets and timelines, enrich them, download media, cache profiles.

Enrichment of a tweet (SPEC §4 "References", issue #2):
- referenced tweets (retweeted, quoted, replied_to) are followed at most 3 levels deep and their
  authors resolved (:mod:`.references`: the per-run memo of typed answers and the lookups);
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

from nostrweet.archive.media_fetch import MediaFetcher
from nostrweet.archive.references import References, media_keys
from nostrweet.cache import layout
from nostrweet.errors import TwitterApiError
from nostrweet.store import CacheStore, created_at_of
from nostrweet.twitter.client import TwitterClient
from nostrweet.twitter.models import Tweet, TweetDocument, User, decode_document
from nostrweet.twitter.wire import Decoded, decode_user

log = logging.getLogger(__name__)

PROFILE_MAX_AGE = timedelta(hours=24)

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
        self.refs = References(client)  # the per-run memo and the enrichment of references
        self._profiles_done: set[str] = set()

    async def _download_media(self, tweet: Tweet) -> bool:
        author = self.refs.users.get(str(tweet.author_id))
        if author is None:
            log.warning(
                "tweet %s: author unknown, its media is not downloaded",
                tweet.id,
                extra={"tweet_id": tweet.id, "action": "media"},
            )
            return True
        media = [
            m.value if (m := self.refs.media.get(key)) is not None else None for key in media_keys(tweet)
        ]
        return await self.media.download_items(author.value.username, tweet.id, media)

    async def _maybe_write_profile(self, user: Decoded[User]) -> None:
        username = user.value.username.lower()
        if username in self._profiles_done:
            return
        self._profiles_done.add(username)
        now = self.clock()
        fetched = self.store.profile_fetched_at(username)
        if fetched is not None and now - fetched < PROFILE_MAX_AGE:
            return
        # the file is synced: in a worker thread, so a daemon's loop goes on meanwhile
        name = await asyncio.to_thread(self.store.save_profile_file, user.raw, now)
        self.store.note_profile(name)

    async def _save(self, root_id: str) -> TweetDocument:
        """Download media, cache profiles, then write the document of one enriched tweet; returns it."""
        root = self.refs.tweets[root_id].value
        closure = [self.refs.tweets[t].value for t in self.refs.closure(root_id)]
        complete = True
        for tweet in (root, *closure):
            complete = await self._download_media(tweet) and complete
        if not self.skip_profiles:
            for tweet in (root, *closure):
                user = self.refs.users.get(str(tweet.author_id))
                if user is not None:
                    await self._maybe_write_profile(user)
        for missing in self.refs.referenced_missing(root_id):
            if not self.store.is_not_found(missing):
                self.store.mark_not_found(missing, self.refs.missing[missing])
        raw_document = self.refs.document(root_id, _iso(self.clock()))
        self.store.write_tweet(raw_document)
        log.debug("tweet %s: cached", root_id, extra={"tweet_id": str(root_id), "action": "cache"})
        author = self.refs.users.get(str(root.author_id))
        if not complete and author is not None:
            self.media.mark(root_id, author.value.username, complete)
        return decode_document(raw_document)

    async def fetch_tweet(self, tweet_id: str) -> TweetDocument | None:
        """The tweet document: from the cache, else fetched, enriched and cached. None if not found."""
        tweet_id = str(int(tweet_id))
        if self.store.has_tweet(tweet_id):
            cached = self.store.read_tweet(tweet_id)
            if cached is not None:
                await self.media.retry_document(cached)
                return cached
        if self.store.is_not_found(tweet_id) or tweet_id in self.refs.missing:
            return None
        if not self.refs.complete(tweet_id):
            await self.refs.lookup([tweet_id])
        if tweet_id in self.refs.unreadable and tweet_id not in self.refs.tweets:
            raise TwitterApiError(f"X API answered tweet {tweet_id} in a shape nostrweet cannot read")
        if tweet_id not in self.refs.tweets:
            problem = self.refs.missing.get(tweet_id)
            self.store.mark_not_found(tweet_id, problem)
            return None
        await self.refs.enrich([tweet_id])
        return await self._save(tweet_id)

    def not_found_problem(self, tweet_id: str) -> dict[str, Any] | None:
        """The API's Problem for an id that could not be had this run, if any."""
        return self.refs.missing.get(str(tweet_id))

    # -- users --------------------------------------------------------------------------------

    async def fetch_profile(self, username: str) -> User:
        """Fetch a profile from the API and write a snapshot (always, whatever its age)."""
        user = await self.client.user_answer(username)
        self.refs.users[user.value.id] = user
        self.store.write_profile(user.raw, self.clock())
        self._profiles_done.add(user.value.username.lower())
        return user.value

    async def resolve_user(self, username: str) -> User:
        """The user: the newest cached profile if any, else fetched from the API and cached."""
        name = layout.normalize_username(username)
        cached = self.store.newest_profile_raw(name)
        known = decode_user(cached) if cached is not None else None
        if known is not None:
            self.refs.users.setdefault(known.value.id, known)
            return known.value
        return await self.fetch_profile(name)

    async def _fetch_again(self, username: str, planned: set[str]) -> list[str]:
        """Look up by id (batched) the user's tweets whose files were moved aside (``*.corrupt``) and
        are not cached again: the timeline's ``since_id``/``until_id`` would never ask for such a hole
        (SPEC §2). Returns the ids found, to be cached as usual; the ``.corrupt`` files stay."""
        ids = [str(t) for t in self.store.corrupt_tweet_ids_of(username) if str(t) not in planned]
        if not ids:
            return []
        await self.refs.lookup(ids)
        for tid in ids:
            if tid in self.refs.missing and not self.store.is_not_found(tid):
                self.store.mark_not_found(tid, self.refs.missing[tid])
        found = [t for t in ids if t in self.refs.tweets]
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
    ) -> list[Tweet]:
        """Timeline tweets newest first, paging until ``want`` tweets, the cutoff or the end."""
        got: list[Tweet] = []
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
            self.refs.absorb(page.tweets, page.includes)
            log.debug("timeline of user %s: a page of %d tweets", user_id, len(page.tweets))
            too_old = False
            for tweet in page.tweets:
                if cutoff is not None and created_at_of(tweet.raw) < cutoff:
                    too_old = True
                    continue
                if tweet.value.id not in ids:
                    ids.add(tweet.value.id)
                    got.append(tweet.value)
            if too_old or not page.next_token or not page.tweets:
                break
            token = page.next_token
        got.sort(key=lambda t: int(t.id), reverse=True)
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
        older: list[Tweet] = []
        if count is not None and cached and not explicit and len(newer) + cached < count:
            older = await self._page_through(
                user.id,
                want=count - len(newer) - cached,
                since_id=None,
                until_id=str(oldest),
                cutoff=cutoff,
            )
        todo = [t for t in reversed(newer)] + older  # new ones oldest first, then older ones newest first
        fresh = [t.id for t in todo if not self.store.has_tweet(t.id)]
        result.skipped = [t.id for t in todo if self.store.has_tweet(t.id)]
        fresh += await self._fetch_again(user.username, set(fresh))
        for tweet_id in result.skipped:
            known = self.store.read_tweet(tweet_id)
            if known is not None:
                await self.media.retry_document(known)
        await self.refs.enrich(fresh)
        for done, tweet_id in enumerate(fresh, 1):
            result.documents[tweet_id] = await self._save(tweet_id)
            result.new.append(tweet_id)
            result.not_found.extend(
                m for m in self.refs.referenced_missing(tweet_id) if m not in result.not_found
            )
            if progress is not None:
                progress(done, len(fresh))
        if not self.skip_profiles and user.username.lower() not in self._profiles_done:
            profile = self.refs.users.get(user.id)
            if profile is not None:
                await self._maybe_write_profile(profile)
        return result
