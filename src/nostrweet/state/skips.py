"""The tweets the filters skipped (SPEC §12), in the state: each with the name of the rule and when.

The publisher reports each skip here (``record_skip``, :class:`~nostrweet.publish.building.SkipLog`).
A row says what the last run decided; the filters are asked again at every run, so a tweet is
published once no rule skips it any more, and its row is then forgotten.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from nostrweet.state.engine import State
from nostrweet.state.sql import chunks, in_list


class SkippedTweets:
    """The ``skipped_tweets`` table."""

    def __init__(self, state: State, *, clock: Callable[[], float] = time.time) -> None:
        self.state = state
        self.clock = clock

    def record_skip(self, tweet_id: str, rule: str) -> None:
        """Remember that ``rule`` skipped the tweet (a later skip replaces the rule and the time)."""
        with self.state.write() as tx:
            tx.run(
                "INSERT INTO skipped_tweets (tweet_id, rule, skipped_at) VALUES (:tweet_id, :rule, :at) "
                "ON CONFLICT (tweet_id) DO UPDATE SET rule = excluded.rule, skipped_at = excluded.skipped_at",
                {"tweet_id": int(tweet_id), "rule": rule, "at": int(self.clock())},
            )

    def rule_of(self, tweet_id: str | int) -> str | None:
        """The rule that last skipped the tweet, or None."""
        with self.state.read() as tx:
            found = tx.scalar("SELECT rule FROM skipped_tweets WHERE tweet_id = :id", {"id": int(tweet_id)})
        return None if found is None else str(found)

    def all(self) -> dict[str, str]:
        """tweet id → rule, for every skipped tweet."""
        with self.state.read() as tx:
            rows = tx.rows("SELECT tweet_id, rule FROM skipped_tweets ORDER BY tweet_id")
        return {str(t): str(r) for t, r in rows}

    def forget(self, tweet_ids: Iterable[str | int]) -> None:
        """Drop the rows of tweets that are published now."""
        ids = [int(t) for t in tweet_ids]
        if ids:
            with self.state.write() as tx:
                for part in chunks(ids):
                    inside, params = in_list("t", part)
                    tx.run(f"DELETE FROM skipped_tweets WHERE tweet_id IN ({inside})", params)
