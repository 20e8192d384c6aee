"""X rate budgets shared by every instance of one state (SPEC §5, §7).

One ``rate_budgets`` row per endpoint template. :meth:`SharedBudgets.reserve` takes one request out of the
budget in ONE statement (``UPDATE … WHERE remaining > 0 … RETURNING``), so instances reserving at the same
moment together never take more than ``remaining``: the database is the coordinator. The headers of a
response are merged in by the pure :meth:`RateBudget.update` inside a transaction that holds the row.
"""

from __future__ import annotations

from sqlalchemy import and_, case, literal, or_, select, update

from nostrweet.state.engine import State
from nostrweet.state.schema import rate_budgets
from nostrweet.twitter.ratelimit import RESET_MARGIN, RateBudget

_b = rate_budgets.c


class SharedBudgets:
    """The ``rate_budgets`` table."""

    def __init__(self, state: State) -> None:
        self.state = state
        self._rows: set[str] = set()  # endpoints whose row exists (rows are never deleted)

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

    def reserve(self, endpoint: str, now: float) -> float:
        """Reserve one request of ``endpoint`` at ``now``: 0.0 when reserved, else the seconds to wait
        before the budget allows one (nothing reserved)."""
        self._ensure(endpoint)
        over = and_(_b.reset_epoch.is_not(None), literal(now) >= _b.reset_epoch + RESET_MARGIN)
        stmt = (
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
            .returning(_b.endpoint)
        )
        with self.state.engine.begin() as conn:
            if conn.execute(stmt).first() is not None:
                return 0.0
            reset = conn.execute(select(_b.reset_epoch).where(_b.endpoint == endpoint)).scalar()
        return max(0.0, float(reset or 0) + RESET_MARGIN - now)

    def update(
        self, endpoint: str, limit: int | None, remaining: int | None, reset_epoch: int | None
    ) -> RateBudget:
        """Take in a response's ``x-rate-limit-*`` headers (:meth:`RateBudget.update` decides); the
        budget as it is now."""
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
        return budget

    def get(self, endpoint: str) -> RateBudget:
        """The endpoint's budget now (unknown if never seen)."""
        with self.state.engine.connect() as conn:
            row = conn.execute(select(rate_budgets).where(_b.endpoint == endpoint)).first()
        return RateBudget(row.limit, row.remaining, row.reset_epoch) if row is not None else RateBudget()
