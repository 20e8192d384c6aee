"""How an event record lies in the state's rows (SPEC §7): ``events`` and ``relay_states``.

An :class:`~nostrweet.nostr.record.EventRecord` is one ``events`` row (the signed event as JSON, its
subject) plus one ``relay_states`` row per relay. This module holds the mapping both ways and the rule
every write of a relay row keeps (:func:`upsert_relays`: an older write never undoes a newer answer);
the statements that read and write them are :class:`~nostrweet.state.records.RecordRepo`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from nostrweet.nostr.record import EventRecord, RelayState
from nostrweet.state.sql import Tx

__all__ = [
    "EVENT_COLUMNS",
    "RELAY_COLUMNS",
    "STATE_COLUMNS",
    "event_row",
    "relay_row",
    "relay_state",
    "upsert_relays",
]

EVENT_COLUMNS = (
    "event_id",
    "subject",
    "subject_id",
    "tweet_id",
    "author",
    "kind",
    "created_at",
    "event_json",
)
"""The columns of an ``events`` row, as :func:`event_row` gives them."""

STATE_COLUMNS = ("status", "message", "attempts", "next_attempt", "updated_at")
"""The columns of a relay's answer, in the order :func:`relay_state` reads them."""

RELAY_COLUMNS = ("event_id", "relay", *STATE_COLUMNS)
"""The columns of a ``relay_states`` row, as :func:`relay_row` gives them."""


def event_row(record: EventRecord) -> dict[str, Any]:
    return {
        "event_id": record.event_id,
        "subject": record.subject.value,
        "subject_id": record.subject_id,
        "tweet_id": record.tweet_id,
        "author": str(record.event.get("pubkey", "")),
        "kind": record.kind,
        "created_at": record.created_at,
        "event_json": msgspec.json.encode(record.event).decode(),
    }


def relay_row(event_id: str, relay: str, st: RelayState) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "relay": relay,
        "status": st.status,
        "message": st.message,
        "attempts": st.attempts,
        "next_attempt": st.next_attempt,
        "updated_at": st.updated_at,
    }


def relay_state(values: Sequence[Any]) -> RelayState:
    """A relay's answer from the values of :data:`STATE_COLUMNS`, in that order."""
    return RelayState.from_json(dict(zip(STATE_COLUMNS, values, strict=True)))


_UPSERT_RELAYS = (
    f"INSERT INTO relay_states ({', '.join(RELAY_COLUMNS)}) "
    f"VALUES ({', '.join(':' + c for c in RELAY_COLUMNS)}) "
    "ON CONFLICT (event_id, relay) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in STATE_COLUMNS)
    + " WHERE excluded.status = 'accepted' OR (relay_states.status != 'accepted'"
    " AND (relay_states.status != 'rejected' OR excluded.status = 'rejected'))"
)


def upsert_relays(tx: Tx, rows: list[dict[str, Any]]) -> None:
    """Insert or update relay rows: one statement, run for many rows (``tx.run_many``).

    A row written from an older read never undoes a newer answer (the rule of :func:`apply_answer`,
    kept by the database for writers that read at different times: two instances working two relays
    of one record each write the whole record): an ``accepted`` row stays accepted, and a
    ``rejected`` one only moves to accepted."""
    if not rows:
        return
    tx.run_many(_UPSERT_RELAYS, rows)
