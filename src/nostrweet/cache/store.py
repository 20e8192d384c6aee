"""Atomic file storage and the one-scan startup index of the cache directory (SPEC §2).

The directory is the state; :class:`CacheIndex` is derived from its listing alone (no file reads)
and can always be rebuilt. Every write goes through :func:`atomic_write_bytes`: temp file in the same
directory, fsync, rename, fsync of the directory. A reader that finds a file it cannot parse moves it
aside to ``<name>.corrupt`` and treats it as missing, so it is fetched again.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from nostrweet.cache import layout
from nostrweet.cache.layout import EventSubject

log = logging.getLogger(__name__)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old file or the new one, never a part."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{layout.TEMP_SUFFIX}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """fsync a directory so that a rename in it survives a power loss."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


_ENCODER = msgspec.json.Encoder(order="deterministic")


def encode_json(value: Any) -> bytes:
    """Deterministic, indented JSON bytes (keys sorted) for files a person may read."""
    return msgspec.json.format(_ENCODER.encode(value), indent=2) + b"\n"


def atomic_write_json(path: Path, value: Any) -> None:
    """Serialize ``value`` as JSON and write it atomically."""
    atomic_write_bytes(path, encode_json(value))


def move_aside(path: Path, reason: str) -> Path:
    """Rename a file that does not parse to ``<name>.corrupt`` (keeping older ones) and warn."""
    target = path.with_name(path.name + layout.CORRUPT_SUFFIX)
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}{layout.CORRUPT_SUFFIX}.{n}")
        n += 1
    os.replace(path, target)
    log.warning("moved unreadable file %s aside to %s: %s", path.name, target.name, reason)
    return target


def read_json_or_quarantine(path: Path) -> Any | None:
    """Read a JSON file. A missing file gives None; a file that does not parse is moved aside and gives None."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        move_aside(path, str(exc))
        return None


def remove_stale_temp_files(directory: Path) -> int:
    """Delete temp files that a killed writer left in ``directory``; returns how many."""
    removed = 0
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return 0
    for entry in entries:
        if layout.is_temp_filename(entry.name):
            Path(entry.path).unlink(missing_ok=True)
            removed += 1
    return removed


@dataclass(slots=True)
class UserEntry:
    """What the index knows about one (lower-case) username."""

    newest_tweet_id: int = 0
    tweet_count: int = 0
    newest_profile: str | None = None


@dataclass(slots=True)
class CacheIndex:
    """Everything the listing of the cache directory tells, built by one scan and kept current by the store.

    - ``tweets``: tweet id -> file name
    - ``users``: lower-case username -> :class:`UserEntry` (newest tweet id, newest profile file)
    - ``not_found``: tweet ids with a ``.not_found`` marker
    - ``tweet_events``: tweet id -> event record file names (``nostr_events/``)
    - ``user_events``: (subject, user id) -> event record file names for profiles, relay lists, Blossom lists
    - ``media``: media file names present
    """

    tweets: dict[int, str] = field(default_factory=dict)
    users: dict[str, UserEntry] = field(default_factory=dict)
    not_found: set[int] = field(default_factory=set)
    tweet_events: dict[int, list[str]] = field(default_factory=dict)
    user_events: dict[tuple[EventSubject, int], list[str]] = field(default_factory=dict)
    media: set[str] = field(default_factory=set)

    def user(self, username: str) -> UserEntry:
        """The entry for a lower-case username, created empty if absent."""
        entry = self.users.get(username)
        if entry is None:
            entry = self.users[username] = UserEntry()
        return entry

    def add_tweet(self, name: str, parsed: layout.TweetName) -> None:
        """Record a tweet file."""
        self.tweets[parsed.tweet_id] = name
        entry = self.user(parsed.username)
        entry.tweet_count += 1
        if parsed.tweet_id > entry.newest_tweet_id:
            entry.newest_tweet_id = parsed.tweet_id

    def add_profile(self, name: str, parsed: layout.ProfileName) -> None:
        """Record a profile snapshot; the newest by name (= by time stamp) wins."""
        entry = self.user(parsed.username)
        if entry.newest_profile is None or name > entry.newest_profile:
            entry.newest_profile = name

    def add_event(self, name: str, parsed: layout.EventName) -> None:
        """Record an event record file."""
        if parsed.subject is EventSubject.TWEET:
            self.tweet_events.setdefault(parsed.subject_id, []).append(name)
        else:
            self.user_events.setdefault((parsed.subject, parsed.subject_id), []).append(name)

    def tweet_ids_of(self, username: str) -> list[int]:
        """Cached tweet ids of one user, oldest first (a walk over the tweet map)."""
        suffix_user = layout.normalize_username(username)
        ids = []
        for tweet_id, name in self.tweets.items():
            parsed = layout.parse_tweet_filename(name)
            if parsed is not None and parsed.username == suffix_user:
                ids.append(tweet_id)
        ids.sort()
        return ids


def _scan_names(directory: Path) -> Iterator[str]:
    try:
        with os.scandir(directory) as it:
            for entry in it:
                yield entry.name
    except FileNotFoundError:
        return


def build_index(data_dir: Path) -> CacheIndex:
    """Rebuild the index from one scan of ``data_dir`` and ``data_dir/nostr_events``. Reads no file."""
    index = CacheIndex()
    parse_tweet = layout.parse_tweet_filename
    parse_profile = layout.parse_profile_filename
    parse_media = layout.parse_media_filename
    parse_not_found = layout.parse_not_found_filename
    for name in _scan_names(data_dir):
        if name.endswith(".json"):
            tweet = parse_tweet(name)
            if tweet is not None:
                index.add_tweet(name, tweet)
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
        if parse_media(name) is not None:
            index.media.add(name)
    for name in _scan_names(data_dir / layout.EVENTS_DIR):
        event = layout.parse_event_filename(name)
        if event is not None:
            index.add_event(name, event)
    return index
