"""The skipped tweets in the state (SPEC §12), on both backends; the migration step that adds them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import insert, inspect, update

from nostrweet.state import migrations, schema
from nostrweet.state.engine import State, open_state
from nostrweet.state.skips import SkippedTweets


@pytest.fixture
def state(state_url: str) -> Iterator[State]:
    opened = open_state(state_url)
    yield opened
    opened.close()


def test_a_skip_is_recorded_replaced_and_forgotten(state: State) -> None:
    now = [1_700_000_000.0]
    skips = SkippedTweets(state, clock=lambda: now[0])
    assert skips.rule_of("1250403528197263360") is None
    skips.record_skip("1250403528197263360", "filters.exclude")
    skips.record_skip("9223372036854775807", "users.bob.filters.skip_replies")  # the largest X id
    assert skips.rule_of(1250403528197263360) == "filters.exclude"
    now[0] += 60
    skips.record_skip("1250403528197263360", "filters.languages")
    assert skips.all() == {
        "1250403528197263360": "filters.languages",
        "9223372036854775807": "users.bob.filters.skip_replies",
    }
    skips.forget(["1250403528197263360"])
    assert skips.rule_of("1250403528197263360") is None
    assert list(skips.all()) == ["9223372036854775807"]
    skips.forget([])


def test_the_step_adds_the_table_to_a_version_1_state(state_url: str) -> None:
    state = open_state(state_url, migrate=False)
    try:
        migrations.migrate(state, steps=migrations.STEPS[:1])
        with state.engine.begin() as conn:
            assert not inspect(conn).has_table("skipped_tweets")
            conn.execute(insert(schema.meta).values(key="k", value="v"))
        assert migrations.migrate(state) == 1
        with state.engine.connect() as conn:
            assert inspect(conn).has_table("skipped_tweets")
            assert migrations.current_version(conn) == migrations.LATEST
        SkippedTweets(state).record_skip("5", "filters.min_length")
        with state.engine.begin() as conn:  # the earlier rows are kept
            conn.execute(update(schema.meta).values(value="w"))
    finally:
        state.close()
    assert migrations.add_skipped_tweets in migrations.STEPS
