"""Which instance works each relay's outbox (SPEC §7): one PostgreSQL advisory lock per relay.

An outbox pass calls :meth:`RelayLocks.hold` with the relays it sends to. On PostgreSQL it takes one
connection of its own and, on it, ``pg_try_advisory_lock`` for each relay (never waiting): it gets the
relays no other instance is working, and works only those; the others are skipped for this pass. The
locks are released when the pass ends. PostgreSQL releases them itself when the holder's connection
ends, so the relays of an instance that died (SIGKILL, a lost machine) are free again without any
expiry to tune: at once when its process is gone, and on a lost machine once the server's TCP
keepalives (set short on that connection) find the connection dead.

On SQLite (one instance) every relay is held, nothing is locked, and no connection is taken. On
PostgreSQL the lock's connection is one of ``state.engine``'s pool (PostgreSQL runs on SQLAlchemy), its
statements SQL text sent to the driver (``state.sql``), so this module imports no SQLAlchemy.

The lock key is the pair ``(OUTBOX_LOCK_CLASS, relay_lock_key(relay))``, the two-integer form of
PostgreSQL's advisory locks, so it never meets the one-bigint keys of the leases and the migrations.
Two relay URLs whose keys collide are only worked by one instance at a time together; nothing goes wrong.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from nostrweet.state.engine import State
from nostrweet.state.sql import DriverTx

log = logging.getLogger(__name__)

OUTBOX_LOCK_CLASS = 0x6F7574  # "out"
"""The first key of every relay's outbox lock."""

KEEPALIVE = (
    "SELECT set_config('tcp_keepalives_idle', '10', false), set_config('tcp_keepalives_interval', '5', false),"
    " set_config('tcp_keepalives_count', '3', false), set_config('application_name', :name, false)"
)
"""On the lock's connection: the server finds a lost client within about 25 s and frees its locks; and
the holder's name, shown in ``pg_stat_activity``."""


def relay_lock_key(relay: str) -> int:
    """Pure: the second key of a relay's outbox lock, a signed 32-bit number derived from the URL."""
    return int.from_bytes(hashlib.sha256(relay.encode()).digest()[:4], "big", signed=True)


@dataclass
class RelayHold:
    """The relays one pass may work (``relays``) and those another instance works now (``busy``)."""

    relays: list[str]
    busy: list[str] = field(default_factory=list)
    _tx: DriverTx | None = None

    def alive(self) -> bool:
        """Whether the locks are still held: their connection answers (always True on SQLite). A pass
        stops working its relays when this turns False; another instance may have them by then."""
        if self._tx is None:
            return True
        try:
            self._tx.scalar("SELECT 1")
        except Exception as exc:
            log.warning("outbox: the relay locks' connection is gone (%s); the pass stops", exc)
            return False
        return True


class RelayLocks:
    """The outbox locks of one state."""

    def __init__(self, state: State, *, name: str | None = None) -> None:
        self.state = state
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"

    @contextmanager
    def hold(self, relays: Sequence[str]) -> Iterator[RelayHold]:
        """Hold the outbox of every relay of ``relays`` that no other instance holds, for the ``with``
        block; never waits. On SQLite every relay is held."""
        wanted = list(dict.fromkeys(relays))
        if not self.state.is_postgres or not wanted:
            yield RelayHold(wanted)
            return
        # a pooled connection of its own, in autocommit: the locks are the session's, not a transaction's
        conn = self.state.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        clean = False
        try:
            tx = DriverTx(conn, is_postgres=True)
            tx.first(KEEPALIVE, {"name": f"nostrweet {self.name}"})
            hold = RelayHold([], [], tx)
            for relay in wanted:
                got = tx.scalar(
                    "SELECT pg_try_advisory_lock(:c, :k)",
                    {"c": OUTBOX_LOCK_CLASS, "k": relay_lock_key(relay)},
                )
                (hold.relays if got else hold.busy).append(relay)
            yield hold
            clean = _unlock_all(tx)
        finally:
            if not clean:  # the locks may still be held: this connection must not go back to the pool
                conn.invalidate()
            conn.close()


def _unlock_all(tx: DriverTx) -> bool:
    """Release the session's advisory locks (and its name, before the pool lends the connection to other
    work); False when the connection failed (its locks went with it)."""
    try:
        tx.first("SELECT pg_advisory_unlock_all()")
        tx.run("RESET application_name")
    except Exception as exc:
        log.debug("outbox: the relay locks' connection failed at release: %s", exc)
        return False
    return True
