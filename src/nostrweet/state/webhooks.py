"""The webhook delivery queue in the state (SPEC §12): at least once, in order per webhook and user.

A delivery is queued once (its id is stable, so queuing the same event again changes nothing), taken
by one instance at a time, and either marked delivered or put back with its next try time. Only the
oldest undelivered delivery of each (webhook, user) pair is ever due: a failing one holds back the later
ones, so a receiver sees each user's events in the order they happened.

The statements are SQL text (:mod:`nostrweet.state.sql`), the same on SQLite and PostgreSQL; on
PostgreSQL a claim locks the rows it takes (``FOR UPDATE OF wd SKIP LOCKED``), so two instances claiming
at once never take the same delivery.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from nostrweet.state.engine import State
from nostrweet.state.sql import Row, chunks, in_list

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


_COLUMNS = "seq, delivery_id, webhook, username, event, body, attempts, created_at, next_at, delivered_at, last_error"
"""The columns a :class:`Delivery` is read from, in :func:`_delivery`'s order."""

_HEAD = (
    "wd.delivered_at IS NULL AND wd.seq = (SELECT min(older.seq) FROM webhook_deliveries older "
    "WHERE older.webhook = wd.webhook AND older.username = wd.username AND older.delivered_at IS NULL)"
)
"""A row ``wd`` that is the oldest undelivered one of its (webhook, user) pair."""


def _delivery(row: Row) -> Delivery:
    seq, delivery_id, webhook, username, event, body, attempts, created_at, next_at, delivered_at, error = row
    return Delivery(
        seq=int(seq),
        delivery_id=str(delivery_id),
        webhook=str(webhook),
        username=str(username),
        event=str(event),
        body=str(body).encode(),
        attempts=int(attempts),
        created_at=int(created_at),
        next_at=int(next_at),
        delivered_at=None if delivered_at is None else int(delivered_at),
        last_error=None if error is None else str(error),
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
        with self.state.write() as tx:
            tx.run_many(
                "INSERT INTO webhook_deliveries "
                "(delivery_id, webhook, username, event, body, created_at, attempts, next_at) "
                "VALUES (:delivery_id, :webhook, :username, :event, :body, :created_at, :attempts, :next_at) "
                "ON CONFLICT (delivery_id) DO NOTHING",
                values,
            )

    def claim(
        self, instance_id: str, now: float, *, limit: int = 50, hold_seconds: int = 60
    ) -> list[Delivery]:
        """Up to ``limit`` due heads not held by a live claim, now held by ``instance_id``."""
        stamp = int(now)
        lock = " FOR UPDATE OF wd SKIP LOCKED" if self.state.is_postgres else ""
        with self.state.write() as tx:
            seqs = [
                int(seq)
                for (seq,) in tx.rows(
                    f"SELECT wd.seq FROM webhook_deliveries wd WHERE {_HEAD} AND wd.next_at <= :now "
                    "AND (wd.claim_expires IS NULL OR wd.claim_expires <= :now) "
                    f"ORDER BY wd.seq LIMIT :limit{lock}",
                    {"now": stamp, "limit": limit},
                )
            ]
            claimed: list[Delivery] = []
            for part in chunks(seqs):
                inside, params = in_list("seq", part)
                rows = tx.rows(
                    "UPDATE webhook_deliveries SET claimed_by = :instance, claim_expires = :expires "
                    f"WHERE seq IN ({inside}) RETURNING {_COLUMNS}",
                    {**params, "instance": instance_id, "expires": stamp + hold_seconds},
                )
                claimed.extend(_delivery(r) for r in rows)
        return sorted(claimed, key=lambda d: d.seq)

    def delivered(self, seq: int, now: float) -> None:
        """Mark one delivery done (it is kept for the delivery log)."""
        with self.state.write() as tx:
            tx.run(
                "UPDATE webhook_deliveries SET delivered_at = :now, attempts = attempts + 1, "
                "last_error = NULL, claimed_by = NULL, claim_expires = NULL WHERE seq = :seq",
                {"now": int(now), "seq": seq},
            )

    def failed(self, seq: int, error: str, next_at: float) -> None:
        """Count a failed try and put the delivery back until ``next_at``."""
        with self.state.write() as tx:
            tx.run(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, last_error = :error, "
                "next_at = :next_at, claimed_by = NULL, claim_expires = NULL WHERE seq = :seq",
                {"error": error[:200], "next_at": int(next_at), "seq": seq},
            )

    def pending(self) -> int:
        """How many deliveries are not delivered yet."""
        with self.state.read() as tx:
            return int(tx.scalar("SELECT count(*) FROM webhook_deliveries WHERE delivered_at IS NULL") or 0)

    def next_due(self) -> int | None:
        """The earliest time a head is due (None: nothing is waiting)."""
        with self.state.read() as tx:
            value = tx.scalar(f"SELECT min(wd.next_at) FROM webhook_deliveries wd WHERE {_HEAD}")
        return None if value is None else int(value)

    def prune(self, delivered_before: float) -> None:
        """Forget deliveries delivered before the given time (the log keeps the recent ones)."""
        with self.state.write() as tx:
            tx.run(
                "DELETE FROM webhook_deliveries WHERE delivered_at < :before",
                {"before": int(delivered_before)},
            )

    def log(self, limit: int = 100) -> list[Delivery]:
        """The newest deliveries, delivered or not, newest first (the admin API's delivery log)."""
        with self.state.read() as tx:
            rows = tx.rows(
                f"SELECT {_COLUMNS} FROM webhook_deliveries ORDER BY seq DESC LIMIT :limit",
                {"limit": max(1, min(limit, 1000))},
            )
        return [_delivery(r) for r in rows]
