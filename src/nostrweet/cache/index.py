"""The in-memory index of the cache directory, derived from one listing of it (SPEC §2).

``build_index`` reads no file: every fact comes from a file name (``cache.layout``). With 1,000 users
and 1,000,000 files this is one pass over the directory entries, never a glob per user.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
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


@dataclass(slots=True)
class CacheIndex:
    """Everything the listing of the cache directory tells, built by one scan and kept current by the store.

    - ``tweets``: tweet id -> file name
    - ``users``: lower-case username -> :class:`UserEntry` (newest tweet id, newest profile file)
    - ``not_found``: tweet ids with a ``.not_found`` marker
    - ``tweet_events``: tweet id -> event record file names (``nostr_events/``)
    - ``user_events``: (subject, user id) -> event record file names for profiles, relay lists, Blossom lists
    - ``pending_events``: the names among those that carry the pending marker (work left for a relay)
    - ``media``: media file names present
    """

    tweets: dict[int, str] = field(default_factory=dict)
    users: dict[str, UserEntry] = field(default_factory=dict)
    not_found: set[int] = field(default_factory=set)
    tweet_events: dict[int, list[str]] = field(default_factory=dict)
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

    def _event_names(self, parsed: layout.EventName) -> list[str]:
        if parsed.subject is EventSubject.TWEET:
            return self.tweet_events.setdefault(parsed.subject_id, [])
        return self.user_events.setdefault((parsed.subject, parsed.subject_id), [])

    def add_event(self, name: str, parsed: layout.EventName) -> None:
        """Record an event record file (either name form; see docs/CACHE.md).

        One record is listed under one name. When both forms of a record exist (a process was killed
        between writing the new name and removing the old one), the pending form wins whatever the
        order of the listing: at worst its event is sent again, with the same id.
        """
        names = self._event_names(parsed)
        if name in names:
            return
        other = parsed.settled_name if parsed.pending else parsed.pending_name
        if other in names:
            if not parsed.pending:
                return
            names.remove(other)
        names.append(name)
        if parsed.pending:
            self.pending_events.add(name)

    def remove_event(self, name: str, parsed: layout.EventName) -> None:
        """Forget an event record name (renamed to its other form, or moved aside)."""
        names = self._event_names(parsed)
        if name in names:
            names.remove(name)
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
    """
    index = CacheIndex()
    tweet_key = layout.tweet_name_key
    add_tweet = index.add_tweet_name
    parse_profile = layout.parse_profile_filename
    parse_media = layout.parse_media_filename
    parse_not_found = layout.parse_not_found_filename
    is_temp = layout.is_temp_filename
    media = index.media
    for name in scan_names(data_dir):
        if name.endswith(".json"):
            key = tweet_key(name)
            if key is not None:
                add_tweet(name, key[0], key[1])
                continue
            profile = parse_profile(name)
            if profile is not None:
                index.add_profile(name, profile)
            continue
        if name.endswith(layout.NOT_FOUND_SUFFIX):
            tweet_id = parse_not_found(name)
            if tweet_id is not None:
                index.not_found.add(tweet_id)
            continue
        if is_temp(name):
            index.temp_files.append(data_dir / name)
        elif parse_media(name) is not None:
            media.add(name)
    for name in scan_names(data_dir / layout.EVENTS_DIR):
        event = layout.parse_event_filename(name)
        if event is not None:
            index.add_event(name, event)
        elif is_temp(name):
            index.temp_files.append(data_dir / layout.EVENTS_DIR / name)
    return index
