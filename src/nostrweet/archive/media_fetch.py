"""Media files of cached tweets: downloading them, and trying the missing ones again on later runs.

A media file that cannot be had (refused URL, 4xx, a 5xx or network error that persists, too big, too
slow; see :mod:`nostrweet.archive.download`) is a warning, and the tweet is cached without it. Retry
rule (docs/CACHE.md): the tweet then gets a marker ``media_retry/<username>_<tweetid>.json`` holding
its number of failed tries. Every later timeline run of that user (``user-tweets``, each daemon poll)
tries the missing files of at most :data:`RETRY_PER_RUN` marked tweets again, and ``fetch-tweet`` of
the cached tweet does too. The marker goes once every file is there, or after :data:`RETRY_MAX_TRIES`
failed tries (a refused URL never becomes allowed).
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

from nostrweet.archive.download import download
from nostrweet.bridge.media import choose_download
from nostrweet.cache import layout
from nostrweet.store import CacheStore, atomic_write_json, make_private_dir
from nostrweet.twitter.client import TwitterClient
from nostrweet.twitter.models import Media, Tweet, TweetDocument

# The records keep the logger name the archiver's media messages always had.
log = logging.getLogger("nostrweet.archive.archiver")

RETRY_DIR = "media_retry"
RETRY_PER_RUN = 20
RETRY_MAX_TRIES = 10
_CANONICAL_ID = re.compile(r"[1-9][0-9]{0,18}")


def canonical_id(value: object) -> bool:
    """True for a tweet id as the API writes it: 1 to 19 digits, no leading zero."""
    return isinstance(value, str | int) and _CANONICAL_ID.fullmatch(str(value)) is not None


def _marker_tries(marker: Path) -> int:
    try:
        value = json.loads(marker.read_bytes()).get("tries", 0)
    except (OSError, ValueError, AttributeError):
        return 0
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


class MediaFetcher:
    """Downloads the media of tweets into a :class:`CacheStore` and keeps the retry markers."""

    def __init__(self, store: CacheStore, client: TwitterClient, *, max_bytes: int) -> None:
        self.store = store
        self.client = client
        self.max_bytes = max_bytes
        self.folder = store.data_dir / RETRY_DIR

    async def download_items(self, username: str, tweet_id: str, items: list[Media | None]) -> bool:
        """Download the media items of one tweet that are not cached yet; a failure is a warning only.

        True when every item that has something to download is cached now.
        """
        complete = True
        for n, media in enumerate(items):
            choice = choose_download(media) if media is not None else None
            if choice is None:
                continue
            try:
                name = layout.media_filename(username, tweet_id, n, choice.ext)
            except ValueError as exc:
                log.warning(
                    "tweet %s: media %d not downloaded (%s)",
                    tweet_id,
                    n,
                    exc,
                    extra={"tweet_id": tweet_id, "action": "media"},
                )
                continue
            if self.store.has_media(name):
                continue
            if await download(
                self.client.session, choice.url, self.store.media_path(name), max_bytes=self.max_bytes
            ):
                self.store.add_media(name)
                log.debug(
                    "tweet %s: media %s downloaded",
                    tweet_id,
                    name,
                    extra={"tweet_id": tweet_id, "action": "media"},
                )
            else:
                complete = False
                log.warning(
                    "tweet %s: media %d is cached without its file; it is tried again on a later run",
                    tweet_id,
                    n,
                    extra={"tweet_id": tweet_id, "action": "media"},
                )
        return complete

    async def retry_document(self, doc: TweetDocument) -> None:
        """Download the media files a cached tweet document lacks (its own and its references')."""
        complete = True
        for tweet in (doc.data, *doc.includes.tweets):
            complete = await self._retry_tweet(doc, tweet) and complete
        author = doc.author()
        if author is not None:
            self.mark(doc.data.id, author.username, complete)

    async def _retry_tweet(self, doc: TweetDocument, tweet: Tweet) -> bool:
        if tweet.attachments is None or not tweet.attachments.media_keys:
            return True
        author = doc.user(tweet.author_id)
        if author is None or not canonical_id(tweet.id):
            return True
        items = [doc.media(key) for key in tweet.attachments.media_keys]
        return await self.download_items(author.username, tweet.id, items)

    def _marker(self, tweet_id: str, username: str) -> Path:
        return self.folder / f"{layout.normalize_username(username)}_{tweet_id}.json"

    def mark(self, tweet_id: str, username: str, complete: bool) -> None:
        """Keep (or drop, once complete) the marker saying that a tweet's media is still missing."""
        try:
            marker = self._marker(tweet_id, username)
        except ValueError:
            return
        if complete:
            marker.unlink(missing_ok=True)
            return
        tries = _marker_tries(marker) + 1
        if tries > RETRY_MAX_TRIES:
            log.warning(
                "tweet %s: its missing media failed %d times; no more tries",
                tweet_id,
                tries,
                extra={"tweet_id": tweet_id, "action": "media_retry", "retry_count": tries},
            )
            marker.unlink(missing_ok=True)
            return
        make_private_dir(marker.parent)
        atomic_write_json(marker, {"tweet_id": tweet_id, "username": username, "tries": tries})

    async def retry_marked(self, username: str) -> None:
        """Try the missing media of up to RETRY_PER_RUN marked tweets of this user again."""
        folder = self.folder
        prefix = f"{layout.normalize_username(username)}_"
        try:
            names = sorted(n for n in os.listdir(folder) if n.startswith(prefix) and n.endswith(".json"))
        except OSError:
            return
        names = [n for n in names if canonical_id(n[len(prefix) : -len(".json")])]
        for name in names[:RETRY_PER_RUN]:
            tweet_id = name[len(prefix) : -len(".json")]
            doc = self.store.read_tweet(tweet_id)
            if doc is None:
                (folder / name).unlink(missing_ok=True)
                continue
            await self.retry_document(doc)
