"""Hostile shapes from X through the real CLI: usable ones are archived as sent, unusable ones are
one line and the operational exit code, never a traceback or a false "not found"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nostrweet.cache import layout
from tests.fakes.x_api import FakeXApi
from tests.fakes.x_world import World
from tests.integration.test_archive_cli import document, run_cli, tweet_files

pytestmark = pytest.mark.integration


def _a_tweet(world: World) -> str:
    return next(t for t, raw in world.tweets.items() if raw.get("author_id") and world.get_tweet(t))


def test_numeric_ids_and_typeless_refs_are_archived_as_sent(
    fake_x: FakeXApi, x_world: World, data_dir: Path
) -> None:
    tid = _a_tweet(x_world)
    raw = x_world.tweets[tid]
    raw["author_id"] = int(raw["author_id"])
    raw["referenced_tweets"] = [{"id": "1"}]  # no type: not followed
    result = run_cli(fake_x, data_dir, "fetch-tweet", tid)
    assert result.returncode == 0, result.stderr
    doc = document(data_dir, tid)
    assert doc["data"]["author_id"] == raw["author_id"]  # the file keeps what X sent
    assert doc["data"]["referenced_tweets"] == [{"id": "1"}]
    assert not (data_dir / layout.not_found_filename(1)).exists()


def test_an_unreadable_tweet_is_one_line_and_exit_1(fake_x: FakeXApi, x_world: World, data_dir: Path) -> None:
    tid = _a_tweet(x_world)
    x_world.tweets[tid]["text"] = {"not": "text"}
    result = run_cli(fake_x, data_dir, "fetch-tweet", tid)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and tid in errors[0] and "cannot read" in errors[0]
    assert "Traceback" not in result.stderr
    assert tweet_files(data_dir) == {}
    assert not (data_dir / layout.not_found_filename(int(tid))).exists()  # not a false "not found"
    assert json.dumps(x_world.tweets[tid])  # the world itself is untouched JSON
