"""The event records of the file layout that earlier versions wrote, as they wrote them (tests only).

Caches written by that layout are imported into the state on the first start
(``nostrweet.state.import_files``); the tests build such caches with this writer, which is the one those
versions used, unchanged but for this paragraph.

Event records (SPEC §2): a signed event and, for each relay, where it stands.

File: ``nostr_events/event_<eventid>_<subject>_<id>[.pending].json`` (:func:`cache.layout.event_filename`)::

    {"event": {...signed NIP-01 event...},
     "relays": {"wss://r": {"status": "pending"|"accepted"|"rejected", "message": "...", "attempts": 0,
                            "next_attempt": 1700000000 | null, "updated_at": 1700000000}},
     "subject": "tweet", "subject_id": "123", "tweet_id": "123" | null, "format": 1}

The values (:class:`EventRecord`, :class:`RelayState`, the status transitions and the marker rule) live
in :mod:`nostrweet.nostr.record` and are re-exported here. The ``.pending`` marker is on the name of every
record that still has work (a relay it lists is not final, or it lacks a relay of the reconciled set), so
the one scan of ``nostr_events/`` tells the outbox which records to read. :class:`RecordStore` is the thin
I/O shell: it reads a record only when asked, keeps a bounded number in memory, and writes many records
with one sync (group commit).
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Collection, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import msgspec

from nostrweet.cache import layout
from nostrweet.cache.atomic import create_private, make_private_dir, sync_filesystem, temp_path
from nostrweet.cache.layout import EventSubject
from nostrweet.nostr.record import (
    RECORD_FORMAT,
    EventRecord,
    needs_marker,
)
from nostrweet.store import (
    CacheIndex,
    atomic_write_json,
    encode_json,
    fsync_dir,
    move_aside,
    read_json_or_quarantine,
)

log = logging.getLogger(__name__)

RECONCILED_FILE = "relays.json"
"""``nostr_events/relays.json``: per outbox scope, the relays every settled record was reconciled against."""
CACHE_SIZE = 4096
"""Records kept in memory at most (least recently used first out); the rest is re-read when needed."""


def read_reconciled(events_dir: Path) -> dict[str, frozenset[str]] | None:
    """The reconciled relay sets by scope from ``relays.json``; None when there is no such file (a cache
    written before the marker existed, or never seen by an outbox)."""
    data = read_json_or_quarantine(events_dir / RECONCILED_FILE)
    if not isinstance(data, Mapping) or not isinstance(data.get("scopes"), Mapping):
        return None
    return {
        str(scope): frozenset(str(u) for u in urls)
        for scope, urls in data["scopes"].items()
        if isinstance(urls, list)
    }


def write_reconciled(events_dir: Path, scopes: Mapping[str, Collection[str]]) -> None:
    """Write ``relays.json`` atomically (sorted, so the same sets give the same bytes)."""
    make_private_dir(events_dir)
    doc = {"format": RECORD_FORMAT, "scopes": {k: sorted(v) for k, v in sorted(scopes.items())}}
    atomic_write_json(events_dir / RECONCILED_FILE, doc)


def _write_temp(directory: Path, name: str, data: bytes) -> Path:
    tmp = temp_path(directory / name)
    fd = create_private(tmp)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return tmp


class RecordStore:
    """Event records on disk, read lazily (a bounded number kept in memory); names come from the
    :class:`CacheIndex`, whose ``pending_events`` are the records with work left."""

    def __init__(self, data_dir: Path, index: CacheIndex, *, cache_size: int = CACHE_SIZE) -> None:
        self.dir = data_dir / layout.EVENTS_DIR
        self.index = index
        self.cache_size = max(1, cache_size)
        self._cache: OrderedDict[str, EventRecord] = OrderedDict()
        self._required: frozenset[str] | None = None
        self.reads = 0
        """Record files read by this store (the outbox's cost; tests check it)."""
        self.syncs = 0
        """Group commits done (one per :meth:`save_many` call that wrote something)."""

    # -- names (from the index; no disk access) ---------------------------------------------

    def names_for_tweet(self, tweet_id: str | int) -> list[str]:
        """Record file names of a tweet (from the index; no disk access)."""
        return self.index.events_of_tweet(int(tweet_id))

    def names_for_user(self, subject: EventSubject, user_id: str | int) -> list[str]:
        """Record file names of a profile / relay list / Blossom list of one user id."""
        return list(self.index.user_events.get((subject, int(user_id)), ()))

    def all_names(self) -> Iterator[str]:
        """Every record file name the index knows."""
        return self.index.event_names()

    def pending_names(self) -> list[str]:
        """Names of the records that carry the pending marker (a snapshot)."""
        return sorted(self.index.pending_events)

    def settled_names(self) -> Iterator[str]:
        """Names of the records without the marker (a live view of the index: copy before writing)."""
        pending = self.index.pending_events
        return (n for n in self.all_names() if n not in pending)

    def count(self) -> int:
        """How many records the index lists."""
        return self.index.event_count()

    # -- the reconciled relay set -----------------------------------------------------------

    @property
    def required(self) -> frozenset[str]:
        """Relays every settled record must list (scope ``*`` of ``relays.json``; read once)."""
        if self._required is None:
            scopes = read_reconciled(self.dir) or {}
            self._required = scopes.get("*", frozenset())
        return self._required

    @required.setter
    def required(self, relays: Iterable[str]) -> None:
        self._required = frozenset(relays)

    def is_pending(self, record: EventRecord) -> bool:
        """Whether ``record`` is written under the pending form now (:func:`needs_marker`)."""
        return needs_marker(record, self.required)

    # -- reading ----------------------------------------------------------------------------

    def load(self, name: str, *, keep: bool = True) -> EventRecord | None:
        """The record in file ``name`` (from memory if kept); None if missing or unreadable.

        ``keep=False`` reads it without keeping it (streaming passes over many records).
        """
        parsed = layout.parse_event_filename(name)
        if parsed is None:
            return None
        key = parsed.settled_name
        cached = self._cache.get(key)
        if cached is not None and cached.stored_name == name:
            self._cache.move_to_end(key)
            return cached
        path = self.dir / name
        self.reads += 1
        data = read_json_or_quarantine(path)
        if data is None:
            if not path.exists():
                self.index.remove_event(name, parsed)
            return None
        try:
            record = EventRecord.from_json(data, parsed)
        except (ValueError, TypeError, KeyError) as exc:
            if path.exists():
                move_aside(path, str(exc))
            self.index.remove_event(name, parsed)
            return None
        record.stored_name = name
        if keep:
            self._keep(record)
        return record

    def _keep(self, record: EventRecord) -> None:
        self._cache[record.key] = record
        self._cache.move_to_end(record.key)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def for_tweet(self, tweet_id: str | int) -> list[EventRecord]:
        """Every readable record of a tweet."""
        return [r for n in self.names_for_tweet(tweet_id) if (r := self.load(n)) is not None]

    def for_user(self, subject: EventSubject, user_id: str | int) -> list[EventRecord]:
        """Every readable record of a user's profile / relay list / Blossom list."""
        return [r for n in self.names_for_user(subject, user_id) if (r := self.load(n)) is not None]

    def newest_for_user(self, subject: EventSubject, user_id: str | int) -> EventRecord | None:
        """The newest (by created_at) record of a replaceable user event."""
        records = self.for_user(subject, user_id)
        return max(records, key=lambda r: (r.created_at, r.event_id)) if records else None

    def accepted_relays(self, tweet_id: str | int) -> set[str]:
        """Relays on which some record of the tweet is accepted: the tweet counts as posted there."""
        out: set[str] = set()
        for record in self.for_tweet(tweet_id):
            out |= record.accepted_on()
        return out

    # -- writing ----------------------------------------------------------------------------

    def save(self, record: EventRecord) -> None:
        """Write one record (see :meth:`save_many`)."""
        self.save_many([record])

    def save_many(self, records: Iterable[EventRecord]) -> None:
        """Write records under the form :meth:`is_pending` gives, with ONE sync for all of them.

        Each is written to a temp file without its own fsync; then one ``sync_filesystem`` makes the data
        durable, the temps are renamed into place, and one fsync of the directory makes the names
        durable. Only then is a record whose form changed removed under its old name, so a kill at any
        instant leaves the old name, the new one, or both (the index then takes the pending one).
        """
        batch = list({r.key: r for r in records}.values())
        if not batch:
            return
        make_private_dir(self.dir)
        planned: list[tuple[EventRecord, str, Path]] = []
        try:
            for record in batch:
                name = record.filename(pending=self.is_pending(record))
                planned.append((record, name, _write_temp(self.dir, name, encode_json(record.to_json()))))
            sync_filesystem(self.dir)
            for _, name, tmp in planned:
                os.replace(tmp, self.dir / name)
        except BaseException:
            for _, _, tmp in planned:
                tmp.unlink(missing_ok=True)
            raise
        fsync_dir(self.dir)
        self.syncs += 1
        for record, name, _ in planned:
            parsed = layout.parse_event_filename(name)
            assert parsed is not None
            flipped = msgspec.structs.replace(parsed, pending=not parsed.pending)
            other = flipped.pending_name if flipped.pending else flipped.settled_name
            if record.stored_name == other or other in self._listed(parsed):
                (self.dir / other).unlink(missing_ok=True)
                self.index.remove_event(other, flipped)
            self.index.add_event(name, parsed)
            record.stored_name = name
            self._keep(record)

    def _listed(self, parsed: layout.EventName) -> list[str]:
        return self.index.events_of(parsed.subject, parsed.subject_id)

    def forget(self, name: str) -> None:
        """Drop a record from memory (it stays on disk)."""
        parsed = layout.parse_event_filename(name)
        if parsed is not None:
            self._cache.pop(parsed.settled_name, None)

    def get_or_create(
        self,
        event: Mapping[str, Any],
        subject: EventSubject,
        subject_id: str,
        *,
        tweet_id: str | None = None,
    ) -> EventRecord:
        """The existing record of this event and subject, or a new one (not yet saved) with no relays."""
        settled = layout.event_filename(str(event["id"]), subject, subject_id)
        pending = layout.event_filename(str(event["id"]), subject, subject_id, pending=True)
        names = (
            self.names_for_tweet(subject_id)
            if subject is EventSubject.TWEET
            else self.names_for_user(subject, subject_id)
        )
        for name in (pending, settled):
            if name in names:
                existing = self.load(name)
                if existing is not None:
                    return existing
        return EventRecord(dict(event), subject, str(subject_id), {}, tweet_id)
