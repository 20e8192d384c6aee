"""The event record as a value: a signed event and, for each relay, where it stands (pure).

:class:`RelayState`, :func:`apply_answer`, :func:`backoff_seconds` and :func:`due_relays` decide status
transitions and when to try again; :func:`needs_marker` decides the name form of a record file;
:func:`best_record` picks the event that stands for a subject. Every store of records (the record files
of ``publish.records``, the state database of ``state.records``) keeps these values and nothing else.

Transitions of one relay's state:

- ``accepted`` and ``duplicate`` answers → ``accepted`` (final; never downgraded);
- ``rejected`` (invalid:, blocked:, pow:, restricted:, …) → ``rejected`` with the message (final: never
  retried in a loop; only ``--force`` sends it again);
- ``rate_limited`` and ``pending`` (relay down, timeout, auth-required, error:) → ``pending`` with
  ``next_attempt = now + backoff``, the backoff doubling with each attempt.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

from nostrweet.cache import layout
from nostrweet.cache.layout import EventSubject

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


class RelayState(msgspec.Struct, frozen=True, gc=False):
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
        return msgspec.structs.replace(state, attempts=state.attempts + 1, updated_at=stamp)
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
    stored_name: str | None = field(default=None, compare=False)
    """The name the record has on disk (either form), None while it was never written."""

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
    def key(self) -> str:
        """The record's name without the marker: the same for both forms (its identity)."""
        return layout.event_filename(self.event_id, self.subject, self.subject_id)

    def filename(self, *, pending: bool) -> str:
        """The record's file name in ``nostr_events/`` in the given form."""
        return layout.event_filename(self.event_id, self.subject, self.subject_id, pending=pending)

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


def needs_marker(record: EventRecord, required: Collection[str] = ()) -> bool:
    """Whether the record's name carries the ``.pending`` marker: some relay it lists is not final, or a
    relay of the reconciled set ``required`` is missing from it (it must still be sent there)."""
    relays = record.relays
    return any(not st.is_final for st in relays.values()) or any(url not in relays for url in required)


def best_record(records: Sequence[EventRecord]) -> EventRecord | None:
    """The record whose event stands for a subject: most relays accepted, then newest, then lowest id."""
    if not records:
        return None
    return max(records, key=lambda r: (len(r.accepted_on()), r.created_at, _neg_hex(r.event_id)))


def _neg_hex(event_id: str) -> str:
    return "".join("0123456789abcdef"[15 - int(c, 16)] for c in event_id)
