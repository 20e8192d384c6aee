"""How an event record lies in the state's rows (SPEC §7): ``events`` and ``relay_states``.

An :class:`~nostrweet.nostr.record.EventRecord` is one ``events`` row (the signed event as JSON, its
subject) plus one ``relay_states`` row per relay. This module holds the mapping both ways and the rule
every write of a relay row keeps (:func:`upsert_relays`: an older write never undoes a newer answer);
the statements that read and write them are :class:`~nostrweet.state.records.RecordRepo`'s.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
from sqlalchemy import Connection, and_, or_

from nostrweet.nostr.record import EventRecord, RelayState
from nostrweet.state.engine import State
from nostrweet.state.schema import relay_states

__all__ = ["BATCH", "chunks", "event_row", "relay_row", "relay_state", "upsert_relays"]

BATCH = 500
"""Rows per statement of an IN (…) lookup or a multi-row insert."""


def chunks(items: Sequence[Any], size: int = BATCH) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


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


def relay_state(row: Any) -> RelayState:
    return RelayState.from_json(
        {
            "status": row.status,
            "message": row.message,
            "attempts": row.attempts,
            "next_attempt": row.next_attempt,
            "updated_at": row.updated_at,
        }
    )


def upsert_relays(state: State, conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert or update relay rows: one statement, executed for many rows (``insertmanyvalues``).

    A row written from an older read never undoes a newer answer (the rule of :func:`apply_answer`,
    kept by the database for writers that read at different times: two instances working two relays
    of one record each write the whole record): an ``accepted`` row stays accepted, and a
    ``rejected`` one only moves to accepted."""
    if not rows:
        return
    stmt = state.insert(relay_states)
    old, new = relay_states.c.status, stmt.excluded.status
    stmt = stmt.on_conflict_do_update(
        index_elements=["event_id", "relay"],
        set_={c: stmt.excluded[c] for c in ("status", "message", "attempts", "next_attempt", "updated_at")},
        where=or_(new == "accepted", and_(old != "accepted", or_(old != "rejected", new == "rejected"))),
    )
    conn.execute(stmt, rows)
