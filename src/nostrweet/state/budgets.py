"""X rate budgets shared by every instance of one state (SPEC §5, §7).

One ``rate_budgets`` row per endpoint template. :meth:`SharedBudgets.reserve` takes one request out of the
budget in ONE statement (``UPDATE … WHERE remaining > 0 … RETURNING``), so instances reserving at the same
moment together never take more than ``remaining``: the database is the coordinator. On PostgreSQL that
statement runs alone in autocommit: one round trip per request.

The headers of a response are merged in by the pure :meth:`RateBudget.update` inside a transaction that
holds the row, unless the merge cannot change it (:func:`merge_changes_nothing`): within one window the
row's ``remaining`` only goes down, so once a reservation of ours saw it at ``r``, a header of the same
window, limit and reset saying ``remaining >= r`` leaves it as it is. That is the usual answer (every
request is reserved before it is sent), so a steady poll costs the budget one statement, not three.
"""

from __future__ import annotations

from sqlalchemy import Float, Update, and_, bindparam, case, or_, select, update

from nostrweet.state.engine import State
from nostrweet.state.schema import rate_budgets
from nostrweet.twitter.ratelimit import RESET_MARGIN, RateBudget

_b = rate_budgets.c


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


def _reserve_statement(endpoint: str) -> Update:
    """``UPDATE … RETURNING`` taking one request of ``endpoint`` at ``:now`` (see :meth:`SharedBudgets.reserve`)."""
    over = and_(_b.reset_epoch.is_not(None), bindparam("now", type_=Float) >= _b.reset_epoch + RESET_MARGIN)
    return (
        update(rate_budgets)
        .where(_b.endpoint == endpoint, or_(_b.remaining.is_(None), _b.remaining > 0, over))
        .values(
            remaining=case(
                (over, case((_b.limit > 0, _b.limit - 1), else_=_b.limit)),
                (_b.remaining > 0, _b.remaining - 1),
                else_=_b.remaining,
            ),
            reset_epoch=case((over, None), else_=_b.reset_epoch),
        )
        .returning(_b.limit, _b.remaining, _b.reset_epoch)
    )


class SharedBudgets:
    """The ``rate_budgets`` table."""

    def __init__(self, state: State) -> None:
        self.state = state
        self._rows: set[str] = set()  # endpoints whose row exists (rows are never deleted)
        # per endpoint: the lowest budget one of our reservations saw in the row's current window
        self._seen: dict[str, RateBudget] = {}
        # per endpoint: the reservation statement, built once (building it cost more than running it)
        self._reserving: dict[str, Update] = {}

    def _ensure(self, endpoint: str) -> None:
        if endpoint in self._rows:
            return
        with self.state.engine.begin() as conn:
            conn.execute(
                self.state.insert(rate_budgets)
                .values(endpoint=endpoint, limit=None, remaining=None, reset_epoch=None)
                .on_conflict_do_nothing(index_elements=["endpoint"])
            )
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
        stmt = self._reserving.get(endpoint)
        if stmt is None:
            stmt = self._reserving[endpoint] = _reserve_statement(endpoint)
        with self.state.one_statement() as conn:
            row = conn.execute(stmt, {"now": now}).first()
        if row is not None:
            self._saw(endpoint, RateBudget(row.limit, row.remaining, row.reset_epoch))
            return 0.0
        with self.state.engine.connect() as conn:
            reset = conn.execute(select(_b.reset_epoch).where(_b.endpoint == endpoint)).scalar()
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
        query = select(rate_budgets).where(_b.endpoint == endpoint)
        if self.state.is_postgres:
            query = query.with_for_update()
        with self.state.engine.begin() as conn:
            row = conn.execute(query).one()
            budget = RateBudget(row.limit, row.remaining, row.reset_epoch)
            budget.update(limit, remaining, reset_epoch)
            conn.execute(
                update(rate_budgets)
                .where(_b.endpoint == endpoint)
                .values(limit=budget.limit, remaining=budget.remaining, reset_epoch=budget.reset_epoch)
            )
        self._saw(endpoint, RateBudget(budget.limit, budget.remaining, budget.reset_epoch))
        return budget

    def get(self, endpoint: str) -> RateBudget:
        """The endpoint's budget now (unknown if never seen)."""
        with self.state.engine.connect() as conn:
            row = conn.execute(select(rate_budgets).where(_b.endpoint == endpoint)).first()
        return RateBudget(row.limit, row.remaining, row.reset_epoch) if row is not None else RateBudget()
