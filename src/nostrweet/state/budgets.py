"""X rate budgets shared by every instance of one state (SPEC §5, §7).

One ``rate_budgets`` row per endpoint template. :meth:`SharedBudgets.reserve` takes one request out of the
budget in ONE statement (``UPDATE … WHERE remaining > 0 … RETURNING``), so instances reserving at the same
moment together never take more than ``remaining``: the database is the coordinator. On PostgreSQL that
statement runs alone in autocommit (``State.write_one``): one round trip per request.

The headers of a response are merged in by the pure :meth:`RateBudget.update` inside a transaction that
holds the row, unless the merge cannot change it (:func:`merge_changes_nothing`): within one window the
row's ``remaining`` only goes down, so once a reservation of ours saw it at ``r``, a header of the same
window, limit and reset saying ``remaining >= r`` leaves it as it is. That is the usual answer (every
request is reserved before it is sent), so a steady poll costs the budget one statement, not three.

The statements are SQL text on the state's own connections (``state.sql``): no SQLAlchemy is imported.
"""

from __future__ import annotations

from nostrweet.state.engine import State
from nostrweet.twitter.ratelimit import RESET_MARGIN, RateBudget

_OVER = "(reset_epoch IS NOT NULL AND :now >= reset_epoch + :margin)"
"""The row's window is over at ``:now`` (its reset plus ``:margin``, :data:`RESET_MARGIN`)."""

RESERVE = (
    "UPDATE rate_budgets SET"
    f' remaining = CASE WHEN {_OVER} THEN CASE WHEN "limit" > 0 THEN "limit" - 1 ELSE "limit" END'
    " WHEN remaining > 0 THEN remaining - 1 ELSE remaining END,"
    f" reset_epoch = CASE WHEN {_OVER} THEN NULL ELSE reset_epoch END"
    f" WHERE endpoint = :endpoint AND (remaining IS NULL OR remaining > 0 OR {_OVER})"
    ' RETURNING "limit", remaining, reset_epoch'
)
"""Take one request of ``:endpoint`` at ``:now`` (see :meth:`SharedBudgets.reserve`): a row of a window
that is over starts a new one (``limit - 1`` left, reset unknown); no row when nothing is left."""

_ENSURE = (
    'INSERT INTO rate_budgets (endpoint, "limit", remaining, reset_epoch) VALUES (:endpoint, NULL, NULL, NULL)'
    " ON CONFLICT (endpoint) DO NOTHING"
)
_ROW = 'SELECT "limit", remaining, reset_epoch FROM rate_budgets WHERE endpoint = :endpoint'


def merge_changes_nothing(
    seen: RateBudget | None, limit: int | None, remaining: int | None, reset_epoch: int | None
) -> bool:
    """PURE: True when merging these headers (:meth:`RateBudget.update`) into a row that a reservation
    saw as ``seen`` (and that only went down since, in the same window) cannot change the row."""
    if seen is None or seen.remaining is None or seen.reset_epoch is None:
        return False
    if remaining is None or reset_epoch is None or reset_epoch != seen.reset_epoch:
        return False
    return (limit is None or limit == seen.limit) and remaining >= seen.remaining


class SharedBudgets:
    """The ``rate_budgets`` table."""

    def __init__(self, state: State) -> None:
        self.state = state
        self._rows: set[str] = set()  # endpoints whose row exists (rows are never deleted)
        # per endpoint: the lowest budget one of our reservations saw in the row's current window
        self._seen: dict[str, RateBudget] = {}

    def _ensure(self, endpoint: str) -> None:
        if endpoint in self._rows:
            return
        with self.state.write() as tx:
            tx.run(_ENSURE, {"endpoint": endpoint})
        self._rows.add(endpoint)

    def _saw(self, endpoint: str, budget: RateBudget) -> None:
        """Remember the row as a reservation or a merge left it: the lowest ``remaining`` of its window."""
        known = self._seen.get(endpoint)
        if (
            known is None
            or (known.limit, known.reset_epoch) != (budget.limit, budget.reset_epoch)
            or known.remaining is None
            or (budget.remaining is not None and budget.remaining < known.remaining)
        ):
            self._seen[endpoint] = budget

    def reserve(self, endpoint: str, now: float) -> float:
        """Reserve one request of ``endpoint`` at ``now``: 0.0 when reserved, else the seconds to wait
        before the budget allows one (nothing reserved)."""
        self._ensure(endpoint)
        with self.state.write_one() as tx:
            row = tx.first(RESERVE, {"endpoint": endpoint, "now": float(now), "margin": float(RESET_MARGIN)})
        if row is not None:
            limit, remaining, reset_epoch = row
            self._saw(endpoint, RateBudget(limit, remaining, reset_epoch))
            return 0.0
        with self.state.read() as tx:
            reset = tx.scalar(
                "SELECT reset_epoch FROM rate_budgets WHERE endpoint = :endpoint", {"endpoint": endpoint}
            )
        return max(0.0, float(reset or 0) + RESET_MARGIN - now)

    def settled(
        self, endpoint: str, limit: int | None, remaining: int | None, reset_epoch: int | None
    ) -> RateBudget | None:
        """No database: when merging these headers cannot change the row, the budget as our reservations
        last saw it (the row holds at most that); else None (:meth:`update` must merge them)."""
        seen = self._seen.get(endpoint)
        if seen is None or not merge_changes_nothing(seen, limit, remaining, reset_epoch):
            return None
        return RateBudget(seen.limit, seen.remaining, seen.reset_epoch)

    def update(
        self, endpoint: str, limit: int | None, remaining: int | None, reset_epoch: int | None
    ) -> RateBudget:
        """Take in a response's headers (:meth:`RateBudget.update` decides); the budget as it is now (at
        most what the row holds when the merge was skipped: it changed nothing)."""
        skipped = self.settled(endpoint, limit, remaining, reset_epoch)
        if skipped is not None:
            return skipped
        self._ensure(endpoint)
        with self.state.write() as tx:
            row = tx.first(_ROW + (" FOR UPDATE" if tx.is_postgres else ""), {"endpoint": endpoint})
            if row is None:
                raise LookupError(f"rate_budgets has no row for {endpoint}")
            budget = RateBudget(*row)
            budget.update(limit, remaining, reset_epoch)
            tx.run(
                'UPDATE rate_budgets SET "limit" = :limit, remaining = :remaining, reset_epoch = :reset_epoch'
                " WHERE endpoint = :endpoint",
                {
                    "endpoint": endpoint,
                    "limit": budget.limit,
                    "remaining": budget.remaining,
                    "reset_epoch": budget.reset_epoch,
                },
            )
        self._saw(endpoint, RateBudget(budget.limit, budget.remaining, budget.reset_epoch))
        return budget

    def get(self, endpoint: str) -> RateBudget:
        """The endpoint's budget now (unknown if never seen)."""
        with self.state.read() as tx:
            row = tx.first(_ROW, {"endpoint": endpoint})
        return RateBudget(*row) if row is not None else RateBudget()
