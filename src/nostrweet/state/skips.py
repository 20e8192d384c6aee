"""The tweets the filters skipped (SPEC §12), in the state: each with the name of the rule and when.

The publisher reports each skip here (``record_skip``, :class:`~nostrweet.publish.building.SkipLog`).
A row says what the last run decided; the filters are asked again at every run, so a tweet is
published once no rule skips it any more, and its row is then forgotten.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from sqlalchemy import delete, select

from nostrweet.state.engine import State
from nostrweet.state.schema import skipped_tweets


class SkippedTweets:
    """The ``skipped_tweets`` table."""

    def __init__(self, state: State, *, clock: Callable[[], float] = time.time) -> None:
        self.state = state
        self.clock = clock

    def record_skip(self, tweet_id: str, rule: str) -> None:
        """Remember that ``rule`` skipped the tweet (a later skip replaces the rule and the time)."""
        stmt = self.state.insert(skipped_tweets).values(
            tweet_id=int(tweet_id), rule=rule, skipped_at=int(self.clock())
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["tweet_id"],
            set_={"rule": stmt.excluded.rule, "skipped_at": stmt.excluded.skipped_at},
        )
        with self.state.engine.begin() as conn:
            conn.execute(stmt)

    def rule_of(self, tweet_id: str | int) -> str | None:
        """The rule that last skipped the tweet, or None."""
        query = select(skipped_tweets.c.rule).where(skipped_tweets.c.tweet_id == int(tweet_id))
        with self.state.engine.connect() as conn:
            found = conn.execute(query).scalar()
        return None if found is None else str(found)

    def all(self) -> dict[str, str]:
        """tweet id → rule, for every skipped tweet."""
        query = select(skipped_tweets.c.tweet_id, skipped_tweets.c.rule).order_by(skipped_tweets.c.tweet_id)
        with self.state.engine.connect() as conn:
            return {str(t): str(r) for t, r in conn.execute(query)}

    def forget(self, tweet_ids: Iterable[str | int]) -> None:
        """Drop the rows of tweets that are published now."""
        ids = [int(t) for t in tweet_ids]
        if ids:
            with self.state.engine.begin() as conn:
                conn.execute(delete(skipped_tweets).where(skipped_tweets.c.tweet_id.in_(ids)))
