"""Event records (SPEC §2): a signed event and, for each relay, where it stands.

File: ``nostr_events/event_<eventid>_<subject>_<id>.json`` (name from :func:`cache.layout.event_filename`)::

    {"event": {...signed NIP-01 event...},
     "relays": {"wss://r": {"status": "pending"|"accepted"|"rejected", "message": "...", "attempts": 0,
                            "next_attempt": 1700000000 | null, "updated_at": 1700000000}},
     "subject": "tweet", "subject_id": "123", "tweet_id": "123" | null, "format": 1}

The pure part (:class:`RelayState`, :func:`apply_answer`, :func:`backoff_seconds`, :func:`due_relays`)
decides status transitions and when to try again. :class:`RecordStore` is the thin I/O shell: it reads a
record only when asked, keeps it in memory afterwards, and writes atomically.

Transitions of one relay's state:

- ``accepted`` and ``duplicate`` answers → ``accepted`` (final; never downgraded);
- ``rejected`` (invalid:, blocked:, pow:, restricted:, …) → ``rejected`` with the message (final: never
  retried in a loop; only ``--force`` sends it again);
- ``rate_limited`` and ``pending`` (relay down, timeout, auth-required, error:) → ``pending`` with
  ``next_attempt = now + backoff``, the backoff doubling with each attempt.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from nostrweet.cache import layout
from nostrweet.cache.layout import EventSubject
from nostrweet.cache.store import CacheIndex, atomic_write_json, move_aside, read_json_or_quarantine

log = logging.getLogger(__name__)

RECORD_FORMAT = 1
Status = Literal["pending", "accepted", "rejected"]
STATUSES: tuple[Status, ...] = ("pending", "accepted", "rejected")

BACKOFF_BASE = 30.0
"""Seconds before the first retry of a relay that did not answer."""
RATE_LIMIT_BASE = 60.0
"""Seconds before the first retry of a relay that said ``rate-limited:``."""
BACKOFF_CAP = 6 * 3600.0
"""The longest wait between two attempts on one relay."""


def backoff_seconds(attempts: int, *, rate_limited: bool = False) -> float:
    """Wait after ``attempts`` failed attempts: base × 2^(attempts-1), capped at :data:`BACKOFF_CAP`."""
    if attempts <= 0:
        return 0.0
    base = RATE_LIMIT_BASE if rate_limited else BACKOFF_BASE
    return min(BACKOFF_CAP, base * 2.0 ** min(attempts - 1, 40))


@dataclass(frozen=True, slots=True)
class RelayState:
    """Where one event stands on one relay."""

    status: Status = "pending"
    message: str = ""
    attempts: int = 0
    next_attempt: int | None = None
    updated_at: int = 0

    @property
    def is_final(self) -> bool:
        """Accepted or rejected: nothing more to do for this relay."""
        return self.status != "pending"

    def to_json(self) -> dict[str, Any]:
        """The JSON object stored in the record."""
        return {
            "status": self.status,
            "message": self.message,
            "attempts": self.attempts,
            "next_attempt": self.next_attempt,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_json(cls, data: Any) -> RelayState:
        """Read a stored state; unknown or malformed values fall back to a fresh ``pending``."""
        if not isinstance(data, Mapping):
            return cls()
        raw = data.get("status")
        status: Status = raw if raw in STATUSES else "pending"
        nxt = data.get("next_attempt")
        return cls(
            status=status,
            message=str(data.get("message") or ""),
            attempts=int(data.get("attempts") or 0),
            next_attempt=int(nxt) if isinstance(nxt, int | float) else None,
            updated_at=int(data.get("updated_at") or 0),
        )


def apply_answer(state: RelayState | None, outcome: str, message: str, now: float) -> RelayState:
    """The new state of one relay after it answered ``outcome`` (a :data:`nostr.relays.Outcome`).

    An accepted state is never downgraded. A rejected one only moves to accepted (a later forced send
    that the relay took).
    """
    state = state or RelayState()
    stamp = int(now)
    if state.status == "accepted":
        return state
    if outcome in ("accepted", "duplicate"):
        return RelayState("accepted", message, state.attempts + 1, None, stamp)
    if state.status == "rejected":
        return replace(state, attempts=state.attempts + 1, updated_at=stamp)
    if outcome == "rejected":
        return RelayState("rejected", message, state.attempts + 1, None, stamp)
    attempts = state.attempts + 1
    wait = backoff_seconds(attempts, rate_limited=outcome == "rate_limited")
    return RelayState("pending", message, attempts, int(now + wait), stamp)


def is_due(state: RelayState, now: float) -> bool:
    """A pending relay whose next attempt time has come (or was never set)."""
    return state.status == "pending" and (state.next_attempt is None or state.next_attempt <= now)


@dataclass(slots=True)
class EventRecord:
    """One event record file."""

    event: dict[str, Any]
    subject: EventSubject
    subject_id: str
    relays: dict[str, RelayState] = field(default_factory=dict)
    tweet_id: str | None = None

    @property
    def event_id(self) -> str:
        """The event's id (hex)."""
        return str(self.event["id"])

    @property
    def kind(self) -> int:
        """The event's kind."""
        return int(self.event["kind"])

    @property
    def created_at(self) -> int:
        """The event's created_at."""
        return int(self.event["created_at"])

    @property
    def filename(self) -> str:
        """The record's file name in ``nostr_events/``."""
        return layout.event_filename(self.event_id, self.subject, self.subject_id)

    def accepted_on(self) -> set[str]:
        """Relays that answered OK true or ``duplicate:``."""
        return {url for url, st in self.relays.items() if st.status == "accepted"}

    def ensure_relays(self, relays: Iterable[str]) -> bool:
        """Add each relay the record does not know yet as ``pending``; True if one was added."""
        added = False
        for url in relays:
            if url not in self.relays:
                self.relays[url] = RelayState()
                added = True
        return added

    def to_json(self) -> dict[str, Any]:
        """The JSON document written to disk."""
        return {
            "event": self.event,
            "relays": {url: st.to_json() for url, st in sorted(self.relays.items())},
            "subject": self.subject.value,
            "subject_id": self.subject_id,
            "tweet_id": self.tweet_id,
            "format": RECORD_FORMAT,
        }

    @classmethod
    def from_json(cls, data: Any, name: layout.EventName) -> EventRecord:
        """Parse a stored record; ValueError when it is not one (the caller moves it aside)."""
        if not isinstance(data, Mapping) or not isinstance(data.get("event"), Mapping):
            raise ValueError("not an event record")
        event = dict(data["event"])
        if event.get("id") != name.event_id or not isinstance(event.get("kind"), int):
            raise ValueError("event id does not match the file name")
        relays_raw = data.get("relays") or {}
        if not isinstance(relays_raw, Mapping):
            raise ValueError("relays is not an object")
        tweet_id = data.get("tweet_id")
        return cls(
            event=event,
            subject=name.subject,
            subject_id=str(name.subject_id),
            relays={str(url): RelayState.from_json(st) for url, st in relays_raw.items()},
            tweet_id=str(tweet_id) if tweet_id is not None else None,
        )


def due_relays(record: EventRecord, configured: Sequence[str], now: float) -> list[str]:
    """Configured relays this record should be sent to now: missing from the record, or pending and due."""
    out = []
    for url in configured:
        state = record.relays.get(url)
        if state is None or is_due(state, now):
            out.append(url)
    return out


def next_due(record: EventRecord, configured: Sequence[str]) -> int | None:
    """The earliest next_attempt among the configured relays still pending (None: nothing pending)."""
    times = [
        st.next_attempt or 0
        for url in configured
        if (st := record.relays.get(url)) is not None and st.status == "pending"
    ]
    if any(url not in record.relays for url in configured):
        times.append(0)
    return min(times) if times else None


def is_settled(record: EventRecord, configured: Sequence[str]) -> bool:
    """Every configured relay has a final answer (accepted or rejected)."""
    return all((st := record.relays.get(url)) is not None and st.is_final for url in configured)


def best_record(records: Sequence[EventRecord]) -> EventRecord | None:
    """The record whose event stands for a subject: most relays accepted, then newest, then lowest id."""
    if not records:
        return None
    return max(records, key=lambda r: (len(r.accepted_on()), r.created_at, _neg_hex(r.event_id)))


def _neg_hex(event_id: str) -> str:
    return "".join("0123456789abcdef"[15 - int(c, 16)] for c in event_id)


class RecordStore:
    """Event records on disk, read lazily and cached in memory; names come from the :class:`CacheIndex`."""

    def __init__(self, data_dir: Path, index: CacheIndex) -> None:
        self.dir = data_dir / layout.EVENTS_DIR
        self.index = index
        self._cache: dict[str, EventRecord] = {}

    def names_for_tweet(self, tweet_id: str | int) -> list[str]:
        """Record file names of a tweet (from the index; no disk access)."""
        return list(self.index.tweet_events.get(int(tweet_id), ()))

    def names_for_user(self, subject: EventSubject, user_id: str | int) -> list[str]:
        """Record file names of a profile / relay list / Blossom list of one user id."""
        return list(self.index.user_events.get((subject, int(user_id)), ()))

    def all_names(self) -> Iterator[str]:
        """Every record file name the index knows."""
        for names in self.index.tweet_events.values():
            yield from names
        for names in self.index.user_events.values():
            yield from names

    def load(self, name: str) -> EventRecord | None:
        """The record in file ``name`` (from memory after the first read); None if missing or unreadable."""
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        parsed = layout.parse_event_filename(name)
        if parsed is None:
            return None
        path = self.dir / name
        data = read_json_or_quarantine(path)
        if data is None:
            return None
        try:
            record = EventRecord.from_json(data, parsed)
        except (ValueError, TypeError, KeyError) as exc:
            if path.exists():
                move_aside(path, str(exc))
            return None
        self._cache[name] = record
        return record

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

    def save(self, record: EventRecord) -> None:
        """Write the record atomically and keep the index and the memory cache current."""
        self.dir.mkdir(parents=True, exist_ok=True)
        name = record.filename
        atomic_write_json(self.dir / name, record.to_json())
        self._cache[name] = record
        parsed = layout.parse_event_filename(name)
        assert parsed is not None
        known = (
            self.index.tweet_events.get(parsed.subject_id, [])
            if parsed.subject is EventSubject.TWEET
            else self.index.user_events.get((parsed.subject, parsed.subject_id), [])
        )
        if name not in known:
            self.index.add_event(name, parsed)

    def forget(self, name: str) -> None:
        """Drop a record from memory (it stays on disk), e.g. once the outbox knows it is settled."""
        self._cache.pop(name, None)

    def get_or_create(
        self,
        event: Mapping[str, Any],
        subject: EventSubject,
        subject_id: str,
        *,
        tweet_id: str | None = None,
    ) -> EventRecord:
        """The existing record of this event and subject, or a new one (not yet saved) with no relays."""
        name = layout.event_filename(str(event["id"]), subject, subject_id)
        names = (
            self.names_for_tweet(subject_id)
            if subject is EventSubject.TWEET
            else self.names_for_user(subject, subject_id)
        )
        if name in names:
            existing = self.load(name)
            if existing is not None:
                return existing
        return EventRecord(dict(event), subject, str(subject_id), {}, tweet_id)
