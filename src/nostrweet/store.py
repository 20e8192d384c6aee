"""The cache store: the one object through which commands and the daemon read and write the cache.

It owns a data directory (SPEC §2): on open it creates it (mode 0700) and marks it as written by this
process (``cache.writers``: the temp files of a killed writer are removed then, without listing the
cache otherwise). It lists nothing: what is cached is looked up in the state's archive index
(``state.index.ArchiveIndex``: tweets by id or by user, newest profiles, not-found markers), a few
answers kept in bounded memory; a media file is found by its name, built from the tweet document, and a
stat. Every write goes through ``cache.atomic`` (files 0600) and then writes its row (crash order: file,
then row). Tweet files are read back by ``tweet_reader``: one that does not parse is moved aside to
``<name>.corrupt`` and counts as missing; its id stays known (``corrupt_tweet_ids_of``), so a fetching
command fetches it again. A read-only store (``read_only=True``, for ``list-tweets``, ``show-tweet``,
``keys``) creates, renames and deletes nothing. ``atomic`` and ``index`` names are re-exported here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from nostrweet.cache import layout, legacy
from nostrweet.cache.atomic import (
    atomic_write_bytes,
    atomic_write_json,
    encode_json,
    fsync_dir,
    make_private_dir,
    move_aside,
    read_json_or_quarantine,
    remove_orphaned_temp_files,
    remove_stale_temp_files,
)
from nostrweet.cache.clearing import clear_archive_files, clear_record_files
from nostrweet.cache.index import CacheIndex, UserEntry
from nostrweet.cache.scan import build_index
from nostrweet.cache.writers import register_writer
from nostrweet.errors import InputError, OperationalError
from nostrweet.lookups import NAMES_KEPT, StateLookups
from nostrweet.tweet_reader import TweetReader
from nostrweet.twitter.models import TweetDocument, User

if TYPE_CHECKING:  # (the state, and SQLAlchemy with it, loads when a store first asks it something)
    from nostrweet.state.engine import State
    from nostrweet.state.index import ArchiveIndex, ReindexReport

__all__ = [
    "CacheIndex",
    "CacheStore",
    "UserEntry",
    "atomic_write_bytes",
    "atomic_write_json",
    "build_index",
    "encode_json",
    "fsync_dir",
    "make_private_dir",
    "move_aside",
    "read_json_or_quarantine",
    "remove_stale_temp_files",
]

_TWITTER_EPOCH_MS = 1288834974657


def created_at_of(raw_tweet: dict[str, Any]) -> datetime:
    """A tweet's ``created_at`` (UTC); without one, the time in its snowflake id."""
    text = raw_tweet.get("created_at")
    if isinstance(text, str) and text:
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            pass
    millis = (int(raw_tweet["id"]) >> 22) + _TWITTER_EPOCH_MS
    return datetime.fromtimestamp(millis / 1000, tz=UTC)


class ArchiveEvents(Protocol):
    """Told what happens to tweets, for the webhooks (SPEC §12); each call only queues, never sends."""

    def tweet_archived(self, username: str, tweet_id: str) -> None:
        """A tweet's file was written."""
        ...

    def tweet_published(
        self, username: str, tweet_id: str, event_ids: Sequence[str], relays: Mapping[str, str]
    ) -> None:
        """A relay took a tweet's event."""
        ...

    def tweet_deleted(self, username: str, tweet_id: str, event_ids: Sequence[str]) -> None:
        """The tweet was deleted on X and its events get deletion requests."""
        ...


class CacheStore:
    """The cache directory (SPEC §2): owns the data dir and every read and write of it.

    Opening a store creates the directory (0700) and, for a writer, removes the temp files a killed
    writer left (``cache.writers``); it lists nothing, so it costs the same whatever the cache's size.
    What is cached is asked of the state (:attr:`state`) by id or by user, and the answers are kept in
    bounded memory; every write updates them. Not thread-safe: use one store per event loop.

    ``read_only``: for commands that only read (SPEC §2). Nothing is created, renamed or deleted: a
    missing data dir is an empty cache, no temp file is removed, and a file that does not parse is
    skipped with a warning instead of being moved aside.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        read_only: bool = False,
        state: State | None = None,
        state_url: str | None = None,
        names_kept: int = NAMES_KEPT,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.events: ArchiveEvents | None = None
        """Told of each tweet written (webhooks); None when nobody listens."""
        self._state = state
        self._state_url = state_url
        self._owns_state = False
        self.events_dir = self.data_dir / layout.EVENTS_DIR
        self.read_only = read_only
        self.lookups = StateLookups(lambda: self.state, names_kept)
        """What the state says is cached, kept in bounded memory."""
        self.reader = TweetReader(self.data_dir, self.lookups, read_only=read_only)
        """Reads the cached tweet files back (``tweet_reader``)."""
        if self.data_dir.exists() and not self.data_dir.is_dir():
            raise InputError(f"data dir {self.data_dir} is not a directory")
        if not read_only:
            try:
                make_private_dir(self.data_dir)
            except (FileExistsError, NotADirectoryError):
                raise InputError(f"data dir {self.data_dir} is not a directory") from None
            except OSError as exc:
                raise OperationalError(
                    f"cannot create data dir {self.data_dir}: {exc.strerror or exc}"
                ) from None
            register_writer(self.data_dir)

    @property
    def state(self) -> State:
        """The state database of this data directory (SPEC §7): the one given, else the one at
        ``state_url`` (default: ``<data-dir>/nostrweet.sqlite3``), opened on first use (imported once from
        the files of an older layout) and closed by :meth:`close`."""
        if self._state is None:
            from nostrweet.state.opening import open_data_state

            self._state = open_data_state(
                self.data_dir, self._state_url, now=time.time(), read_only=self.read_only
            )
            self._owns_state = True
        return self._state

    @property
    def archive(self) -> ArchiveIndex:
        """The archive index in the state (tweets, profiles, not-found markers)."""
        return self.lookups.archive

    def close(self) -> None:
        """Close the state if this store opened it (a state given to it is its caller's to close)."""
        if self._owns_state and self._state is not None:
            self._state.close()
            self._state = None
            self._owns_state = False

    # -- tweets -----------------------------------------------------------------------------

    def tweet_name(self, tweet_id: int | str) -> str | None:
        """The file name of a cached tweet from its row in the state (None: no row); reads no file."""
        return self.lookups.tweet_name(int(tweet_id))

    def preload(self, tweet_ids: Iterable[int | str]) -> None:
        """Look many tweets up at once (one query per 500 ids), for the lookups that follow."""
        self.lookups.preload(map(int, tweet_ids))

    def has_tweet(self, tweet_id: int | str) -> bool:
        """True if a tweet document is cached: the state has its row and its file is there (a stat)."""
        path = self.tweet_path(tweet_id)
        return path is not None and os.path.lexists(path)

    def tweet_path(self, tweet_id: int | str) -> Path | None:
        """The path of a cached tweet document (from its row), or None."""
        return self.reader.path(int(tweet_id))

    def read_tweet_raw(self, tweet_id: int | str) -> dict[str, Any] | None:
        """The cached document as a dict; a file that does not parse is moved aside and gives None."""
        return self.reader.raw(int(tweet_id))

    def read_tweet(self, tweet_id: int | str) -> TweetDocument | None:
        """The cached tweet document, or None (missing, or corrupt and moved aside: ``tweet_reader``)."""
        return self.reader.document(int(tweet_id))

    def readable_tweet_ids(self, tweet_ids: Iterable[int]) -> list[int]:
        """The ids among ``tweet_ids`` whose cached entry is a file (one batched lookup, one stat each);
        the others are skipped (a directory with a warning)."""
        return self.reader.readable_ids(tweet_ids)

    def corrupt_tweet_ids_of(self, username: str) -> list[int]:
        """Ids of a user's tweets whose files were moved aside (``*.corrupt``) and that are not cached
        again yet: a fetching command looks them up by id (SPEC §2)."""
        return self.lookups.corrupt_ids_of(username)

    def tweet_owner(self, tweet_id: int | str) -> str | None:
        """The lower-case username in a cached tweet's file name (None: not cached)."""
        name = self.tweet_name(tweet_id)
        parsed = (layout.parse_tweet_filename(name) or legacy.parse_tweet_name(name)) if name else None
        return parsed.username.lower() if parsed is not None else None

    def write_tweet(self, raw_document: dict[str, Any]) -> Path:
        """Write a tweet document atomically under its layout name, then its row in the state.

        The name takes the author's username from ``includes.users``. An older file of the same id
        under another name (the author was renamed) is removed after the new one is in place, and a
        ``.not_found`` marker of the id is dropped.
        """
        [path] = self.write_tweets([raw_document])
        return path

    def write_tweets(self, raw_documents: Sequence[dict[str, Any]]) -> list[Path]:
        """:meth:`write_tweet` for many documents: every file first, then their rows in one
        transaction (crash order: a file without its row is found again by ``reindex``)."""
        from nostrweet.state.index import TweetRow

        written: list[tuple[int, str, TweetRow]] = []
        for raw_document in raw_documents:
            data = raw_document["data"]
            tweet_id = int(data["id"])
            author_id = data.get("author_id")
            users = raw_document.get("includes", {}).get("users", [])
            author = next((u for u in users if str(u.get("id")) == str(author_id)), None)
            if author is None:
                raise ValueError(f"tweet {tweet_id}: its author {author_id} is not in includes.users")
            name = layout.tweet_filename(created_at_of(data), author["username"], tweet_id)
            atomic_write_json(self.data_dir / name, raw_document)
            if self.events is not None:  # queued before the row: a crash between them repeats it
                self.events.tweet_archived(author["username"].lower(), str(tweet_id))
            row = TweetRow.from_name(name)
            assert row is not None
            written.append((tweet_id, name, row))
        self.preload(tweet_id for tweet_id, _, _ in written)
        previous = {tweet_id: self.tweet_name(tweet_id) for tweet_id, _, _ in written}
        self.archive.put_tweets(
            [row for _, _, row in written]
        )  # the rows after the files; drops not-found rows
        for tweet_id, name, row in written:
            before = previous[tweet_id]
            self.lookups.written(tweet_id, row.username, name, before)
            if before is not None and before != name and layout.parse_tweet_filename(before) is not None:
                # (a file of the earlier tool, named in its own case, is never ours to remove: SPEC §11)
                (self.data_dir / before).unlink(missing_ok=True)
            (self.data_dir / layout.not_found_filename(tweet_id)).unlink(missing_ok=True)  # (its row went)
        return [self.data_dir / name for _, name, _ in written]

    def tweet_rows_of(self, username: str) -> list[tuple[int, str]]:
        """A user's cached tweets as (id, file name), oldest first: one indexed query of that user only;
        the names are kept for the reads that follow (up to :data:`NAMES_KEPT`)."""
        return self.lookups.rows_of(username)

    def tweet_ids_of(self, username: str) -> list[int]:
        """Cached tweet ids of a user, oldest first (see :meth:`tweet_rows_of`)."""
        return [tweet_id for tweet_id, _ in self.tweet_rows_of(username)]

    def iter_tweets(self, *, newest_first: bool = False) -> Iterator[tuple[int, str]]:
        """Every cached tweet as (id, file name), by id, paged from the state (``list-tweets``)."""
        return self.archive.iter_tweets(newest_first=newest_first)

    def newest_tweet_id(self, username: str) -> int | None:
        """The newest cached tweet id of a user, or None."""
        return self.lookups.newest_tweet_id(username) or None

    def tweet_span(self, username: str) -> tuple[int, int, int]:
        """A user's cached tweets as (how many, oldest id, newest id), (0, 0, 0) if none: one
        aggregate query, for callers that need no more than that of a user's archive."""
        return self.archive.tweet_span(username)

    def tweet_count(self, username: str | None = None) -> int:
        """How many tweets are cached: all, or one user's. Counted once per store (one grouped query),
        then kept current by the writes."""
        return self.lookups.tweet_count(username)

    def archived_users(self) -> list[str]:
        """The (lower-case) users with at least one cached tweet, sorted."""
        return self.archive.users_with_tweets()

    def usernames(self) -> list[str]:
        """Every (lower-case) user with a cached tweet or profile snapshot, sorted."""
        return self.archive.usernames()

    # -- not-found markers ------------------------------------------------------------------

    def is_not_found(self, tweet_id: int | str) -> bool:
        """True if the tweet has a ``.not_found`` marker (its row in the state)."""
        return self.lookups.is_not_found(int(tweet_id))

    def mark_not_found(self, tweet_id: int | str, problem: dict[str, Any] | None = None) -> Path:
        """Write ``tweet_<id>.not_found`` (holding the API's Problem, if given), then its row."""
        path = self.data_dir / layout.not_found_filename(tweet_id)
        atomic_write_json(path, problem or {})
        self.archive.add_not_found([int(tweet_id)])
        self.lookups.marked_not_found(int(tweet_id))
        return path

    # -- profiles ---------------------------------------------------------------------------

    def write_profile(self, raw_user: dict[str, Any], fetched_at: datetime) -> Path:
        """Write a profile snapshot (the raw API user object) stamped with ``fetched_at``, then its row."""
        name = self.save_profile_file(raw_user, fetched_at)
        self.note_profile(name)
        return self.data_dir / name

    def save_profile_file(self, raw_user: dict[str, Any], fetched_at: datetime) -> str:
        """:meth:`write_profile`'s file and its row in the state, not the store's answers in memory (so it
        may run in a worker thread: the file is synced, which can take long); its name, for
        :meth:`note_profile`."""
        name = layout.profile_filename(fetched_at, raw_user["username"])
        atomic_write_json(self.data_dir / name, raw_user)
        self.archive.add_profiles([name])
        return name

    def note_profile(self, name: str) -> None:
        """A profile file written by :meth:`save_profile_file`: the user's newest is asked of the state
        again (it keeps the newest)."""
        parsed = layout.parse_profile_filename(name)
        assert parsed is not None
        self.lookups.forget_profile(parsed.username)

    def newest_profile_raw(self, username: str) -> dict[str, Any] | None:
        """The newest cached profile snapshot of a user as a dict, or None."""
        user = layout.normalize_username(username)
        name = self.lookups.profile_name(user)
        if name is None:
            return None
        path = self.data_dir / name
        raw = read_json_or_quarantine(path, quarantine=not self.read_only)
        if isinstance(raw, dict) and isinstance(raw.get("id"), str) and isinstance(raw.get("username"), str):
            return raw
        if raw is not None:
            self.reader.set_aside(path, "not a user object")
        self.lookups.forget_profile(user, unreadable=True)
        return None

    def newest_profile(self, username: str) -> User | None:
        """The newest cached profile snapshot of a user, or None."""
        raw = self.newest_profile_raw(username)
        return msgspec.convert(raw, User, strict=False) if raw is not None else None

    def profile_fetched_at(self, username: str) -> datetime | None:
        """When the newest cached profile of a user was fetched (from its name), or None."""
        name = self.lookups.profile_name(username)
        parsed = layout.parse_profile_filename(name) if name else None
        return parsed.fetched_at if parsed else None

    def has_profile(self, username: str) -> bool:
        """True if the state knows a profile snapshot of the user (reads no file)."""
        return self.lookups.profile_name(username) is not None

    # -- media ------------------------------------------------------------------------------

    def media_path(self, name: str) -> Path:
        """The path for a media file name (validated by the layout)."""
        if layout.parse_media_filename(name) is None:
            raise ValueError(f"not a media file name: {name!r}")
        return self.data_dir / name

    def has_media(self, name: str) -> bool:
        """True if the media file is cached: its name follows from the tweet document (the layout), and
        one stat says whether it is there."""
        return os.path.isfile(self.data_dir / name)

    def add_media(self, name: str) -> None:
        """A media file was just written (nothing to record: it is found by its name)."""

    # -- the listings: reindex and clear-cache --------------------------------------------------

    def reindex(self) -> ReindexReport:
        """List the data directory once: remove the temp files whose writer is gone, and add to the
        state the tweet files, newer profiles, not-found markers and moved-aside tweets it does not
        know (a file copied in by hand, or left by a crash between the file and its row)."""
        index = build_index(self.data_dir, events=False)
        if index.temp_files and not self.read_only:
            remove_orphaned_temp_files(index.temp_files)
        report = self.archive.add_listing(index)
        self.lookups.forget()
        return report

    def clear(self, *, include_events: bool = False) -> int:
        """Delete cached tweets, media, profiles, markers, corrupt files and temp files whose writer is
        gone; event records only with ``include_events``. Returns how many files were deleted. Files
        the layout does not know are left alone."""
        removed = clear_archive_files(self.data_dir)
        self.archive.clear()
        if include_events:
            from nostrweet.state.records import RecordRepo

            RecordRepo(self.state).delete_all()
            removed += clear_record_files(self.events_dir)
        self.lookups.forget()
        return removed
