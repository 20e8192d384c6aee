"""File names of the cache directory (SPEC §2), as pure functions.

Every name the cache uses is built and parsed here, one name at a time; ``cache.name_lists`` holds
the scanner's batch forms of these parsers, which accept exactly the same names. Parsing is strict: a
name either parses as exactly one kind of entry or as nothing, so a profile is never read as a tweet
and the user ``foo`` never picks up the files of ``foo_bar``.

Layout::

    <data-dir>/YYYYMMDD_HHMMSS_<username>_<tweetid>.json    tweet (stamped with created_at, UTC)
    <data-dir>/YYYYMMDD_HHMMSS_<username>_profile.json      profile snapshot (stamped with fetch time)
    <data-dir>/<username>_<tweetid>_<n>.<ext>               media n of a tweet
    <data-dir>/tweet_<tweetid>.not_found                    tweet deleted / protected / never existed
    <data-dir>/nostr_events/event_<eventid>_<subject>_<id>.json           settled event record
    <data-dir>/nostr_events/event_<eventid>_<subject>_<id>.pending.json   record with work left
        subject is one of: tweet (id = tweet id), profile, relays, blossom (id = numeric user id)
    .<final name>.<pid>-<random>.tmp                        a write in progress by process <pid>
                                                            (removed once that process is gone)
    <name>.corrupt[.<n>]                                     a file that did not parse, moved aside
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import Enum

import msgspec

from nostrweet.names import USERNAME_RE as USERNAME_RE
from nostrweet.names import normalize_username as normalize_username

EVENTS_DIR = "nostr_events"
DAEMON_LOCK = "daemon.lock"
"""Held (flock) by the daemon that owns the data dir; names it."""
TEMP_SUFFIX = ".tmp"
CORRUPT_SUFFIX = ".corrupt"
NOT_FOUND_SUFFIX = ".not_found"

_STAMP = r"(\d{8})_(\d{6})"
_USER = r"([a-z0-9_]{1,15})"
# A numeric id in a file name: no leading zero, and below 9,223,000,000,000,000,000 so that it fits
# the index's signed 64-bit arrays (X ids are snowflakes far below that). A larger number in a name
# makes the name match nothing, like any other stranger in the directory.
ID_DIGITS = r"0|[1-9][0-9]{0,17}|[1-8][0-9]{18}|9[01][0-9]{17}|92[01][0-9]{16}|922[0-2][0-9]{15}"
MAX_NAME_ID = 9_222_999_999_999_999_999
_ID = rf"({ID_DIGITS})"
_TWEET_RE = re.compile(rf"^{_STAMP}_{_USER}_{_ID}\.json$")
_PROFILE_RE = re.compile(rf"^{_STAMP}_{_USER}_profile\.json$")
_MEDIA_RE = re.compile(rf"^{_USER}_{_ID}_(\d{{1,3}})\.([a-z0-9]{{1,5}})$")
_NOT_FOUND_RE = re.compile(rf"^tweet_{_ID}\.not_found$")
_EVENT_RE = re.compile(rf"^event_([0-9a-f]{{64}})_(tweet|profile|relays|blossom)_{_ID}(\.pending)?\.json$")
PENDING_MARK = ".pending"
"""Inserted before ``.json`` in the name of an event record that some relay still has to answer for good."""


class EventSubject(Enum):
    """What an event record is about; part of its file name."""

    TWEET = "tweet"
    PROFILE = "profile"
    RELAYS = "relays"
    BLOSSOM = "blossom"


def _stamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y%m%d_%H%M%S")


def _parse_stamp(day: str, time: str) -> datetime | None:
    # The regexes guarantee 8 + 6 digits; the constructor checks the ranges. (strptime costs ~10x more,
    # and this runs once per cached file at startup: see docs/PERFORMANCE.md, B3.)
    try:
        return datetime(
            int(day[:4]),
            int(day[4:6]),
            int(day[6:]),
            int(time[:2]),
            int(time[2:4]),
            int(time[4:]),
            tzinfo=UTC,
        )
    except ValueError:
        return None


def _check_id(value: int | str) -> str:
    text = str(value)
    if not re.fullmatch(_ID, text):
        raise ValueError(f"not a numeric id: {value!r}")
    return text


class TweetName(msgspec.Struct, frozen=True, gc=False):
    """A parsed tweet file name."""

    created_at: datetime
    username: str
    tweet_id: int


class ProfileName(msgspec.Struct, frozen=True, gc=False):
    """A parsed profile snapshot file name."""

    fetched_at: datetime
    username: str


class MediaName(msgspec.Struct, frozen=True, gc=False):
    """A parsed media file name."""

    username: str
    tweet_id: int
    index: int
    ext: str


class EventName(msgspec.Struct, frozen=True, gc=False):
    """A parsed event record file name."""

    event_id: str
    subject: EventSubject
    subject_id: int
    pending: bool = False

    @property
    def settled_name(self) -> str:
        """The record's name without the pending marker (the same for both forms: its identity)."""
        return f"event_{self.event_id}_{self.subject.value}_{self.subject_id}.json"

    @property
    def pending_name(self) -> str:
        """The record's name with the pending marker."""
        return f"event_{self.event_id}_{self.subject.value}_{self.subject_id}{PENDING_MARK}.json"


def tweet_filename(created_at: datetime, username: str, tweet_id: int | str) -> str:
    """``YYYYMMDD_HHMMSS_<username>_<tweetid>.json`` with the username lower-cased."""
    return f"{_stamp(created_at)}_{normalize_username(username)}_{_check_id(tweet_id)}.json"


def profile_filename(fetched_at: datetime, username: str) -> str:
    """``YYYYMMDD_HHMMSS_<username>_profile.json``."""
    return f"{_stamp(fetched_at)}_{normalize_username(username)}_profile.json"


def media_filename(username: str, tweet_id: int | str, index: int, ext: str) -> str:
    """``<username>_<tweetid>_<n>.<ext>``; ext is lower-cased and must be 1 to 5 letters or digits."""
    ext = ext.lower().lstrip(".")
    if not re.fullmatch(r"[a-z0-9]{1,5}", ext) or not 0 <= index < 1000:
        raise ValueError(f"bad media name parts: index={index} ext={ext!r}")
    return f"{normalize_username(username)}_{_check_id(tweet_id)}_{index}.{ext}"


def not_found_filename(tweet_id: int | str) -> str:
    """``tweet_<id>.not_found``."""
    return f"tweet_{_check_id(tweet_id)}{NOT_FOUND_SUFFIX}"


def event_filename(
    event_id: str, subject: EventSubject, subject_id: int | str, *, pending: bool = False
) -> str:
    """``event_<eventid>_<subject>_<id>.json``, or ``….pending.json`` while some relay it lists has not
    answered for good (lives in ``nostr_events/``)."""
    if not re.fullmatch(r"[0-9a-f]{64}", event_id):
        raise ValueError(f"not an event id: {event_id!r}")
    mark = PENDING_MARK if pending else ""
    return f"event_{event_id}_{subject.value}_{_check_id(subject_id)}{mark}.json"


def parse_tweet_filename(name: str) -> TweetName | None:
    """Parse a tweet file name, or None if ``name`` is not one."""
    m = _TWEET_RE.fullmatch(name)
    if m is None:
        return None
    stamp = _parse_stamp(m.group(1), m.group(2))
    if stamp is None:
        return None
    return TweetName(stamp, m.group(3), int(m.group(4)))


def tweet_name_key(name: str) -> tuple[str, int] | None:
    """(username, tweet id) of a tweet file name, or None: the startup scan's fast path.

    Accepts exactly the names :func:`parse_tweet_filename` accepts, except that it does not check the
    time stamp against the calendar (a name we write always holds a real date), and builds no object.
    """
    m = _TWEET_RE.fullmatch(name)
    if m is None:
        return None
    return m.group(3), int(m.group(4))


def parse_profile_filename(name: str) -> ProfileName | None:
    """Parse a profile snapshot file name, or None."""
    m = _PROFILE_RE.fullmatch(name)
    if m is None:
        return None
    stamp = _parse_stamp(m.group(1), m.group(2))
    if stamp is None:
        return None
    return ProfileName(stamp, m.group(3))


def parse_media_filename(name: str) -> MediaName | None:
    """Parse a media file name, or None."""
    m = _MEDIA_RE.fullmatch(name)
    if m is None or m.group(4) == "json":
        return None
    return MediaName(m.group(1), int(m.group(2)), int(m.group(3)), m.group(4))


def parse_not_found_filename(name: str) -> int | None:
    """The tweet id of a ``tweet_<id>.not_found`` marker, or None."""
    m = _NOT_FOUND_RE.fullmatch(name)
    return int(m.group(1)) if m else None


_SUBJECTS = {s.value: s for s in EventSubject}


def parse_event_filename(name: str) -> EventName | None:
    """Parse an event record file name (either form), or None."""
    m = _EVENT_RE.fullmatch(name)
    if m is None:
        return None
    return EventName(m.group(1), _SUBJECTS[m.group(2)], int(m.group(3)), m.group(4) is not None)


def event_name_key(name: str) -> tuple[str, EventSubject, int, bool] | None:
    """(event id, subject, subject id, pending) of an event record name, or None: the startup scan's
    fast path. Accepts exactly the names :func:`parse_event_filename` accepts and builds no object."""
    m = _EVENT_RE.fullmatch(name)
    if m is None:
        return None
    return m.group(1), _SUBJECTS[m.group(2)], int(m.group(3)), m.group(4) is not None


def tweet_stamp_number(name: str) -> int | None:
    """The stamp of a tweet file name as the number ``YYYYMMDDHHMMSS``, or None if it is not one."""
    m = _TWEET_RE.fullmatch(name)
    return int(m.group(1) + m.group(2)) if m else None


def tweet_name_of(stamp: int, username: str, tweet_id: int) -> str:
    """The tweet file name from its parts, the stamp as the number ``YYYYMMDDHHMMSS``: the inverse of
    :func:`tweet_stamp_number` and :func:`tweet_name_key` (the index keeps these three, not the name)."""
    day, time = divmod(stamp, 1_000_000)
    return f"{day:08d}_{time:06d}_{username}_{tweet_id}.json"


def settled_tweet_event_name(event_id: bytes, tweet_id: int) -> str:
    """``event_<eventid>_tweet_<tweetid>.json`` from the 32 bytes of the event id."""
    return f"event_{event_id.hex()}_tweet_{tweet_id}.json"


def is_temp_filename(name: str) -> bool:
    """True for a temporary file that an interrupted atomic write may have left behind."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


_TEMP_RE = re.compile(r"^\.(.+)\.(?:([1-9][0-9]{0,9})-)?([0-9a-f]{1,32})\.tmp$", re.DOTALL)


class TempName(msgspec.Struct, frozen=True, gc=False):
    """A parsed temp file name: the final name it is written for, and the writer's pid (None for a
    name written before temp names carried it)."""

    final_name: str
    pid: int | None


def temp_filename(final_name: str, pid: int, token: str) -> str:
    """``.<final name>.<pid>-<token>.tmp``: the temp name of a write in progress by process ``pid``.

    The pid tells a later start whether the writer is still alive (its temp file is then left alone).
    """
    if pid <= 0 or not re.fullmatch(r"[0-9a-f]{1,32}", token) or "/" in final_name or not final_name:
        raise ValueError(f"bad temp name parts: {final_name!r} {pid} {token!r}")
    return f".{final_name}.{pid}-{token}{TEMP_SUFFIX}"


def parse_temp_filename(name: str) -> TempName | None:
    """Parse a temp file name (with or without the writer's pid), or None if ``name`` is not one."""
    m = _TEMP_RE.fullmatch(name)
    if m is None:
        return None
    return TempName(m.group(1), int(m.group(2)) if m.group(2) else None)


def temp_is_orphaned(pid: int | None, *, alive: bool, age_seconds: float, max_age: float) -> bool:
    """Whether a temp file may be removed: its writer is gone (or unknown), or it is older than
    ``max_age`` (a guard against a pid reused by an unrelated process)."""
    return pid is None or not alive or age_seconds > max_age


def parse_corrupt_tweet_filename(name: str) -> TweetName | None:
    """The tweet of a tweet file that was moved aside (``<tweet name>.corrupt`` or ``….corrupt.<n>``),
    or None: the quarantine name keeps the id, so the tweet can be fetched again."""
    base, mark, rest = name.partition(CORRUPT_SUFFIX)
    if not mark or (rest and not re.fullmatch(r"\.[1-9][0-9]{0,5}", rest)):
        return None
    return parse_tweet_filename(base)
