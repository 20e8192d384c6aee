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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from nostrweet.cache import layout
from nostrweet.cache.layout import EventSubject
from nostrweet.twitter.models import TweetDocument, User, decode_document

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
        """Record a tweet file (a second name for the same id replaces the first in ``tweets``)."""
        previous = self.tweets.get(parsed.tweet_id)
        self.tweets[parsed.tweet_id] = name
        if previous is not None:
            old = layout.parse_tweet_filename(previous)
            if old is not None and old.username == parsed.username:
                return
            if old is not None:
                self._drop_user_id(old.username, parsed.tweet_id)
        entry = self.user(parsed.username)
        ids = entry.tweet_ids
        if ids and parsed.tweet_id < ids[-1]:
            entry.ids_sorted = False
        ids.append(parsed.tweet_id)
        entry.tweet_count = len(ids)
        if parsed.tweet_id > entry.newest_tweet_id:
            entry.newest_tweet_id = parsed.tweet_id

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

    def add_event(self, name: str, parsed: layout.EventName) -> None:
        """Record an event record file."""
        if parsed.subject is EventSubject.TWEET:
            self.tweet_events.setdefault(parsed.subject_id, []).append(name)
        else:
            self.user_events.setdefault((parsed.subject, parsed.subject_id), []).append(name)

    def tweet_ids_of(self, username: str) -> list[int]:
        """Cached tweet ids of one user, oldest first (a copy of the per-user list; no name parsing)."""
        entry = self.users.get(layout.normalize_username(username))
        if entry is None:
            return []
        if not entry.ids_sorted:
            entry.tweet_ids.sort()
            entry.ids_sorted = True
        return list(entry.tweet_ids)


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


class CacheStore:
    """The cache directory (SPEC §2): owns the data dir, its index, and every read and write of it.

    Opening a store creates the directory, removes temp files a killed writer left behind, and builds
    the :class:`CacheIndex` with one scan. Every write keeps the index current. Not thread-safe: use
    one store per event loop.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.events_dir = self.data_dir / layout.EVENTS_DIR
        self.data_dir.mkdir(parents=True, exist_ok=True)
        removed = remove_stale_temp_files(self.data_dir) + remove_stale_temp_files(self.events_dir)
        if removed:
            log.info("removed %d temp file(s) left by an interrupted write", removed)
        self.index = build_index(self.data_dir)

    # -- tweets -----------------------------------------------------------------------------

    def has_tweet(self, tweet_id: int | str) -> bool:
        """True if a tweet document is cached (from the index; reads nothing)."""
        return int(tweet_id) in self.index.tweets

    def tweet_path(self, tweet_id: int | str) -> Path | None:
        """The path of a cached tweet document, or None."""
        name = self.index.tweets.get(int(tweet_id))
        return self.data_dir / name if name else None

    def read_tweet_raw(self, tweet_id: int | str) -> dict[str, Any] | None:
        """The cached document as a dict; a file that does not parse is moved aside and gives None."""
        tid = int(tweet_id)
        path = self.tweet_path(tid)
        if path is None:
            return None
        raw = read_json_or_quarantine(path)
        if raw is None:
            if not path.exists():
                self.index.remove_tweet(tid)
            return None
        if (
            not isinstance(raw, dict)
            or not isinstance(raw.get("data"), dict)
            or str(raw["data"].get("id")) != str(tid)
        ):
            move_aside(path, "not a tweet document of this id")
            self.index.remove_tweet(tid)
            return None
        document: dict[str, Any] = raw
        return document

    def read_tweet(self, tweet_id: int | str) -> TweetDocument | None:
        """The cached tweet document, or None (missing, or corrupt and moved aside)."""
        raw = self.read_tweet_raw(tweet_id)
        if raw is None:
            return None
        try:
            return decode_document(raw)
        except msgspec.ValidationError as exc:
            path = self.tweet_path(tweet_id)
            if path is not None and path.exists():
                move_aside(path, str(exc))
            self.index.remove_tweet(int(tweet_id))
            return None

    def write_tweet(self, raw_document: dict[str, Any]) -> Path:
        """Write a tweet document atomically under its layout name and record it in the index.

        The name takes the author's username from ``includes.users``. An older file of the same id
        under another name (the author was renamed) is removed after the new one is in place, and a
        ``.not_found`` marker of the id is dropped.
        """
        data = raw_document["data"]
        tweet_id = int(data["id"])
        author_id = data.get("author_id")
        users = raw_document.get("includes", {}).get("users", [])
        author = next((u for u in users if str(u.get("id")) == str(author_id)), None)
        if author is None:
            raise ValueError(f"tweet {tweet_id}: its author {author_id} is not in includes.users")
        name = layout.tweet_filename(created_at_of(data), author["username"], tweet_id)
        path = self.data_dir / name
        atomic_write_json(path, raw_document)
        previous = self.index.tweets.get(tweet_id)
        parsed = layout.parse_tweet_filename(name)
        assert parsed is not None
        self.index.add_tweet(name, parsed)
        if previous is not None and previous != name:
            (self.data_dir / previous).unlink(missing_ok=True)
        if tweet_id in self.index.not_found:
            (self.data_dir / layout.not_found_filename(tweet_id)).unlink(missing_ok=True)
            self.index.not_found.discard(tweet_id)
        return path

    def tweet_ids_of(self, username: str) -> list[int]:
        """Cached tweet ids of a user, oldest first."""
        return self.index.tweet_ids_of(username)

    def newest_tweet_id(self, username: str) -> int | None:
        """The newest cached tweet id of a user, or None."""
        entry = self.index.users.get(layout.normalize_username(username))
        return entry.newest_tweet_id if entry is not None and entry.newest_tweet_id else None

    # -- not-found markers ------------------------------------------------------------------

    def is_not_found(self, tweet_id: int | str) -> bool:
        """True if the tweet has a ``.not_found`` marker."""
        return int(tweet_id) in self.index.not_found

    def mark_not_found(self, tweet_id: int | str, problem: dict[str, Any] | None = None) -> Path:
        """Write ``tweet_<id>.not_found`` (holding the API's Problem, if given)."""
        path = self.data_dir / layout.not_found_filename(tweet_id)
        atomic_write_json(path, problem or {})
        self.index.not_found.add(int(tweet_id))
        return path

    # -- profiles ---------------------------------------------------------------------------

    def write_profile(self, raw_user: dict[str, Any], fetched_at: datetime) -> Path:
        """Write a profile snapshot (the raw API user object) stamped with ``fetched_at``."""
        name = layout.profile_filename(fetched_at, raw_user["username"])
        path = self.data_dir / name
        atomic_write_json(path, raw_user)
        parsed = layout.parse_profile_filename(name)
        assert parsed is not None
        self.index.add_profile(name, parsed)
        return path

    def newest_profile_raw(self, username: str) -> dict[str, Any] | None:
        """The newest cached profile snapshot of a user as a dict, or None."""
        user = layout.normalize_username(username)
        entry = self.index.users.get(user)
        if entry is None or entry.newest_profile is None:
            return None
        path = self.data_dir / entry.newest_profile
        raw = read_json_or_quarantine(path)
        if isinstance(raw, dict) and isinstance(raw.get("id"), str) and isinstance(raw.get("username"), str):
            return raw
        if raw is not None:
            move_aside(path, "not a user object")
        entry.newest_profile = None
        return None

    def newest_profile(self, username: str) -> User | None:
        """The newest cached profile snapshot of a user, or None."""
        raw = self.newest_profile_raw(username)
        return msgspec.convert(raw, User, strict=False) if raw is not None else None

    def profile_fetched_at(self, username: str) -> datetime | None:
        """When the newest cached profile of a user was fetched (from its name), or None."""
        entry = self.index.users.get(layout.normalize_username(username))
        if entry is None or entry.newest_profile is None:
            return None
        parsed = layout.parse_profile_filename(entry.newest_profile)
        return parsed.fetched_at if parsed else None

    # -- media ------------------------------------------------------------------------------

    def media_path(self, name: str) -> Path:
        """The path for a media file name (validated by the layout)."""
        if layout.parse_media_filename(name) is None:
            raise ValueError(f"not a media file name: {name!r}")
        return self.data_dir / name

    def has_media(self, name: str) -> bool:
        """True if the media file is cached (from the index)."""
        return name in self.index.media

    def add_media(self, name: str) -> None:
        """Record a media file that was just written."""
        self.index.media.add(name)

    # -- clearing ---------------------------------------------------------------------------

    def clear(self, *, include_events: bool = False) -> int:
        """Delete cached tweets, media, profiles, markers, temp and corrupt files; event records only
        with ``include_events``. Returns how many files were deleted. Files the layout does not know
        are left alone."""
        removed = 0
        for name in list(_scan_names(self.data_dir)):
            if _is_cache_file(name):
                (self.data_dir / name).unlink(missing_ok=True)
                removed += 1
        if include_events:
            for name in list(_scan_names(self.events_dir)):
                if layout.parse_event_filename(name) or layout.is_temp_filename(name) or ".json" in name:
                    (self.events_dir / name).unlink(missing_ok=True)
                    removed += 1
        self.index = build_index(self.data_dir)
        return removed


def _is_cache_file(name: str) -> bool:
    if layout.is_temp_filename(name):
        return True
    base = name.split(layout.CORRUPT_SUFFIX)[0] if layout.CORRUPT_SUFFIX in name else name
    return bool(
        layout.parse_tweet_filename(base)
        or layout.parse_profile_filename(base)
        or layout.parse_media_filename(base)
        or layout.parse_not_found_filename(base) is not None
    )
