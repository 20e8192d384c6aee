"""The in-memory index of the cache directory, derived from one listing of it (SPEC §2).

``build_index`` reads no file: every fact comes from a file name (``cache.layout``). With 1,000 users
and 1,000,000 files this is one pass over the directory entries, never a glob per user.
"""

from __future__ import annotations

import operator
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import compress
from pathlib import Path

from nostrweet.cache import layout
from nostrweet.cache.layout import EventSubject


@dataclass(slots=True)
class UserEntry:
    """What the index knows about one (lower-case) username.

    ``tweet_ids`` holds the user's cached tweet ids; it is kept sorted lazily (see
    :meth:`CacheIndex.tweet_ids_of`), so building the index stays one pass with appends.
    """

    newest_tweet_id: int = 0
    tweet_count: int = 0
    newest_profile: str | None = None
    tweet_ids: list[int] = field(default_factory=list)
    ids_sorted: bool = True


EventNames = str | list[str]
"""The record names of one tweet in :attr:`CacheIndex.tweet_records`: the name itself in the common case of
one record (no list per tweet), a list only when a tweet has several."""


@dataclass(slots=True)
class CacheIndex:
    """Everything the listing of the cache directory tells, built by one scan and kept current by the store.

    - ``tweets``: tweet id -> file name
    - ``users``: lower-case username -> :class:`UserEntry` (newest tweet id, newest profile file)
    - ``not_found``: tweet ids with a ``.not_found`` marker
    - ``tweet_records``: tweet id -> its event record file name(s) (``nostr_events/``), see
      :data:`EventNames`; read it through :meth:`events_of_tweet` / :meth:`has_tweet_events`
    - ``user_events``: (subject, user id) -> event record file names for profiles, relay lists, Blossom lists
    - ``pending_events``: the names among those that carry the pending marker (work left for a relay)
    - ``media``: media file names present

    The names kept are the very strings the directory listing returned (no copies).
    """

    tweets: dict[int, str] = field(default_factory=dict)
    users: dict[str, UserEntry] = field(default_factory=dict)
    not_found: set[int] = field(default_factory=set)
    tweet_records: dict[int, EventNames] = field(default_factory=dict)
    user_events: dict[tuple[EventSubject, int], list[str]] = field(default_factory=dict)
    pending_events: set[str] = field(default_factory=set)
    media: set[str] = field(default_factory=set)
    temp_files: list[Path] = field(default_factory=list)

    def user(self, username: str) -> UserEntry:
        """The entry for a lower-case username, created empty if absent."""
        entry = self.users.get(username)
        if entry is None:
            entry = self.users[username] = UserEntry()
        return entry

    def add_tweet(self, name: str, parsed: layout.TweetName) -> None:
        """Record a tweet file (a second name for the same id replaces the first in ``tweets``)."""
        self.add_tweet_name(name, parsed.username, parsed.tweet_id)

    def add_tweet_name(self, name: str, username: str, tweet_id: int) -> None:
        """Record a tweet file from the parts of its name (see :meth:`add_tweet`)."""
        previous = self.tweets.get(tweet_id)
        self.tweets[tweet_id] = name
        if previous is not None:
            old = layout.tweet_name_key(previous)
            if old is not None and old[0] == username:
                return
            if old is not None:
                self._drop_user_id(old[0], tweet_id)
        entry = self.users.get(username)
        if entry is None:
            entry = self.users[username] = UserEntry()
        ids = entry.tweet_ids
        if ids and tweet_id < ids[-1]:
            entry.ids_sorted = False
        ids.append(tweet_id)
        entry.tweet_count = len(ids)
        if tweet_id > entry.newest_tweet_id:
            entry.newest_tweet_id = tweet_id

    def _drop_user_id(self, username: str, tweet_id: int) -> None:
        entry = self.users.get(username)
        if entry is None or tweet_id not in entry.tweet_ids:
            return
        entry.tweet_ids.remove(tweet_id)
        entry.tweet_count = len(entry.tweet_ids)
        if entry.newest_tweet_id == tweet_id:
            entry.newest_tweet_id = max(entry.tweet_ids, default=0)

    def remove_tweet(self, tweet_id: int) -> None:
        """Forget a tweet file (it was moved aside or deleted)."""
        name = self.tweets.pop(tweet_id, None)
        parsed = layout.parse_tweet_filename(name) if name else None
        if parsed is not None:
            self._drop_user_id(parsed.username, tweet_id)

    def add_profile(self, name: str, parsed: layout.ProfileName) -> None:
        """Record a profile snapshot; the newest by name (= by time stamp) wins."""
        entry = self.user(parsed.username)
        if entry.newest_profile is None or name > entry.newest_profile:
            entry.newest_profile = name

    # -- event records ------------------------------------------------------------------------

    def events_of_tweet(self, tweet_id: int) -> list[str]:
        """The record names of a tweet (a new list; empty if it has none)."""
        names = self.tweet_records.get(tweet_id)
        if names is None:
            return []
        return [names] if isinstance(names, str) else list(names)

    def has_tweet_events(self, tweet_id: int) -> bool:
        """True if some event record of the tweet is listed."""
        return tweet_id in self.tweet_records

    def events_of(self, subject: EventSubject, subject_id: int) -> list[str]:
        """The record names of one subject (a new list), tweets and user subjects alike."""
        if subject is EventSubject.TWEET:
            return self.events_of_tweet(subject_id)
        return list(self.user_events.get((subject, subject_id), ()))

    def event_names(self) -> Iterator[str]:
        """Every listed record name (a live view: copy it before writing records)."""
        for names in self.tweet_records.values():
            if isinstance(names, str):
                yield names
            else:
                yield from names
        for listed in self.user_events.values():
            yield from listed

    def event_count(self) -> int:
        """How many record names are listed."""
        several = sum(len(n) - 1 for n in self.tweet_records.values() if not isinstance(n, str))
        return len(self.tweet_records) + several + sum(len(v) for v in self.user_events.values())

    def _set_names(self, parsed: layout.EventName, names: list[str]) -> None:
        if parsed.subject is EventSubject.TWEET:
            if not names:
                self.tweet_records.pop(parsed.subject_id, None)
            else:
                self.tweet_records[parsed.subject_id] = names[0] if len(names) == 1 else names
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

    def tweet_ids_of(self, username: str) -> list[int]:
        """Cached tweet ids of one user, oldest first (a copy of the per-user list; no name parsing)."""
        entry = self.users.get(layout.normalize_username(username))
        if entry is None:
            return []
        if not entry.ids_sorted:
            entry.tweet_ids.sort()
            entry.ids_sorted = True
        return list(entry.tweet_ids)


def scan_names(directory: Path) -> list[str]:
    """Names of the entries of a directory (none if it does not exist), from one listing."""
    try:
        return os.listdir(directory)
    except FileNotFoundError:
        return []


def build_index(data_dir: Path) -> CacheIndex:
    """Rebuild the index from one scan of ``data_dir`` and ``data_dir/nostr_events``. Reads no file.

    Temp files that a killed writer left behind are listed in ``index.temp_files`` (paths) during the
    same scan, so that the store can remove them without listing the directories again.

    Fast paths (docs/PERFORMANCE.md, B3): the bulk kinds, tweet files and settled tweet records, are
    recognized by regex calls over whole chunks of the listing (``layout.tweet_name_keys``,
    ``layout.split_settled_tweet_events``) and then cut apart by position; everything else goes name by
    name through the per-name parsers. Both paths accept exactly the same names.
    """
    index = CacheIndex()
    names = scan_names(data_dir)
    keys = layout.tweet_name_keys(names)
    _add_tweets_bulk(index, list(compress(names, keys)), list(filter(None, keys)))
    rest = list(compress(names, map(operator.not_, keys)))
    del names, keys
    parse_profile = layout.parse_profile_filename
    parse_media = layout.parse_media_filename
    parse_not_found = layout.parse_not_found_filename
    is_temp = layout.is_temp_filename
    media = index.media
    for name in rest:
        if name.endswith(".json"):
            profile = parse_profile(name)
            if profile is not None:
                index.add_profile(name, profile)
        elif name.endswith(layout.NOT_FOUND_SUFFIX):
            tweet_id = parse_not_found(name)
            if tweet_id is not None:
                index.not_found.add(tweet_id)
        elif is_temp(name):
            index.temp_files.append(data_dir / name)
        elif parse_media(name) is not None:
            media.add(name)
    _add_events(index, data_dir, scan_names(data_dir / layout.EVENTS_DIR))
    return index


def _add_tweets_bulk(index: CacheIndex, names: list[str], keys: list[str]) -> None:
    """Add tweet names with their ``<username>_<tweetid>`` keys (``layout.tweet_name_keys``)."""
    users = index.users
    ids: list[int] = []
    add_id = ids.append
    for key in keys:
        user, _, tid = key.rpartition("_")
        tweet_id = int(tid)
        add_id(tweet_id)
        entry = users.get(user)
        if entry is None:
            entry = users[user] = UserEntry()
        entry.tweet_ids.append(tweet_id)
    tweets = dict(zip(ids, names, strict=True))
    if len(tweets) != len(names):  # the same id under two names (a renamed author): one by one
        index.users = {}
        for name, key, tweet_id in zip(names, keys, ids, strict=True):
            index.add_tweet_name(name, key.rpartition("_")[0], tweet_id)
        return
    index.tweets = tweets
    for entry in users.values():
        ids_of = entry.tweet_ids
        entry.tweet_count = len(ids_of)
        entry.newest_tweet_id = max(ids_of)
        entry.ids_sorted = len(ids_of) < 2


def _add_events(index: CacheIndex, data_dir: Path, names: list[str]) -> None:
    """Add the names of ``nostr_events/``: settled tweet records in bulk, the rest one by one."""
    settled, rest = layout.split_settled_tweet_events(names)
    del names
    at = layout.SETTLED_TWEET_EVENT_ID_AT
    ids = list(map(int, map(operator.itemgetter(slice(at, -5)), settled)))
    records: dict[int, EventNames] = dict(zip(ids, settled, strict=True))
    if len(records) != len(settled):  # some tweet has several records
        records = {}
        for tweet_id, name in zip(ids, settled, strict=True):
            listed = records.get(tweet_id)
            if listed is None:
                records[tweet_id] = name
            elif isinstance(listed, str):
                records[tweet_id] = [listed, name]
            else:
                listed.append(name)
    index.tweet_records = records
    events_dir = data_dir / layout.EVENTS_DIR
    for name in rest:
        event = layout.parse_event_filename(name)
        if event is not None:
            index.add_event(name, event)
        elif layout.is_temp_filename(name):
            index.temp_files.append(events_dir / name)
