"""Import an opened X archive into the cache, streaming (SPEC §12).

Each part is read in chunks and decoded one tweet at a time (``schema.iter_tweets``); each tweet is
converted (``parse``), its media are copied from the archive under our names, and its document is
written through the store, :data:`GROUP` tweets at a time (their files after their media, then their
rows in one transaction). A tweet already cached is left alone. After the last part, replies and quotes whose referenced tweet is cached get it in
their includes (``link_reference``), so they are published with e/q tags. What is kept across parts
is one pair of ids per reply or quote (16 bytes), not the tweets. The import's store keeps only
:data:`NAMES_KEPT` answers about tweets: every lookup is asked for a group at once (``preload``), so the
answers of earlier groups are never read again, and memory stays the same whatever the archive's size.
"""

from __future__ import annotations

import logging
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from nostrweet.archive.xarchive import parse, schema
from nostrweet.archive.xarchive.reader import XArchive
from nostrweet.cache import layout
from nostrweet.cache.atomic import atomic_write_chunks
from nostrweet.errors import InputError
from nostrweet.store import CacheStore

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (bytes of the tweets parts read, their total)
_CHUNK = 1 << 20
GROUP = 100
"""Tweets looked up in the state at once, and whose rows are written in one transaction (after their
files): one query and one commit a group instead of one each a tweet; small, so memory stays flat (B9b).
After the last part, the replies and quotes are linked :data:`GROUP` at a time, each group's tweets
looked up in one query."""
NAMES_KEPT = 8 * GROUP
"""Answers about tweets the import's store keeps (``CacheStore(names_kept=...)``): a group's lookups and
writes read back only that group's answers (a store's default, 65,536, would fill up over an import)."""
_NO_TWEET_ID = 1 << 63  # (X's ids are below 2^63)
_KNOWN_EXT = {"jpg", "jpeg", "png", "gif", "webp", "mp4", "mov", "m4v"}


@dataclass(slots=True)
class ImportSummary:
    """What one import did."""

    username: str = ""
    imported: int = 0
    already_cached: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    media_copied: int = 0
    media_missing: int = 0
    linked: int = 0
    profile_written: bool = False

    def line(self) -> str:
        """The summary line the command prints."""
        skipped = sum(self.skipped.values())
        reasons = ", ".join(f"{n} {why}" for why, n in sorted(self.skipped.items()))
        text = f"{self.imported} imported, {self.already_cached} already cached, {skipped} skipped"
        if reasons:
            text += f" ({reasons})"
        text += f"; {self.media_copied} media file(s) copied"
        if self.media_missing:
            text += f", {self.media_missing} missing from the archive"
        return text


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ext(name: str) -> str | None:
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in _KNOWN_EXT:
        return None
    return "jpg" if ext == "jpeg" else ext


class Links:
    """(reply or quote, referenced tweet) id pairs kept across parts, in two arrays of 64-bit ids."""

    def __init__(self) -> None:
        self._children = array("Q")
        self._parents = array("Q")

    def add(self, child_id: int, parent_id: int) -> None:
        """Remember one pair (an id of 2^63 or more is no tweet's: nothing to link)."""
        if max(child_id, parent_id) >= _NO_TWEET_ID:
            return
        self._children.append(child_id)
        self._parents.append(parent_id)

    def groups(self, size: int) -> Iterator[list[tuple[int, int]]]:
        """The pairs in order, ``size`` at a time."""
        for start in range(0, len(self._children), size):
            end = start + size
            yield list(zip(self._children[start:end], self._parents[start:end], strict=True))


class Importer:
    """Imports one archive into one store."""

    def __init__(
        self,
        archive: XArchive,
        store: CacheStore,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.archive = archive
        self.store = store
        self.clock = clock
        self.summary = ImportSummary()
        self._read = 0  # bytes of the tweets parts read so far
        self._pending: dict[str, dict[str, Any]] = {}
        """Documents of the current group, written together once its media are in (:meth:`_flush`)."""

    def run(self, progress: Progress | None = None) -> ImportSummary:
        """Import every part, then link references and write the profile."""
        archive = self.archive
        account = schema.decode_account(archive.read("account.js"), "data/account.js")
        profile = (
            schema.decode_profile(archive.read("profile.js"), "data/profile.js")
            if archive.has("profile.js")
            else None
        )
        if not account.accountId.isdigit() or layout.USERNAME_RE.fullmatch(account.username) is None:
            raise InputError(f"bad archive part data/account.js: account {account.username!r} is not valid")
        user = parse.account_user(account, profile)
        self.summary.username = account.username
        notes: dict[str, list[schema.Note]] = {}
        if archive.has("note-tweet.js"):
            for note in schema.decode_notes(archive.read("note-tweet.js"), "data/note-tweet.js"):
                try:
                    notes.setdefault(parse.note_key(note.createdAt), []).append(note)
                except ValueError:
                    log.warning("long tweet %s: unreadable createdAt; not used", note.noteTweetId)
        links = Links()
        total = sum(archive.size(part) for part in archive.parts)
        done = 0
        fetched_at = _iso(self.clock())
        for part in archive.parts:
            tweets = schema.iter_tweets(self._counted(part), f"data/{part}")
            while group := list(islice(tweets, GROUP)):
                self.store.preload(t.id_str for t in group if t.id_str.isdigit())
                for tweet in group:
                    refs = self._one(tweet, user, fetched_at, notes)
                    for ref in refs:
                        links.add(int(tweet.id_str), int(ref))
                self._flush()
                if progress is not None:
                    progress(self._read, total)
            done += archive.size(part)
            self._read = done
            if progress is not None:
                progress(done, total)
        self._link(links)
        self._profile(user)
        return self.summary

    def _counted(self, part: str) -> Iterator[bytes]:
        """The part's chunks, counting the bytes read for the progress bar."""
        for chunk in self.archive.chunks(part):
            self._read += len(chunk)
            yield chunk

    def _one(
        self,
        tweet: schema.ArchiveTweet,
        user: dict[str, object],
        fetched_at: str,
        notes: dict[str, list[schema.Note]],
    ) -> list[str]:
        if not tweet.id_str.isdigit():
            self.summary.skipped["without an id"] += 1
            return []
        if parse.is_retweet(tweet):
            self.summary.skipped[parse.SKIP_RETWEET] += 1
            return []
        if parse.superseded(tweet):
            self.summary.skipped[parse.SKIP_EDITED] += 1
            return []
        if tweet.id_str in self._pending or self.store.has_tweet(tweet.id_str):
            self.summary.already_cached += 1
            return self._refs_of(tweet)
        try:
            when = parse.note_key(tweet.created_at)
        except ValueError:
            log.warning(
                "tweet %s: unreadable created_at %r; not imported",
                tweet.id_str,
                tweet.created_at,
                extra={"tweet_id": tweet.id_str, "action": "import"},
            )
            self.summary.skipped[parse.SKIP_NO_DATE] += 1
            return []
        note = next((n for n in notes.get(when, []) if parse.note_matches(tweet, n)), None)
        converted = parse.convert_tweet(tweet, dict(user), fetched_at, note)
        missing: set[str] = set()
        for item in converted.media:  # a missing item is dropped, so the next ones move up by one
            if not self._copy(tweet.id_str, item, item.n - len(missing), str(user["username"])):
                missing.add(item.key)
                self.summary.media_missing += 1
                log.warning(
                    "tweet %s: media %d is not in the archive; imported without it",
                    tweet.id_str,
                    item.n,
                    extra={"tweet_id": tweet.id_str, "action": "import"},
                )
        self._pending[tweet.id_str] = parse.drop_media(converted.document, missing)
        self.summary.imported += 1
        return converted.references

    def _flush(self) -> None:
        """Write the group's documents (after their media), then their rows in one transaction."""
        if self._pending:
            self.store.write_tweets(list(self._pending.values()))
            self._pending.clear()

    def _refs_of(self, tweet: schema.ArchiveTweet) -> list[str]:
        converted = parse.convert_tweet(tweet, {"id": "0", "username": "x"}, "", None)
        return converted.references

    def _copy(self, tweet_id: str, item: parse.MediaItem, n: int, username: str) -> bool:
        """Copy one media file from the archive into the cache; False if the archive lacks it."""
        with self.archive.open_media(tweet_id, item.candidates) as found:
            if found is None:
                return False
            name, stream = found
            ext = _ext(name)
            if ext is None:
                return False
            cache_name = layout.media_filename(username, tweet_id, n, ext)
            atomic_write_chunks(self.store.media_path(cache_name), iter(lambda: stream.read(_CHUNK), b""))
            self.store.add_media(cache_name)
            self.summary.media_copied += 1
            return True

    def _link(self, links: Links) -> None:
        """Give imported replies and quotes their cached referenced tweet (for e and q tags)."""
        for group in links.groups(GROUP):
            self.store.preload(i for pair in group for i in pair)
            for child_id, parent_id in group:
                self._link_one(child_id, parent_id)

    def _link_one(self, child_id: int, parent_id: int) -> None:
        """Link one reply or quote to its referenced tweet, if both are cached and the child is ours."""
        if not self.store.has_tweet(parent_id) or not self.store.has_tweet(child_id):
            return
        child = self.store.read_tweet_raw(child_id)
        parent = self.store.read_tweet_raw(parent_id)
        if child is None or parent is None or child.get("nostrweet", {}).get("source") != parse.SOURCE:
            return  # a tweet from the API is never rewritten
        if parse.link_reference(child, parent):
            self.store.write_tweet(child)
            self.summary.linked += 1

    def _profile(self, user: dict[str, object]) -> None:
        """Write the account's profile snapshot, unless one is cached (the API's is fresher)."""
        if self.store.newest_profile_raw(str(user["username"])) is None:
            self.store.write_profile(dict(user), self.clock())
            self.summary.profile_written = True
