"""What the state says is cached, asked by id or by user and kept in bounded memory (for ``store.py``).

Start-up lists nothing (SPEC §2): the store asks the state's archive index (``state.index.ArchiveIndex``)
what a command needs, and :class:`StateLookups` keeps the answers: tweet id → file name (or not cached),
not-found markers, each user's newest profile name, the per-user tweet counts. The store tells it of
every write, so its answers stay those of the state. The state (and SQLAlchemy) loads on the first
question, not before.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

from nostrweet.cache.layout import normalize_username

if TYPE_CHECKING:
    from nostrweet.state.engine import State
    from nostrweet.state.index import ArchiveIndex

V = TypeVar("V")
NAMES_KEPT = 65_536
"""How many answers about tweets (id → file name or not cached) are kept, newest first."""


class Bounded(OrderedDict[int, V]):
    """The last ``size`` answers about tweets (by id), the oldest forgotten first."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def keep(self, tweet_id: int, value: V) -> None:
        """Remember one answer."""
        self[tweet_id] = value
        self.move_to_end(tweet_id)
        while len(self) > self.size:
            self.popitem(last=False)


class StateLookups:
    """The state's answers about the archive, with bounded memory (see the module docstring)."""

    def __init__(self, state: Callable[[], State], size: int = NAMES_KEPT) -> None:
        self._state = state
        self.names: Bounded[str | None] = Bounded(size)
        """tweet id → file name (None: no row)"""
        self.skipped: set[int] = set()
        """tweets whose entry the store skips (gone, not a file, or of a shape it does not know)"""
        self._not_found: Bounded[bool] = Bounded(size)
        self._profiles: dict[str, str | None] = {}
        self._counts: dict[str, int] | None = None
        self._newest: dict[str, int] = {}
        self._corrupt: dict[int, str] | None = None

    @property
    def archive(self) -> ArchiveIndex:
        """The archive index of the state (opened on first use)."""
        from nostrweet.state.index import ArchiveIndex

        return ArchiveIndex(self._state())

    def forget(self) -> None:
        """Forget every answer (after ``reindex`` or ``clear-cache``)."""
        self.names.clear()
        self.skipped.clear()
        self._not_found.clear()
        self._profiles.clear()
        self._counts = None
        self._newest.clear()
        self._corrupt = None

    # -- tweets ---------------------------------------------------------------------------------

    def tweet_name(self, tweet_id: int) -> str | None:
        """The file name in a tweet's row (None: no row, or skipped)."""
        if tweet_id in self.names:
            return self.names[tweet_id]
        if tweet_id in self.skipped:
            return None
        name = self.archive.tweet_name(tweet_id)
        self.names.keep(tweet_id, name)
        return name

    def preload(self, tweet_ids: Iterable[int]) -> None:
        """Ask for many tweets at once (one query per 500 ids), for the lookups that follow. The answers
        already kept are kept as the newest too, so the ones asked for now are forgotten last."""
        todo: list[int] = []
        for tweet_id in tweet_ids:
            if tweet_id in self.names:
                self.names.move_to_end(tweet_id)
            elif tweet_id not in self.skipped:
                todo.append(tweet_id)
        if todo:
            found = self.archive.tweet_names(todo)
            for tweet_id in todo:
                self.names.keep(tweet_id, found.get(tweet_id))

    def skip(self, tweet_id: int) -> None:
        """The store no longer counts a tweet as cached (its entry is skipped); its row stays."""
        self.names.pop(tweet_id, None)
        self.skipped.add(tweet_id)

    def removed(self) -> None:
        """A tweet's row went (its file was moved aside): counts and newest ids are asked again."""
        self._counts = None
        self._newest.clear()
        self._corrupt = None

    def written(self, tweet_id: int, username: str, name: str, previous: str | None) -> None:
        """A tweet's file and row were written."""
        self.names.keep(tweet_id, name)
        self.skipped.discard(tweet_id)
        self._not_found.keep(tweet_id, False)
        if self._corrupt is not None:
            self._corrupt.pop(tweet_id, None)  # (its meta row went with the write)
        if previous is not None and previous != name:  # (renamed: counted again when asked)
            self._counts = None
            self._newest.clear()
        elif previous is None and self._counts is not None:
            self._counts[username] = self._counts.get(username, 0) + 1
        if username in self._newest and tweet_id > self._newest[username]:
            self._newest[username] = tweet_id

    def newest_tweet_id(self, username: str) -> int:
        """A user's newest cached tweet id (0: none): asked once per user, then kept by the writes."""
        user = normalize_username(username)
        newest = self._newest.get(user)
        if newest is None:
            newest = self._newest[user] = self.archive.newest_tweet_id(user)
        return newest

    def rows_of(self, username: str) -> list[tuple[int, str]]:
        """A user's tweets as (id, file name), oldest first (one indexed query of that user only); the
        names are kept for the reads that follow."""
        rows = self.archive.tweet_rows_of(username)
        if self.skipped:
            rows = [row for row in rows if row[0] not in self.skipped]
        for tweet_id, name in rows[-self.names.size :]:
            self.names.keep(tweet_id, name)
        return rows

    def tweet_count(self, username: str | None = None) -> int:
        """Cached tweets, all or one user's: one grouped query on first use, then kept by the writes."""
        if self._counts is None:
            self._counts = self.archive.tweet_counts()
        if username is None:
            return sum(self._counts.values())
        return self._counts.get(normalize_username(username), 0)

    def corrupt_ids_of(self, username: str) -> list[int]:
        """A user's tweets whose files were moved aside and that are neither cached again nor marked
        not found, oldest first. The moved-aside ids are read once (they are rare), then kept."""
        if self._corrupt is None:
            self._corrupt = self.archive.corrupt_users()
        user = normalize_username(username)
        if user not in self._corrupt.values():
            return []
        return self.archive.corrupt_ids_of(user)

    def moved_aside(self, username: str, tweet_id: int) -> None:
        """A tweet's file was moved aside (its ``meta`` row is written)."""
        if self._corrupt is not None:
            self._corrupt[tweet_id] = normalize_username(username)

    # -- not-found markers and profiles ---------------------------------------------------------

    def is_not_found(self, tweet_id: int) -> bool:
        """Whether a tweet has a not-found row."""
        known = self._not_found.get(tweet_id)
        if known is None:
            known = self.archive.is_not_found(tweet_id)
            self._not_found.keep(tweet_id, known)
        return known

    def marked_not_found(self, tweet_id: int) -> None:
        """A not-found marker and its row were written."""
        self._not_found.keep(tweet_id, True)

    def profile_name(self, username: str) -> str | None:
        """The file name of a user's newest profile snapshot (None: none)."""
        user = normalize_username(username)
        if user not in self._profiles:
            self._profiles[user] = self.archive.newest_profile(user)
        return self._profiles[user]

    def forget_profile(self, username: str, *, unreadable: bool = False) -> None:
        """A user's profile changed (asked again), or its newest file cannot be read (none, for now)."""
        user = normalize_username(username)
        if unreadable:
            self._profiles[user] = None
        else:
            self._profiles.pop(user, None)
