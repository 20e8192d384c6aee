"""Instances and per-user leases (SPEC §7): which live instance polls which user.

An instance registers itself (:meth:`Leases.heartbeat`) and, at each round, :meth:`Leases.balance` in ONE
transaction renews what it holds, hands back what is above its fair share, and takes free or expired
leases up to that share. The fair share is ``ceil(users / live instances)`` (pure :func:`fair_share`); an
instance is live while its heartbeat is younger than the lease time. On PostgreSQL the transaction first
takes an advisory lock, so two instances never balance at the same moment (PostgreSQL is the
coordinator); on SQLite ``BEGIN IMMEDIATE`` does the same. :meth:`Leases.release` hands every lease back
at once (a clean stop). Time comes from the caller (``now``), so tests drive it.

The statements are SQL text on the state's own connections (``state.sql``): no SQLAlchemy is imported.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

from nostrweet.cache.layout import normalize_username
from nostrweet.state.engine import State
from nostrweet.state.sql import Tx, chunks, in_list, values_list

LEASE_LOCK_KEY = 0x6C65617365  # "lease"
"""The key of the PostgreSQL advisory lock that balancing takes."""

_HEARTBEAT = (
    "INSERT INTO instances (instance_id, pid, host, heartbeat) VALUES (:instance_id, :pid, :host, :heartbeat)"
    " ON CONFLICT (instance_id) DO UPDATE SET pid = excluded.pid, host = excluded.host,"
    " heartbeat = excluded.heartbeat"
)


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

    def _heartbeat(self, tx: Tx, now: float) -> None:
        tx.run(
            _HEARTBEAT,
            {"instance_id": self.instance_id, "pid": self.pid, "host": self.host, "heartbeat": int(now)},
        )

    def heartbeat(self, now: float) -> None:
        """Say this instance is alive at ``now`` (:meth:`balance` does it too)."""
        with self.state.write() as tx:
            self._heartbeat(tx, now)

    def balance(self, usernames: Sequence[str], now: float, *, busy: Collection[str] = ()) -> list[str]:
        """Renew, hand back and take leases so this instance holds its fair share of ``usernames``;
        return the users it holds now (sorted). Users in ``busy`` (being polled here) that it holds are
        kept even above the share, so a user is never handed over in the middle of a poll."""
        stamp = int(now)
        wanted = sorted({normalize_username(u) for u in usernames})
        working = {normalize_username(u) for u in busy}
        me = self.instance_id
        with self.state.write() as tx:
            if tx.is_postgres:
                tx.run("SELECT pg_advisory_xact_lock(:k)", {"k": LEASE_LOCK_KEY})
            self._heartbeat(tx, now)
            live = len(
                tx.rows(
                    "SELECT instance_id FROM instances WHERE heartbeat > :since",
                    {"since": stamp - self.lease_seconds},
                )
            )
            share = fair_share(len(wanted), live or 1)
            rows = tx.rows("SELECT username, instance_id, expires_at FROM leases")
            mine = sorted(
                (u for u, i, _ in rows if i == me and u in wanted),
                key=lambda u: (u not in working, u),
            )
            held_by_others = {u for u, i, expires_at in rows if i != me and expires_at > stamp}
            keep = mine[: max(share, sum(1 for u in mine if u in working))]
            drop = mine[len(keep) :] + [u for u, i, _ in rows if i == me and u not in wanted]
            free = [u for u in wanted if u not in held_by_others and u not in keep]
            take = free[: max(0, share - len(keep))]
            for part in chunks(drop):
                names, params = in_list("u", part)
                tx.run(
                    f"DELETE FROM leases WHERE instance_id = :me AND username IN ({names})",
                    {"me": me, **params},
                )
            expires = stamp + self.lease_seconds
            for part in chunks(keep):
                names, params = in_list("u", part)
                tx.run(
                    f"UPDATE leases SET expires_at = :expires WHERE instance_id = :me AND username IN ({names})",
                    {"me": me, "expires": expires, **params},
                )
            for part in chunks(take):
                values, params = values_list(
                    ("username", "instance_id", "expires_at"),
                    [{"username": u, "instance_id": me, "expires_at": expires} for u in part],
                )
                tx.run(
                    f"INSERT INTO leases (username, instance_id, expires_at) VALUES {values}"
                    " ON CONFLICT (username) DO UPDATE SET instance_id = excluded.instance_id,"
                    " expires_at = excluded.expires_at",
                    params,
                )
        return sorted(keep + take)

    def other_holder(self, now: float) -> tuple[str, int] | None:
        """``(host, pid)`` of another live process that uses this instance id, or None."""
        with self.state.read() as tx:
            row = tx.first(
                "SELECT host, pid FROM instances WHERE instance_id = :me AND heartbeat > :since",
                {"me": self.instance_id, "since": int(now) - self.lease_seconds},
            )
        if row is None:
            return None
        host, pid = row
        if host == self.host and pid == self.pid:
            return None
        return str(host), int(pid)

    def held(self, now: float) -> list[str]:
        """The users whose lease this instance holds and has not let expire."""
        with self.state.read() as tx:
            rows = tx.rows(
                "SELECT username FROM leases WHERE instance_id = :me AND expires_at > :now",
                {"me": self.instance_id, "now": int(now)},
            )
        return sorted(u for (u,) in rows)

    def holders(self, now: float) -> dict[str, str]:
        """Every live lease: username -> instance id."""
        with self.state.read() as tx:
            rows = tx.rows(
                "SELECT username, instance_id FROM leases WHERE expires_at > :now", {"now": int(now)}
            )
        return {str(u): str(i) for u, i in rows}

    def release(self) -> None:
        """Hand every lease back and leave the live instances (a clean stop)."""
        with self.state.write() as tx:
            tx.run("DELETE FROM leases WHERE instance_id = :me", {"me": self.instance_id})
            tx.run("DELETE FROM instances WHERE instance_id = :me", {"me": self.instance_id})
