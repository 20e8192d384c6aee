"""The webhook delivery queue in the state (SPEC §12): at least once, in order per webhook and user.

A delivery is queued once (its id is stable, so queuing the same event again changes nothing), taken
by one instance at a time, and either marked delivered or put back with its next try time. Only the
oldest undelivered delivery of each (webhook, user) pair is ever due: a failing one holds back the later
ones, so a receiver sees each user's events in the order they happened.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.sql import ColumnElement

from nostrweet.state.engine import State
from nostrweet.state.schema import webhook_deliveries as wd

__all__ = ["Delivery", "QueuedDelivery", "WebhookQueue"]


@dataclass(frozen=True, slots=True)
class QueuedDelivery:
    """A delivery to queue."""

    delivery_id: str
    webhook: str
    username: str
    event: str
    body: bytes


@dataclass(frozen=True, slots=True)
class Delivery:
    """A delivery as the queue holds it."""

    seq: int
    delivery_id: str
    webhook: str
    username: str
    event: str
    body: bytes
    attempts: int
    created_at: int
    next_at: int
    delivered_at: int | None
    last_error: str | None


def _delivery(row: object) -> Delivery:
    r = row._mapping  # type: ignore[attr-defined]
    return Delivery(
        seq=int(r["seq"]),
        delivery_id=str(r["delivery_id"]),
        webhook=str(r["webhook"]),
        username=str(r["username"]),
        event=str(r["event"]),
        body=str(r["body"]).encode(),
        attempts=int(r["attempts"]),
        created_at=int(r["created_at"]),
        next_at=int(r["next_at"]),
        delivered_at=None if r["delivered_at"] is None else int(r["delivered_at"]),
        last_error=None if r["last_error"] is None else str(r["last_error"]),
    )


class WebhookQueue:
    """The ``webhook_deliveries`` table."""

    def __init__(self, state: State) -> None:
        self.state = state

    def enqueue(self, deliveries: Iterable[QueuedDelivery], now: float) -> None:
        """Queue deliveries in one transaction; one already queued (same id) is left as it is."""
        stamp = int(now)
        values = [
            {
                "delivery_id": d.delivery_id,
                "webhook": d.webhook,
                "username": d.username,
                "event": d.event,
                "body": d.body.decode(),
                "created_at": stamp,
                "attempts": 0,
                "next_at": stamp,
            }
            for d in deliveries
        ]
        if not values:
            return
        stmt = self.state.insert(wd).on_conflict_do_nothing(index_elements=["delivery_id"])
        with self.state.engine.begin() as conn:
            conn.execute(stmt, values)

    def _heads(self) -> ColumnElement[bool]:
        """Rows that are the oldest undelivered one of their (webhook, user) pair."""
        older = wd.alias("older")
        first = (
            select(func.min(older.c.seq))
            .where(
                older.c.webhook == wd.c.webhook,
                older.c.username == wd.c.username,
                older.c.delivered_at.is_(None),
            )
            .scalar_subquery()
        )
        return and_(wd.c.delivered_at.is_(None), wd.c.seq == first)

    def claim(
        self, instance_id: str, now: float, *, limit: int = 50, hold_seconds: int = 60
    ) -> list[Delivery]:
        """Up to ``limit`` due heads not held by a live claim, now held by ``instance_id``."""
        stamp = int(now)
        free = or_(wd.c.claim_expires.is_(None), wd.c.claim_expires <= stamp)
        query = (
            select(wd.c.seq).where(self._heads(), wd.c.next_at <= stamp, free).order_by(wd.c.seq).limit(limit)
        )
        if self.state.is_postgres:
            query = query.with_for_update(skip_locked=True, of=wd)
        with self.state.engine.begin() as conn:
            seqs = list(conn.execute(query).scalars())
            if not seqs:
                return []
            conn.execute(
                update(wd)
                .where(wd.c.seq.in_(seqs))
                .values(claimed_by=instance_id, claim_expires=stamp + hold_seconds)
            )
            rows = conn.execute(select(wd).where(wd.c.seq.in_(seqs)).order_by(wd.c.seq))
            return [_delivery(r) for r in rows]

    def delivered(self, seq: int, now: float) -> None:
        """Mark one delivery done (it is kept for the delivery log)."""
        with self.state.engine.begin() as conn:
            conn.execute(
                update(wd)
                .where(wd.c.seq == seq)
                .values(
                    delivered_at=int(now),
                    attempts=wd.c.attempts + 1,
                    last_error=None,
                    claimed_by=None,
                    claim_expires=None,
                )
            )

    def failed(self, seq: int, error: str, next_at: float) -> None:
        """Count a failed try and put the delivery back until ``next_at``."""
        with self.state.engine.begin() as conn:
            conn.execute(
                update(wd)
                .where(wd.c.seq == seq)
                .values(
                    attempts=wd.c.attempts + 1,
                    last_error=error[:200],
                    next_at=int(next_at),
                    claimed_by=None,
                    claim_expires=None,
                )
            )

    def pending(self) -> int:
        """How many deliveries are not delivered yet."""
        query = select(func.count()).select_from(wd).where(wd.c.delivered_at.is_(None))
        with self.state.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def next_due(self) -> int | None:
        """The earliest time a head is due (None: nothing is waiting)."""
        query = select(func.min(wd.c.next_at)).where(self._heads())
        with self.state.engine.connect() as conn:
            value = conn.execute(query).scalar_one()
        return None if value is None else int(value)

    def prune(self, delivered_before: float) -> None:
        """Forget deliveries delivered before the given time (the log keeps the recent ones)."""
        with self.state.engine.begin() as conn:
            conn.execute(wd.delete().where(wd.c.delivered_at < int(delivered_before)))

    def log(self, limit: int = 100) -> list[Delivery]:
        """The newest deliveries, delivered or not, newest first (the admin API's delivery log)."""
        query = select(wd).order_by(wd.c.seq.desc()).limit(max(1, min(limit, 1000)))
        with self.state.engine.connect() as conn:
            return [_delivery(r) for r in conn.execute(query)]
