"""The in-memory index of the cache directory, derived from one listing of it (SPEC §2; the listing
and the build are :mod:`nostrweet.cache.scan`).

Start-up no longer builds it: the store asks the state (``state.index``). One listing is still how the
one-time import of an older cache (``state.import_files``) and ``reindex`` learn what is in the
directory, and how the benchmarks and tests check what the state says.

``build_index`` reads no file: every fact comes from a file name (``cache.layout``). With 1,000 users
and 1,000,000 files this is one streaming pass over the directory entries, never a glob per user.

The index is compact (docs/PERFORMANCE.md, B5): it keeps no tweet or record *name*, only what the
name is built from. A tweet is its id in one global sorted ``array('q')`` with, beside it, where its
stamp and owner number sit in two arrays kept in listing order, plus its id in its user's sorted
array; a settled tweet record is its tweet id in a sorted ``array('q')`` with where its 32-byte event
id sits in a ``bytearray`` (listing order). Names are rebuilt on demand
by ``cache.layout``. What is written after the scan, and the rare records that are not one settled
record per tweet, live in small dicts beside the arrays.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterator, Mapping
from pathlib import Path

import msgspec

from nostrweet.cache import layout, legacy
from nostrweet.cache.layout import EventSubject


class UserEntry(msgspec.Struct, gc=False):
    """What the index knows about one (lower-case) username: its cached tweet ids (a sorted array)
    and its newest profile file."""

    ids: array[int] = msgspec.field(default_factory=lambda: array("q"))
    newest_profile: str | None = None

    @property
    def newest_tweet_id(self) -> int:
        """The newest cached tweet id (0 if none)."""
        return self.ids[-1] if self.ids else 0

    @property
    def tweet_count(self) -> int:
        """How many tweets of the user are cached."""
        return len(self.ids)

    @property
    def tweet_ids(self) -> list[int]:
        """The cached tweet ids, oldest first (a new list)."""
        return self.ids.tolist()


EventNames = str | list[str]
"""The record names of one tweet in :attr:`CacheIndex.tweet_records`: the name itself in the common case of
one record, a sorted list when a tweet has several."""


class TweetNames(Mapping[int, str]):
    """Read-only view ``tweet id -> tweet file name`` of a :class:`CacheIndex` (names built on demand)."""

    __slots__ = ("_index",)

    def __init__(self, index: CacheIndex) -> None:
        self._index = index

    def __getitem__(self, tweet_id: int) -> str:
        name = self._index.tweet_name(tweet_id)
        if name is None:
            raise KeyError(tweet_id)
        return name

    def __contains__(self, tweet_id: object) -> bool:
        return isinstance(tweet_id, int) and self._index.owner_of(tweet_id) is not None

    def __iter__(self) -> Iterator[int]:
        return self._index.iter_tweet_ids()

    def __len__(self) -> int:
        return self._index.tweet_count()


class TweetRecords(Mapping[int, EventNames]):
    """Read-only view ``tweet id -> record name(s)`` of a :class:`CacheIndex` (see :data:`EventNames`)."""

    __slots__ = ("_index",)

    def __init__(self, index: CacheIndex) -> None:
        self._index = index

    def __getitem__(self, tweet_id: int) -> EventNames:
        names = self._index.events_of_tweet(tweet_id)
        if not names:
            raise KeyError(tweet_id)
        return names[0] if len(names) == 1 else sorted(names)

    def __contains__(self, tweet_id: object) -> bool:
        return isinstance(tweet_id, int) and self._index.has_tweet_events(tweet_id)

    def __iter__(self) -> Iterator[int]:
        index = self._index
        yield from index._rec_ids
        yield from index._rec_extra

    def __len__(self) -> int:
        return len(self._index._rec_ids) + len(self._index._rec_extra)


class CacheIndex:
    """Everything the listing of the cache directory tells, built by one scan and kept current by the store.

    - ``tweets``: view tweet id -> file name (:meth:`tweet_name`, :meth:`iter_tweet_ids`)
    - ``users``: lower-case username -> :class:`UserEntry` (its tweet ids and stamps, newest profile)
    - ``not_found``: tweet ids with a ``.not_found`` marker
    - ``tweet_records``: view tweet id -> its event record file name(s) (``nostr_events/``); read it
      through :meth:`events_of_tweet` / :meth:`has_tweet_events`
    - ``user_events``: (subject, user id) -> event record file names for profiles, relay lists, Blossom lists
    - ``pending_events``: the names among those that carry the pending marker (work left for a relay)
    - ``media``: media file names present
    - ``corrupt``: lower-case username -> ids of its tweet files that were moved aside (``*.corrupt``)
    """

    def __init__(self) -> None:
        self.users: dict[str, UserEntry] = {}
        self.not_found: set[int] = set()
        self.user_events: dict[tuple[EventSubject, int], list[str]] = {}
        self.pending_events: set[str] = set()
        self.media: set[str] = set()
        self.temp_files: list[Path] = []
        self.corrupt: dict[str, set[int]] = {}
        # tweets: the scanned ones in a sorted id array with where each sits in the stamp
        # (YYYYMMDDHHMMSS numbers) and owner (numbers into _owners) arrays, which are in listing order;
        # the ones added since in a dict id -> (stamp, username)
        self._owners: list[str] = []
        self._tweet_ids: array[int] = array("q")
        self._tweet_at: array[int] = array("I")
        self._tweet_stamps: array[int] = array("q")
        self._tweet_owner: array[int] = array("I")
        self._tweet_extra: dict[int, tuple[int, str]] = {}
        # tweet files of the earlier tool whose names cannot be rebuilt from their parts (the username
        # in its real case): id -> name (SPEC §11)
        self._legacy_names: dict[int, str] = {}
        # settled tweet records, one per tweet: sorted tweet ids and where their 32-byte event id sits
        # in _rec_events (in listing order); every other tweet's record names (several, pending,
        # written since the scan) in a dict
        self._rec_ids: array[int] = array("q")
        self._rec_at: array[int] = array("I")
        self._rec_events = bytearray()
        self._rec_extra: dict[int, list[str]] = {}

    @property
    def tweets(self) -> TweetNames:
        """View: tweet id -> tweet file name."""
        return TweetNames(self)

    @property
    def tweet_records(self) -> TweetRecords:
        """View: tweet id -> record name(s)."""
        return TweetRecords(self)

    def user(self, username: str) -> UserEntry:
        """The entry for a lower-case username, created empty if absent."""
        entry = self.users.get(username)
        if entry is None:
            entry = self.users[username] = UserEntry()
        return entry

    # -- tweets --------------------------------------------------------------------------------

    def _scanned_at(self, tweet_id: int) -> int:
        """Position of a scanned tweet in the sorted arrays, or -1."""
        ids = self._tweet_ids
        i = bisect_left(ids, tweet_id)
        return i if i < len(ids) and ids[i] == tweet_id else -1

    def owner_of(self, tweet_id: int) -> str | None:
        """The (lower-case) username whose file holds a tweet, or None if it is not cached."""
        extra = self._tweet_extra.get(tweet_id)
        if extra is not None:
            return extra[1]
        i = self._scanned_at(tweet_id)
        return self._owners[self._tweet_owner[self._tweet_at[i]]] if i >= 0 else None

    def tweet_name(self, tweet_id: int) -> str | None:
        """The file name of a cached tweet, or None."""
        extra = self._tweet_extra.get(tweet_id)
        if extra is not None:
            return self._legacy_names.get(tweet_id) or layout.tweet_name_of(extra[0], extra[1], tweet_id)
        i = self._scanned_at(tweet_id)
        if i < 0:
            return None
        at = self._tweet_at[i]
        return layout.tweet_name_of(self._tweet_stamps[at], self._owners[self._tweet_owner[at]], tweet_id)

    def has_tweet(self, tweet_id: int) -> bool:
        """True if a tweet file is cached."""
        return self.owner_of(tweet_id) is not None

    def iter_tweet_ids(self) -> Iterator[int]:
        """Every cached tweet id (the scanned ones in order, then the ones added since)."""
        yield from self._tweet_ids
        yield from self._tweet_extra

    def tweet_count(self) -> int:
        """How many tweets are cached."""
        return len(self._tweet_ids) + len(self._tweet_extra)

    def add_tweet(self, name: str, parsed: layout.TweetName) -> None:
        """Record a tweet file (a second name for the same id replaces the first)."""
        stamp = layout.tweet_stamp_number(name)
        assert stamp is not None
        self.add_tweet_parts(stamp, parsed.username, parsed.tweet_id)

    def add_tweet_parts(self, stamp: int, username: str, tweet_id: int) -> None:
        """Record a tweet file from the parts of its name (see :meth:`add_tweet`)."""
        if self.owner_of(tweet_id) is not None:
            self.remove_tweet(tweet_id)
        self._legacy_names.pop(tweet_id, None)
        ids = self.user(username).ids
        ids.insert(bisect_left(ids, tweet_id), tweet_id)
        self._tweet_extra[tweet_id] = (stamp, username)

    def add_legacy_tweet(self, name: str) -> None:
        """Record a tweet file of the earlier tool whose name has its username in upper case (a name of
        ours or one in lower case is added by the scan as it is). A name of ours for the same id wins."""
        parsed = legacy.parse_tweet_name(name)
        stamp = legacy.tweet_stamp(name)
        if parsed is None or stamp is None or self.owner_of(parsed.tweet_id) is not None:
            return
        self.add_tweet_parts(stamp, parsed.username, parsed.tweet_id)
        self._legacy_names[parsed.tweet_id] = name

    def remove_tweet(self, tweet_id: int) -> None:
        """Forget a tweet file (it was moved aside or deleted)."""
        self._legacy_names.pop(tweet_id, None)
        extra = self._tweet_extra.pop(tweet_id, None)
        if extra is not None:
            owner = extra[1]
        else:
            i = self._scanned_at(tweet_id)
            if i < 0:
                return
            owner = self._owners[self._tweet_owner[self._tweet_at[i]]]
            del self._tweet_ids[i], self._tweet_at[i]  # (its stamp and owner stay unused)
        ids = self.users[owner].ids
        del ids[bisect_left(ids, tweet_id)]

    def tweet_ids_of(self, username: str) -> list[int]:
        """Cached tweet ids of one user, oldest first (a new list; no name parsing)."""
        entry = self.users.get(layout.normalize_username(username))
        return entry.ids.tolist() if entry is not None else []

    def add_corrupt(self, username: str, tweet_id: int) -> None:
        """Remember a tweet of ``username`` whose file was moved aside (it is to be fetched again)."""
        self.corrupt.setdefault(username, set()).add(tweet_id)

    def corrupt_ids_of(self, username: str) -> list[int]:
        """Ids of a user's tweet files that were moved aside and that are not cached again, oldest first."""
        ids = self.corrupt.get(layout.normalize_username(username), set())
        return sorted(t for t in ids if not self.has_tweet(t) and t not in self.not_found)

    def add_profile(self, name: str, parsed: layout.ProfileName) -> None:
        """Record a profile snapshot; the newest by name (= by time stamp) wins."""
        entry = self.user(parsed.username)
        if entry.newest_profile is None or name > entry.newest_profile:
            entry.newest_profile = name

    # -- event records ------------------------------------------------------------------------

    def _settled_at(self, tweet_id: int) -> int:
        """Position of a tweet's one scanned settled record in the arrays, or -1."""
        ids = self._rec_ids
        i = bisect_left(ids, tweet_id)
        return i if i < len(ids) and ids[i] == tweet_id else -1

    def events_of_tweet(self, tweet_id: int) -> list[str]:
        """The record names of a tweet (a new list; empty if it has none)."""
        extra = self._rec_extra.get(tweet_id)
        if extra is not None:
            return list(extra)
        i = self._settled_at(tweet_id)
        if i < 0:
            return []
        return [self._settled_name(i, tweet_id)]

    def _settled_name(self, i: int, tweet_id: int) -> str:
        at = self._rec_at[i] * 32
        return layout.settled_tweet_event_name(bytes(self._rec_events[at : at + 32]), tweet_id)

    def has_tweet_events(self, tweet_id: int) -> bool:
        """True if some event record of the tweet is listed."""
        return tweet_id in self._rec_extra or self._settled_at(tweet_id) >= 0

    def tweets_without_events(self) -> list[int]:
        """The cached tweet ids that no event record lists (one merge of sorted arrays)."""
        records, extra = self._rec_ids, self._rec_extra
        if self._tweet_ids == records:
            out: list[int] = []
        else:
            out, j, n = [], 0, len(records)
            for tweet_id in self._tweet_ids:
                while j < n and records[j] < tweet_id:
                    j += 1
                if (j >= n or records[j] != tweet_id) and tweet_id not in extra:
                    out.append(tweet_id)
        out.extend(t for t in self._tweet_extra if not self.has_tweet_events(t))
        return out

    def events_of(self, subject: EventSubject, subject_id: int) -> list[str]:
        """The record names of one subject (a new list), tweets and user subjects alike."""
        if subject is EventSubject.TWEET:
            return self.events_of_tweet(subject_id)
        return list(self.user_events.get((subject, subject_id), ()))

    def event_names(self) -> Iterator[str]:
        """Every listed record name (a live view: copy it before writing records)."""
        for i, tweet_id in enumerate(self._rec_ids):
            yield self._settled_name(i, tweet_id)
        for names in self._rec_extra.values():
            yield from names
        for listed in self.user_events.values():
            yield from listed

    def event_count(self) -> int:
        """How many record names are listed."""
        extra = sum(len(n) for n in self._rec_extra.values())
        return len(self._rec_ids) + extra + sum(len(v) for v in self.user_events.values())

    def _set_names(self, parsed: layout.EventName, names: list[str]) -> None:
        if parsed.subject is EventSubject.TWEET:
            tweet_id = parsed.subject_id
            i = self._settled_at(tweet_id)
            if i >= 0:  # the tweet's records now live in the dict
                del self._rec_ids[i], self._rec_at[i]  # (its 32 bytes stay unused in _rec_events)
            if names:
                self._rec_extra[tweet_id] = names
            else:
                self._rec_extra.pop(tweet_id, None)
        elif names:
            self.user_events[(parsed.subject, parsed.subject_id)] = names
        else:
            self.user_events.pop((parsed.subject, parsed.subject_id), None)

    def add_event(self, name: str, parsed: layout.EventName) -> None:
        """Record an event record file (either name form; see docs/CACHE.md).

        One record is listed under one name. When both forms of a record exist (a process was killed
        between writing the new name and removing the old one), the pending form wins whatever the
        order of the listing: at worst its event is sent again, with the same id.
        """
        names = self.events_of(parsed.subject, parsed.subject_id)
        if name in names:
            return
        other = parsed.settled_name if parsed.pending else parsed.pending_name
        if other in names:
            if not parsed.pending:
                return
            names.remove(other)
        names.append(name)
        self._set_names(parsed, names)
        if parsed.pending:
            self.pending_events.add(name)

    def remove_event(self, name: str, parsed: layout.EventName) -> None:
        """Forget an event record name (renamed to its other form, or moved aside)."""
        names = self.events_of(parsed.subject, parsed.subject_id)
        if name in names:
            names.remove(name)
            self._set_names(parsed, names)
        self.pending_events.discard(name)
