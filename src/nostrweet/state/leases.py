"""Instances and per-user leases (SPEC §7): which live instance polls which user.

An instance registers itself (:meth:`Leases.heartbeat`) and, at each round, :meth:`Leases.balance` in ONE
transaction renews what it holds, hands back what is above its fair share, and takes free or expired
leases up to that share. The fair share is ``ceil(users / live instances)`` (pure :func:`fair_share`); an
instance is live while its heartbeat is younger than the lease time. On PostgreSQL the transaction first
takes an advisory lock, so two instances never balance at the same moment (PostgreSQL is the
coordinator); on SQLite ``BEGIN IMMEDIATE`` does the same. :meth:`Leases.release` hands every lease back
at once (a clean stop). Time comes from the caller (``now``), so tests drive it.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import delete, select, text, update

from nostrweet.cache.layout import normalize_username
from nostrweet.state.engine import State
from nostrweet.state.schema import instances, leases

LEASE_LOCK_KEY = 0x6C65617365  # "lease"
"""The key of the PostgreSQL advisory lock that balancing takes."""


def fair_share(users: int, live_instances: int) -> int:
    """The most users one instance may hold: ceil(users / live instances)."""
    return math.ceil(users / max(1, live_instances))


class Leases:
    """The ``instances`` and ``leases`` tables, seen from one instance."""

    def __init__(
        self, state: State, instance_id: str, *, pid: int, host: str, lease_seconds: int = 30
    ) -> None:
        self.state = state
        self.instance_id = instance_id
        self.pid = pid
        self.host = host
        self.lease_seconds = lease_seconds

    def _heartbeat(self, now: float) -> Any:
        stmt = self.state.insert(instances).values(
            instance_id=self.instance_id, pid=self.pid, host=self.host, heartbeat=int(now)
        )
        return stmt.on_conflict_do_update(
            index_elements=["instance_id"],
            set_={"pid": stmt.excluded.pid, "host": stmt.excluded.host, "heartbeat": stmt.excluded.heartbeat},
        )

    def heartbeat(self, now: float) -> None:
        """Say this instance is alive at ``now`` (:meth:`balance` does it too)."""
        with self.state.engine.begin() as conn:
            conn.execute(self._heartbeat(now))

    def balance(self, usernames: Sequence[str], now: float, *, busy: Collection[str] = ()) -> list[str]:
        """Renew, hand back and take leases so this instance holds its fair share of ``usernames``;
        return the users it holds now (sorted). Users in ``busy`` (being polled here) that it holds are
        kept even above the share, so a user is never handed over in the middle of a poll."""
        stamp = int(now)
        wanted = sorted({normalize_username(u) for u in usernames})
        working = {normalize_username(u) for u in busy}
        with self.state.engine.begin() as conn:
            if self.state.is_postgres:
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LEASE_LOCK_KEY})
            conn.execute(self._heartbeat(now))
            alive = instances.c.heartbeat > stamp - self.lease_seconds
            live = len(conn.execute(select(instances.c.instance_id).where(alive)).all())
            share = fair_share(len(wanted), live or 1)
            rows = conn.execute(select(leases)).all()
            mine = sorted(
                (r.username for r in rows if r.instance_id == self.instance_id and r.username in wanted),
                key=lambda u: (u not in working, u),
            )
            held_by_others = {
                r.username for r in rows if r.instance_id != self.instance_id and r.expires_at > stamp
            }
            keep = mine[: max(share, sum(1 for u in mine if u in working))]
            drop = mine[len(keep) :] + [
                r.username for r in rows if r.instance_id == self.instance_id and r.username not in wanted
            ]
            free = [u for u in wanted if u not in held_by_others and u not in keep]
            take = free[: max(0, share - len(keep))]
            if drop:
                conn.execute(
                    delete(leases).where(
                        leases.c.instance_id == self.instance_id, leases.c.username.in_(drop)
                    )
                )
            expires = stamp + self.lease_seconds
            if keep:
                conn.execute(
                    update(leases)
                    .where(leases.c.instance_id == self.instance_id, leases.c.username.in_(keep))
                    .values(expires_at=expires)
                )
            if take:
                stmt = self.state.insert(leases).values(
                    [{"username": u, "instance_id": self.instance_id, "expires_at": expires} for u in take]
                )
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["username"],
                        set_={
                            "instance_id": stmt.excluded.instance_id,
                            "expires_at": stmt.excluded.expires_at,
                        },
                    )
                )
        return sorted(keep + take)

    def other_holder(self, now: float) -> tuple[str, int] | None:
        """``(host, pid)`` of another live process that uses this instance id, or None."""
        query = select(instances.c.host, instances.c.pid).where(
            instances.c.instance_id == self.instance_id,
            instances.c.heartbeat > int(now) - self.lease_seconds,
        )
        with self.state.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None or (row.host == self.host and row.pid == self.pid):
            return None
        return str(row.host), int(row.pid)

    def held(self, now: float) -> list[str]:
        """The users whose lease this instance holds and has not let expire."""
        query = select(leases.c.username).where(
            leases.c.instance_id == self.instance_id, leases.c.expires_at > int(now)
        )
        with self.state.engine.connect() as conn:
            return sorted(conn.execute(query).scalars())

    def holders(self, now: float) -> dict[str, str]:
        """Every live lease: username -> instance id."""
        query = select(leases.c.username, leases.c.instance_id).where(leases.c.expires_at > int(now))
        with self.state.engine.connect() as conn:
            return {str(u): str(i) for u, i in conn.execute(query)}

    def release(self) -> None:
        """Hand every lease back and leave the live instances (a clean stop)."""
        with self.state.engine.begin() as conn:
            conn.execute(delete(leases).where(leases.c.instance_id == self.instance_id))
            conn.execute(delete(instances).where(instances.c.instance_id == self.instance_id))
