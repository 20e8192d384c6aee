"""Import the earlier Rust nostrweet's data directory into the state, in place and once (SPEC §11).

Its files (names and shapes: ``cache.legacy``) become rows that point at them as they are; nothing is
renamed, changed or deleted:

- tweet files → ``tweets`` rows (``file_name`` = the file's own name, its username in its real case); the
  tweet loader (``store``) reads the earlier tool's shape into our document form;
- profile files ``YYYYMMDDHHMMSS_<username>_<userid>.json`` → ``profiles`` rows (the newest per user; a
  snapshot of ours that is newer wins);
- ``<id>.not_found`` → ``not_found`` rows;
- ``nostr/<tweet_id>.json`` ("posted" records) and the kind 1 events in ``nostr_events/<event_id>.json``
  that carry its ``r`` tag → event records of their tweets. The earlier tool wrote a record even when no
  relay took the event, so each listed relay is ``pending``: the outbox sends the same signed event again
  (same id; a relay that holds it answers ``duplicate:``), and no other event is built for that tweet;
- media files ``<username>_<media key suffix>.<jpg|mp4>`` are counted; publishing finds them by that name.

A tweet file is read (to tell the earlier tool's shape from ours, which share the name form) only when the
directory shows the earlier tool was there: a name only it writes (an upper-case username, a profile or
marker name of its own, a media name of its own, ``nostr/``). A valid JSON file of a shape neither knows
is reported, never moved. When done, a ``meta`` row says so, and a second run does nothing. The
statements are SQL text (``state.sql``), one transaction after another; on PostgreSQL an advisory lock,
held on a connection of its own, makes instances import once.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nostrweet.cache import layout, legacy
from nostrweet.nostr.record import EventRecord, RelayState
from nostrweet.state import versions
from nostrweet.state.engine import State
from nostrweet.state.import_files import advisory_lock, is_marked, mark
from nostrweet.state.index import ArchiveIndex, TweetRow, write_profiles
from nostrweet.state.records import RecordRepo
from nostrweet.state.sql import chunks, in_list

log = logging.getLogger(__name__)

IMPORTED_KEY = versions.LEGACY_IMPORTED
IMPORT_LOCK_KEY = 0x6C6567616379  # "legacy"
"""The key of the PostgreSQL advisory lock held during a legacy import."""
UNCONFIRMED = "posted by the earlier nostrweet; sent again to confirm"


@dataclass(slots=True)
class LegacyReport:
    """What a legacy import found and brought in (all zero when it had been done before)."""

    done_before: bool = False
    tweets: int = 0
    profiles: int = 0
    not_found: int = 0
    media: int = 0
    records: int = 0
    missing_references: list[str] = field(default_factory=list)
    """Tweets referenced by the earlier tool's tweets that it did not fetch and that are not cached."""
    unknown: list[str] = field(default_factory=list)
    """Files named like the earlier tool's that hold something else (reported, left as they are)."""

    @property
    def found_anything(self) -> bool:
        """Whether the directory held anything of the earlier tool."""
        return bool(self.tweets or self.profiles or self.not_found or self.media or self.records)

    def line(self) -> str:
        """The summary line of ``migrate``."""
        return (
            f"{self.tweets} tweet(s), {self.profiles} profile(s), {self.not_found} not-found marker(s), "
            f"{self.media} media file(s), {self.records} posted event(s)"
        )


def was_imported(state: State) -> bool:
    """Whether the earlier tool's files were imported into this state already."""
    return is_marked(state, IMPORTED_KEY)


def _listing(directory: Path) -> list[str]:
    try:
        with os.scandir(directory) as entries:
            return sorted(e.name for e in entries if e.is_file(follow_symlinks=False))
    except (FileNotFoundError, NotADirectoryError):
        return []


def _read(path: Path) -> tuple[bool, Any]:
    """(parsed, value): ``(False, None)`` when the file cannot be read or is not JSON."""
    try:
        return True, json.loads(path.read_bytes())
    except (OSError, ValueError):
        return False, None


def has_traces(data_dir: Path) -> bool:
    """Whether ``data_dir`` shows the earlier tool was there (one listing, no file read)."""
    return _has_traces(Path(data_dir), legacy.recognised(_listing(Path(data_dir))))


def _has_traces(data_dir: Path, found: dict[str, list[str]]) -> bool:
    """Whether the listing shows the earlier tool was here (a name only it writes)."""
    if found["profiles"] or found["not_found"] or found["media"]:
        return True
    if (data_dir / legacy.POSTED_DIR).is_dir():
        return True
    return any(layout.tweet_name_key(n) is None for n in found["tweets"])


def _import_tweets(state: State, data_dir: Path, names: list[str], report: LegacyReport) -> list[str]:
    rows: list[TweetRow] = []
    referenced: list[str] = []
    for name in names:
        parsed = legacy.parse_tweet_name(name)
        stamp = legacy.tweet_stamp(name)
        if parsed is None or stamp is None:
            continue
        ok, raw = _read(data_dir / name)
        if not ok:
            report.unknown.append(name)
            continue
        if isinstance(raw, dict) and isinstance(raw.get("data"), dict):
            continue  # a document of ours (import_files knows it)
        if not legacy.is_legacy_tweet(raw) or raw["id"] != str(parsed.tweet_id):
            report.unknown.append(name)
            continue
        rows.append(TweetRow(parsed.tweet_id, parsed.username, stamp, name))
        referenced.extend(legacy.missing_references(raw))
    ArchiveIndex(state).add_tweets(rows)
    report.tweets = len(rows)
    return referenced


def _import_profiles(state: State, data_dir: Path, names: list[str], report: LegacyReport) -> None:
    newest: dict[str, tuple[int, str]] = {}
    for name in names:
        parsed = legacy.parse_profile_name(name)
        if parsed is None:
            continue
        ok, raw = _read(data_dir / name)
        if not ok or not legacy.is_legacy_profile(raw) or raw["id"] != parsed.user_id:
            report.unknown.append(name)
            continue
        report.profiles += 1
        if (parsed.stamp, name) > newest.get(parsed.username, (-1, "")):
            newest[parsed.username] = (parsed.stamp, name)
    if not newest:
        return
    with state.write() as tx:
        known: dict[str, int] = {}
        for part in chunks(list(newest)):
            inside, params = in_list("u", part)
            rows = tx.rows(f"SELECT username, stamp FROM profiles WHERE username IN ({inside})", params)
            known.update((str(username), int(stamp)) for username, stamp in rows)
        values = [
            {"username": u, "stamp": s, "file_name": n}
            for u, (s, n) in newest.items()
            if s > known.get(u, -1)  # a snapshot of ours from the same second or later wins
        ]
        write_profiles(tx, values)


def _records(data_dir: Path, report: LegacyReport) -> Iterable[EventRecord]:
    posted_dir = data_dir / legacy.POSTED_DIR
    for name in _listing(posted_dir):
        tweet_id = legacy.parse_posted_name(name)
        if tweet_id is None:
            continue
        ok, raw = _read(posted_dir / name)
        posted = legacy.posted_record(raw, tweet_id) if ok else None
        if posted is None:
            report.unknown.append(f"{legacy.POSTED_DIR}/{name}")
            continue
        yield _record(posted)
    events_dir = data_dir / legacy.EVENTS_DIR
    for name in _listing(events_dir):
        if legacy.parse_event_name(name) is None:
            continue  # (our own records there are import_files' business)
        ok, raw = _read(events_dir / name)
        posted = legacy.tweet_of_event(raw) if ok else None
        if posted is not None:
            yield _record(posted)


def _record(posted: legacy.PostedRecord) -> EventRecord:
    relays = {url: RelayState("pending", UNCONFIRMED) for url in posted.relays}
    return EventRecord(
        posted.event, layout.EventSubject.TWEET, posted.tweet_id, relays, tweet_id=posted.tweet_id
    )


def import_legacy(state: State, data_dir: Path, *, now: float) -> LegacyReport:
    """Import the earlier tool's files of ``data_dir`` into ``state`` unless that was done before (see
    the module docstring). On PostgreSQL an advisory lock makes instances that start together import once."""
    with advisory_lock(state, IMPORT_LOCK_KEY):
        return _import_once(state, Path(data_dir), now)


def _import_once(state: State, data_dir: Path, now: float) -> LegacyReport:
    if was_imported(state):
        return LegacyReport(done_before=True)
    report = LegacyReport()
    found = legacy.recognised(_listing(data_dir))
    if _has_traces(data_dir, found):
        referenced = _import_tweets(state, data_dir, found["tweets"], report)
        _import_profiles(state, data_dir, found["profiles"], report)
        markers = [i for n in found["not_found"] if (i := legacy.parse_not_found_name(n)) is not None]
        archive = ArchiveIndex(state)
        archive.add_not_found(markers)
        report.not_found = len(markers)
        report.media = len(found["media"])
        records: dict[str, EventRecord] = {}
        for record in _records(data_dir, report):  # one event may be in nostr/ and nostr_events/
            known = records.setdefault(record.event_id, record)
            for url, st in record.relays.items():
                known.relays.setdefault(url, st)
        RecordRepo(state).save_many(records.values())
        report.records = len(records)
        for tweet_id in dict.fromkeys(referenced):
            if archive.tweet_name(int(tweet_id)) is None and not archive.is_not_found(int(tweet_id)):
                report.missing_references.append(tweet_id)
    mark(state, IMPORTED_KEY, now)
    for name in report.unknown:
        log.warning("%s: valid JSON of a shape nostrweet does not know (or not JSON); left as it is", name)
    if report.found_anything:
        log.info("imported the earlier nostrweet's files: %s", report.line())
    return report
