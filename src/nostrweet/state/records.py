"""Event records and each relay's answer, in the state (SPEC §7): the rows behind ``RecordStore``.

An :class:`~nostrweet.nostr.record.EventRecord` is one ``events`` row (the signed event as JSON, its
subject) plus one ``relay_states`` row per relay (a :class:`RelayState`). Status transitions stay in the
pure :func:`~nostrweet.nostr.record.apply_answer`, and how a record maps to rows (and the rule every
relay-row write keeps) in :mod:`nostrweet.state.record_rows`; this module holds the statements (SQL
text run through :mod:`nostrweet.state.sql`, the same on SQLite and PostgreSQL):

- :meth:`RecordRepo.save_many` writes a batch in ONE transaction: the events with
  ``INSERT … ON CONFLICT DO NOTHING`` (an event is recorded once, whichever instance built it), the relay
  rows as upserts;
- :meth:`RecordRepo.apply_answers` applies a batch of relay answers in one transaction;
- :meth:`RecordRepo.ensure_relays` gives every record a pending row for each configured relay (one
  statement per relay: what the reconciled set ``relays.json`` did);
- :meth:`RecordRepo.pending` gives the outbox the due rows of some relays, built by any instance (which
  instance works which relay's outbox is :mod:`nostrweet.state.relay_locks`'s).

The ``claimed_by`` and ``claim_expires`` columns of ``relay_states`` (schema version 1) are not used: the
outbox of a relay is held through an advisory lock, not per row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from nostrweet.cache.layout import EventSubject
from nostrweet.nostr.record import EventRecord, RelayState, apply_answer
from nostrweet.state.engine import State
from nostrweet.state.record_rows import (
    EVENT_COLUMNS,
    RELAY_COLUMNS,
    event_row,
    relay_row,
    relay_state,
    upsert_relays,
)
from nostrweet.state.sql import Row, Tx, chunks, in_list, values_list

RECONCILED_KEY = "reconciled "
"""``meta`` key prefix: per outbox scope, the relays every record of it was given a row for."""

_EVENTS = "SELECT event_id, subject, subject_id, tweet_id, event_json FROM events"
"""The columns of ``events`` a record is read from (:meth:`RecordRepo._records`)."""

_RELAYS = f"SELECT {', '.join(RELAY_COLUMNS)} FROM relay_states"

_ORDER = " ORDER BY created_at, event_id"

_DUE = "status = 'pending' AND (next_attempt IS NULL OR next_attempt <= :now)"
"""A relay row that is pending and due at ``:now``."""

_UNACCEPTED = (
    "event_id",
    "kind",
    "subject",
    "subject_id",
    "created_at",
    "status",
    "attempts",
    "message",
    "next_attempt",
)


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
        new: list[str] = []
        with self.state.write() as tx:
            for part in chunks(batch):
                values, params = values_list(EVENT_COLUMNS, [event_row(r) for r in part])
                inserted = {
                    str(row[0])
                    for row in tx.rows(
                        f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES {values} "
                        "ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
                        params,
                    )
                }
                new.extend(r.event_id for r in part if r.event_id in inserted)  # in the batch's order
            rows = [relay_row(r.event_id, url, st) for r in batch for url, st in r.relays.items()]
            upsert_relays(tx, rows)
        return new

    def save(self, record: EventRecord) -> None:
        """Write one record (see :meth:`save_many`)."""
        self.save_many([record])

    def save_relays(self, records: Iterable[EventRecord]) -> None:
        """Write only the relay states of records whose event is stored already (the answers to a send),
        in one transaction: the events' rows are not sent again."""
        rows = [relay_row(r.event_id, url, st) for r in records for url, st in r.relays.items()]
        if rows:
            with self.state.write() as tx:
                upsert_relays(tx, rows)

    def apply_answers(self, answers: Iterable[tuple[str, str, str, str]], now: float) -> None:
        """Apply relay answers ``(event id, relay, outcome, message)`` in one transaction (through the pure
        :func:`apply_answer`)."""
        todo = list(answers)
        if not todo:
            return
        lock = " FOR UPDATE" if self.state.is_postgres else ""
        with self.state.write() as tx:
            current: dict[tuple[str, str], RelayState] = {}
            for part in chunks(todo):
                keys, params = values_list(
                    ("event_id", "relay"), [{"event_id": e, "relay": r} for e, r, _, _ in part]
                )
                for row in tx.rows(f"{_RELAYS} WHERE (event_id, relay) IN (VALUES {keys}){lock}", params):
                    current[(row[0], row[1])] = relay_state(row[2:])
            for event_id, relay, outcome, message in todo:
                key = (event_id, relay)
                current[key] = apply_answer(current.get(key), outcome, message, now)
            rows = [relay_row(e, r, st) for (e, r), st in current.items()]
            upsert_relays(tx, rows)

    def ensure_relays(self, relays: Iterable[str]) -> int:
        """Give every record a ``pending`` row for each relay it lacks; return how many rows were added."""
        added = 0
        with self.state.write() as tx:
            for relay in sorted(set(relays)):
                added += len(
                    tx.rows(
                        "INSERT INTO relay_states (event_id, relay, status, message, attempts, updated_at) "
                        "SELECT e.event_id, CAST(:relay AS TEXT), 'pending', '', 0, 0 FROM events e "
                        "WHERE NOT EXISTS (SELECT 1 FROM relay_states r "
                        "WHERE r.event_id = e.event_id AND r.relay = :relay) "
                        "ON CONFLICT DO NOTHING RETURNING event_id",
                        {"relay": relay},
                    )
                )
        return added

    # -- reading ----------------------------------------------------------------------------

    def _load(self, tx: Tx, where: str, params: dict[str, Any]) -> list[EventRecord]:
        return self._records(tx, tx.rows(f"{_EVENTS} WHERE {where}{_ORDER}", params))

    def _records(self, tx: Tx, rows: list[Row]) -> list[EventRecord]:
        out: dict[str, EventRecord] = {}
        for event_id, subject, subject_id, tweet_id, event_json in rows:
            out[event_id] = EventRecord(
                event=msgspec.json.decode(event_json),
                subject=EventSubject(subject),
                subject_id=subject_id,
                relays={},
                tweet_id=tweet_id,
            )
        for part in chunks(list(out)):
            ids, params = in_list("id", part)
            for rel in tx.rows(f"{_RELAYS} WHERE event_id IN ({ids})", params):
                out[rel[0]].relays[rel[1]] = relay_state(rel[2:])
        return list(out.values())

    def for_subjects(
        self, subject: EventSubject, subject_ids: Iterable[str | int]
    ) -> dict[str, list[EventRecord]]:
        """The records of many subjects at once (each id maps to its list, empty when it has none)."""
        ids = sorted({str(i) for i in subject_ids})
        out: dict[str, list[EventRecord]] = {i: [] for i in ids}
        with self.state.read() as tx:
            for part in chunks(ids):
                inside, params = in_list("sid", part)
                where = f"subject = :subject AND subject_id IN ({inside})"
                for record in self._load(tx, where, {"subject": subject.value, **params}):
                    out[record.subject_id].append(record)
        return out

    def get_many(self, event_ids: Iterable[str]) -> list[EventRecord]:
        """The records of these event ids (unknown ids are left out)."""
        ids = sorted(set(event_ids))
        out: list[EventRecord] = []
        with self.state.read() as tx:
            for part in chunks(ids):
                inside, params = in_list("eid", part)
                out.extend(self._load(tx, f"event_id IN ({inside})", params))
        return out

    def get(self, event_id: str) -> EventRecord | None:
        """One record, or None."""
        found = self.get_many([event_id])
        return found[0] if found else None

    def for_subject(self, subject: EventSubject, subject_id: str | int) -> list[EventRecord]:
        """Every record of a tweet, or of a user's profile / relay list / Blossom list."""
        with self.state.read() as tx:
            return self._load(
                tx,
                "subject = :subject AND subject_id = :subject_id",
                {"subject": subject.value, "subject_id": str(subject_id)},
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
        with self.state.read() as tx:
            rows = tx.rows(
                "SELECT DISTINCT r.relay FROM relay_states r JOIN events e ON e.event_id = r.event_id "
                "WHERE e.subject = :subject AND e.subject_id = :subject_id AND r.status = 'accepted'",
                {"subject": EventSubject.TWEET.value, "subject_id": str(tweet_id)},
            )
        return {str(relay) for (relay,) in rows}

    def count(self) -> int:
        """How many event records there are."""
        with self.state.read() as tx:
            return int(tx.scalar("SELECT count(*) FROM events") or 0)

    def status_counts(self) -> dict[str, int]:
        """Relay rows by status (for health and metrics)."""
        with self.state.read() as tx:
            rows = tx.rows("SELECT status, count(*) FROM relay_states GROUP BY status")
        return {str(s): int(n) for s, n in rows}

    def _due(self, now: float, relays: Sequence[str] | None) -> tuple[str, dict[str, Any]]:
        """The condition of a relay row that is due at ``now`` (on one of ``relays``, if given)."""
        params: dict[str, Any] = {"now": int(now)}
        if relays is None:
            return _DUE, params
        inside, names = in_list("relay", list(relays))
        return f"{_DUE} AND relay IN ({inside})", {**params, **names}

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
        due, params = self._due(now, relays)
        where = f"event_id IN (SELECT DISTINCT event_id FROM relay_states WHERE {due})"
        if after is not None:
            where += " AND (created_at, event_id) > (:after_created, :after_id)"
            params.update(after_created=after[0], after_id=after[1])
        with self.state.read() as tx:
            rows = tx.rows(f"{_EVENTS} WHERE {where}{_ORDER} LIMIT :limit", {**params, "limit": limit})
            return self._records(tx, rows)

    def waiting(self, now: float, relays: Sequence[str]) -> int:
        """How many records are pending on one of ``relays`` and none of those is due before ``now``
        (they wait for their backoff)."""
        due, params = self._due(now, relays)  # its relay IN (…) is the one below too
        inside, _ = in_list("relay", list(relays))
        with self.state.read() as tx:
            count = tx.scalar(
                "SELECT count(DISTINCT event_id) FROM relay_states "
                f"WHERE status = 'pending' AND relay IN ({inside}) "
                f"AND event_id NOT IN (SELECT event_id FROM relay_states WHERE {due})",
                params,
            )
        return int(count or 0)

    def lacking(self, relays: Sequence[str]) -> list[tuple[str, EventSubject, str]]:
        """``(event id, subject, subject id)`` of every record that lacks a row for one of ``relays``."""
        wanted = sorted(set(relays))
        if not wanted:
            return []
        has_all = " AND ".join(
            f"EXISTS (SELECT 1 FROM relay_states r WHERE r.event_id = e.event_id AND r.relay = :relay{i})"
            for i in range(len(wanted))
        )
        params = {f"relay{i}": relay for i, relay in enumerate(wanted)}
        with self.state.read() as tx:
            rows = tx.rows(
                f"SELECT e.event_id, e.subject, e.subject_id FROM events e WHERE NOT ({has_all})", params
            )
        return [(str(e), EventSubject(s), str(i)) for e, s, i in rows]

    def add_pending(self, event_ids: Iterable[str], relays: Iterable[str]) -> int:
        """Give these records a ``pending`` row for each of ``relays`` they lack, in one transaction;
        return how many rows were added."""
        columns = ("event_id", "relay", "status", "message", "attempts", "updated_at")
        rows = [
            {"event_id": e, "relay": r, "status": "pending", "message": "", "attempts": 0, "updated_at": 0}
            for e in sorted(set(event_ids))
            for r in sorted(set(relays))
        ]
        if not rows:
            return 0
        added = 0
        with self.state.write() as tx:
            for part in chunks(rows):
                values, params = values_list(columns, part)
                added += tx.run(
                    f"INSERT INTO relay_states ({', '.join(columns)}) VALUES {values} "
                    "ON CONFLICT (event_id, relay) DO NOTHING",
                    params,
                )
        return added

    def reconciled(self, scope: str) -> frozenset[str] | None:
        """The relays every record of an outbox ``scope`` was reconciled against (None: never)."""
        with self.state.read() as tx:
            value = tx.scalar('SELECT value FROM meta WHERE "key" = :key', {"key": RECONCILED_KEY + scope})
        if value is None:
            return None
        return frozenset(str(u) for u in msgspec.json.decode(value))

    def set_reconciled(self, scope: str, relays: Iterable[str]) -> None:
        """Remember the relays a scope was reconciled against (after its rows were added)."""
        value = msgspec.json.encode(sorted(set(relays))).decode()
        with self.state.write() as tx:
            tx.run(
                'INSERT INTO meta ("key", value) VALUES (:key, :value) '
                'ON CONFLICT ("key") DO UPDATE SET value = excluded.value',
                {"key": RECONCILED_KEY + scope, "value": value},
            )

    def unaccepted(self, relay: str, limit: int = 100) -> list[dict[str, Any]]:
        """The events ``relay`` has not accepted (pending or rejected), oldest first (the admin API)."""
        with self.state.read() as tx:
            rows = tx.rows(
                "SELECT e.event_id, e.kind, e.subject, e.subject_id, e.created_at, "
                "r.status, r.attempts, r.message, r.next_attempt "
                "FROM events e JOIN relay_states r ON r.event_id = e.event_id "
                "WHERE r.relay = :relay AND r.status != 'accepted' "
                "ORDER BY e.created_at, e.event_id LIMIT :limit",
                {"relay": relay, "limit": max(1, min(limit, 1000))},
            )
        return [dict(zip(_UNACCEPTED, row, strict=True)) for row in rows]

    def reopen(self, relay: str, now: float) -> int:
        """Make every event ``relay`` has not accepted (rejections too) due now; returns how many."""
        with self.state.write() as tx:
            return tx.run(
                "UPDATE relay_states SET status = 'pending', next_attempt = :now "
                "WHERE relay = :relay AND status != 'accepted'",
                {"relay": relay, "now": int(now)},
            )

    def delete_all(self) -> int:
        """Forget every event record and relay answer (``clear-cache --all``); how many records there were."""
        with self.state.write() as tx:
            tx.run("DELETE FROM relay_states")
            return tx.run("DELETE FROM events")
