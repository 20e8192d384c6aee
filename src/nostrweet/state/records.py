"""Event records and each relay's answer, in the state (SPEC §7): the rows behind ``RecordStore``.

An :class:`~nostrweet.nostr.record.EventRecord` is one ``events`` row (the signed event as JSON, its
subject) plus one ``relay_states`` row per relay (a :class:`RelayState`). Status transitions stay in the
pure :func:`~nostrweet.nostr.record.apply_answer`, and how a record maps to rows (and the rule every
relay-row write keeps) in :mod:`nostrweet.state.record_rows`; this module holds the statements:

- :meth:`RecordRepo.save_many` writes a batch in ONE transaction: the events with
  ``INSERT … ON CONFLICT DO NOTHING`` (an event is recorded once, whichever instance built it), the relay
  rows as upserts;
- :meth:`RecordRepo.apply_answers` applies a batch of relay answers in one transaction;
- :meth:`RecordRepo.ensure_relays` gives every record a pending row for each configured relay (one
  statement: what the reconciled set ``relays.json`` did);
- :meth:`RecordRepo.pending` gives the outbox the due rows of some relays, built by any instance (which
  instance works which relay's outbox is :mod:`nostrweet.state.relay_locks`'s).

The ``claimed_by`` and ``claim_expires`` columns of ``relay_states`` (schema version 1) are not used: the
outbox of a relay is held through an advisory lock, not per row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, Connection, and_, func, literal, or_, select, tuple_, update

from nostrweet.cache.layout import EventSubject
from nostrweet.nostr.record import EventRecord, RelayState, apply_answer
from nostrweet.state.engine import State
from nostrweet.state.record_rows import chunks, event_row, relay_row, relay_state, upsert_relays
from nostrweet.state.schema import events, meta, relay_states

RECONCILED_KEY = "reconciled "
"""``meta`` key prefix: per outbox scope, the relays every record of it was given a row for."""


class RecordRepo:
    """Event records and relay answers of one state."""

    def __init__(self, state: State) -> None:
        self.state = state

    # -- writing ----------------------------------------------------------------------------

    def save_many(self, records: Iterable[EventRecord]) -> list[str]:
        """Write records and their relay states in one transaction; return the ids of events that were
        new (an event another instance recorded first is kept as it was; its relay rows are merged)."""
        batch = list({r.event_id: r for r in records}.values())
        if not batch:
            return []
        insert_events = (
            self.state.insert(events)
            .on_conflict_do_nothing(index_elements=["event_id"])
            .returning(events.c.event_id, sort_by_parameter_order=True)
        )
        with self.state.engine.begin() as conn:
            result = conn.execute(insert_events, [event_row(r) for r in batch])
            new = [row[0] for row in result.all()]
            rows = [relay_row(r.event_id, url, st) for r in batch for url, st in r.relays.items()]
            upsert_relays(self.state, conn, rows)
        return new

    def save(self, record: EventRecord) -> None:
        """Write one record (see :meth:`save_many`)."""
        self.save_many([record])

    def save_relays(self, records: Iterable[EventRecord]) -> None:
        """Write only the relay states of records whose event is stored already (the answers to a send),
        in one transaction: the events' rows are not sent again."""
        rows = [relay_row(r.event_id, url, st) for r in records for url, st in r.relays.items()]
        if rows:
            with self.state.engine.begin() as conn:
                upsert_relays(self.state, conn, rows)

    def apply_answers(self, answers: Iterable[tuple[str, str, str, str]], now: float) -> None:
        """Apply relay answers ``(event id, relay, outcome, message)`` in one transaction (through the pure
        :func:`apply_answer`)."""
        todo = list(answers)
        if not todo:
            return
        with self.state.engine.begin() as conn:
            current: dict[tuple[str, str], RelayState] = {}
            for part in chunks(todo):
                keys = [(e, r) for e, r, _, _ in part]
                query = select(relay_states).where(
                    tuple_(relay_states.c.event_id, relay_states.c.relay).in_(keys)
                )
                if self.state.is_postgres:
                    query = query.with_for_update()
                for row in conn.execute(query):
                    current[(row.event_id, row.relay)] = relay_state(row)
            for event_id, relay, outcome, message in todo:
                key = (event_id, relay)
                current[key] = apply_answer(current.get(key), outcome, message, now)
            rows = [relay_row(e, r, st) for (e, r), st in current.items()]
            upsert_relays(self.state, conn, rows)

    def ensure_relays(self, relays: Iterable[str]) -> int:
        """Give every record a ``pending`` row for each relay it lacks; return how many rows were added."""
        added = 0
        with self.state.engine.begin() as conn:
            for relay in sorted(set(relays)):
                source = select(
                    events.c.event_id,
                    literal(relay).label("relay"),
                    literal("pending").label("status"),
                    literal("").label("message"),
                    literal(0).label("attempts"),
                    literal(0).label("updated_at"),
                ).where(
                    ~select(relay_states.c.event_id)
                    .where(relay_states.c.event_id == events.c.event_id, relay_states.c.relay == relay)
                    .exists()
                )
                stmt = (
                    self.state.insert(relay_states)
                    .from_select(["event_id", "relay", "status", "message", "attempts", "updated_at"], source)
                    .on_conflict_do_nothing()
                )
                added += len(conn.execute(stmt.returning(relay_states.c.event_id)).all())
        return added

    # -- reading ----------------------------------------------------------------------------

    def _load(self, conn: Connection, where: Any) -> list[EventRecord]:
        rows = list(
            conn.execute(select(events).where(where).order_by(events.c.created_at, events.c.event_id))
        )
        return self._records(conn, rows)

    def _records(self, conn: Connection, rows: list[Any]) -> list[EventRecord]:
        out: dict[str, EventRecord] = {}
        for row in rows:
            out[row.event_id] = EventRecord(
                event=msgspec.json.decode(row.event_json),
                subject=EventSubject(row.subject),
                subject_id=row.subject_id,
                relays={},
                tweet_id=row.tweet_id,
            )
        for part in chunks(list(out)):
            for rel in conn.execute(select(relay_states).where(relay_states.c.event_id.in_(part))):
                out[rel.event_id].relays[rel.relay] = relay_state(rel)
        return list(out.values())

    def for_subjects(
        self, subject: EventSubject, subject_ids: Iterable[str | int]
    ) -> dict[str, list[EventRecord]]:
        """The records of many subjects at once (each id maps to its list, empty when it has none)."""
        ids = sorted({str(i) for i in subject_ids})
        out: dict[str, list[EventRecord]] = {i: [] for i in ids}
        with self.state.engine.connect() as conn:
            for part in chunks(ids):
                where = and_(events.c.subject == subject.value, events.c.subject_id.in_(part))
                for record in self._load(conn, where):
                    out[record.subject_id].append(record)
        return out

    def get_many(self, event_ids: Iterable[str]) -> list[EventRecord]:
        """The records of these event ids (unknown ids are left out)."""
        ids = sorted(set(event_ids))
        out: list[EventRecord] = []
        with self.state.engine.connect() as conn:
            for part in chunks(ids):
                out.extend(self._load(conn, events.c.event_id.in_(part)))
        return out

    def get(self, event_id: str) -> EventRecord | None:
        """One record, or None."""
        found = self.get_many([event_id])
        return found[0] if found else None

    def for_subject(self, subject: EventSubject, subject_id: str | int) -> list[EventRecord]:
        """Every record of a tweet, or of a user's profile / relay list / Blossom list."""
        with self.state.engine.connect() as conn:
            return self._load(
                conn, and_(events.c.subject == subject.value, events.c.subject_id == str(subject_id))
            )

    def for_tweet(self, tweet_id: str | int) -> list[EventRecord]:
        """Every record of a tweet."""
        return self.for_subject(EventSubject.TWEET, tweet_id)

    def newest_for_user(self, subject: EventSubject, user_id: str | int) -> EventRecord | None:
        """The newest (by created_at, then event id) record of a replaceable user event."""
        records = self.for_subject(subject, user_id)
        return max(records, key=lambda r: (r.created_at, r.event_id)) if records else None

    def accepted_relays(self, tweet_id: str | int) -> set[str]:
        """Relays on which some record of the tweet is accepted."""
        query = (
            select(relay_states.c.relay)
            .join(events, events.c.event_id == relay_states.c.event_id)
            .where(
                events.c.subject == EventSubject.TWEET.value,
                events.c.subject_id == str(tweet_id),
                relay_states.c.status == "accepted",
            )
            .distinct()
        )
        with self.state.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    def count(self) -> int:
        """How many event records there are."""
        with self.state.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(events)).scalar() or 0)

    def status_counts(self) -> dict[str, int]:
        """Relay rows by status (for health and metrics)."""
        query = select(relay_states.c.status, func.count()).group_by(relay_states.c.status)
        with self.state.engine.connect() as conn:
            return {str(s): int(n) for s, n in conn.execute(query)}

    def _due(self, now: float, relays: Sequence[str] | None) -> Any:
        cond = and_(
            relay_states.c.status == "pending",
            or_(relay_states.c.next_attempt.is_(None), relay_states.c.next_attempt <= int(now)),
        )
        if relays is not None:
            cond = and_(cond, relay_states.c.relay.in_(list(relays)))
        return cond

    def pending(
        self,
        now: float,
        relays: Sequence[str] | None = None,
        *,
        limit: int = 1000,
        after: tuple[int, str] | None = None,
    ) -> list[EventRecord]:
        """Records with a relay that is pending and due at ``now`` (among ``relays``, if given), oldest
        event first; at most ``limit``, and only those after ``after`` = ``(created_at, event_id)`` of the
        last one of a previous page."""
        ids = select(relay_states.c.event_id).where(self._due(now, relays)).distinct().scalar_subquery()
        where: ColumnElement[bool] = events.c.event_id.in_(ids)
        if after is not None:
            where = and_(where, tuple_(events.c.created_at, events.c.event_id) > tuple_(*after))
        query = select(events).where(where).order_by(events.c.created_at, events.c.event_id).limit(limit)
        with self.state.engine.connect() as conn:
            return self._records(conn, list(conn.execute(query)))

    def waiting(self, now: float, relays: Sequence[str]) -> int:
        """How many records are pending on one of ``relays`` and none of those is due before ``now``
        (they wait for their backoff)."""
        due = select(relay_states.c.event_id).where(self._due(now, relays))
        query = select(func.count(func.distinct(relay_states.c.event_id))).where(
            relay_states.c.status == "pending",
            relay_states.c.relay.in_(list(relays)),
            relay_states.c.event_id.not_in(due),
        )
        with self.state.engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    def lacking(self, relays: Sequence[str]) -> list[tuple[str, EventSubject, str]]:
        """``(event id, subject, subject id)`` of every record that lacks a row for one of ``relays``."""
        has_all = [
            select(relay_states.c.event_id)
            .where(relay_states.c.event_id == events.c.event_id, relay_states.c.relay == relay)
            .exists()
            for relay in sorted(set(relays))
        ]
        if not has_all:
            return []
        query = select(events.c.event_id, events.c.subject, events.c.subject_id).where(~and_(*has_all))
        with self.state.engine.connect() as conn:
            return [(str(e), EventSubject(s), str(i)) for e, s, i in conn.execute(query)]

    def add_pending(self, event_ids: Iterable[str], relays: Iterable[str]) -> int:
        """Give these records a ``pending`` row for each of ``relays`` they lack, in one transaction;
        return how many rows were added."""
        rows = [
            {"event_id": e, "relay": r, "status": "pending", "message": "", "attempts": 0, "updated_at": 0}
            for e in sorted(set(event_ids))
            for r in sorted(set(relays))
        ]
        if not rows:
            return 0
        stmt = self.state.insert(relay_states).on_conflict_do_nothing(index_elements=["event_id", "relay"])
        added = 0
        with self.state.engine.begin() as conn:
            for part in chunks(rows):
                added += conn.execute(stmt, list(part)).rowcount or 0
        return added

    def reconciled(self, scope: str) -> frozenset[str] | None:
        """The relays every record of an outbox ``scope`` was reconciled against (None: never)."""
        key = RECONCILED_KEY + scope
        with self.state.engine.connect() as conn:
            value = conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()
        if value is None:
            return None
        return frozenset(str(u) for u in msgspec.json.decode(value))

    def set_reconciled(self, scope: str, relays: Iterable[str]) -> None:
        """Remember the relays a scope was reconciled against (after its rows were added)."""
        stmt = self.state.insert(meta)
        stmt = stmt.on_conflict_do_update(index_elements=["key"], set_={"value": stmt.excluded.value})
        value = msgspec.json.encode(sorted(set(relays))).decode()
        with self.state.engine.begin() as conn:
            conn.execute(stmt, [{"key": RECONCILED_KEY + scope, "value": value}])

    def unaccepted(self, relay: str, limit: int = 100) -> list[dict[str, Any]]:
        """The events ``relay`` has not accepted (pending or rejected), oldest first (the admin API)."""
        query = (
            select(
                events.c.event_id,
                events.c.kind,
                events.c.subject,
                events.c.subject_id,
                events.c.created_at,
                relay_states.c.status,
                relay_states.c.attempts,
                relay_states.c.message,
                relay_states.c.next_attempt,
            )
            .join(relay_states, relay_states.c.event_id == events.c.event_id)
            .where(relay_states.c.relay == relay, relay_states.c.status != "accepted")
            .order_by(events.c.created_at, events.c.event_id)
            .limit(max(1, min(limit, 1000)))
        )
        with self.state.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def reopen(self, relay: str, now: float) -> int:
        """Make every event ``relay`` has not accepted (rejections too) due now; returns how many."""
        stmt = (
            update(relay_states)
            .where(relay_states.c.relay == relay, relay_states.c.status != "accepted")
            .values(status="pending", next_attempt=int(now))
        )
        with self.state.engine.begin() as conn:
            return int(conn.execute(stmt).rowcount or 0)

    def delete_all(self) -> int:
        """Forget every event record and relay answer (``clear-cache --all``); how many records there were."""
        with self.state.engine.begin() as conn:
            conn.execute(relay_states.delete())
            return int(conn.execute(events.delete()).rowcount or 0)
