"""Filters end to end (SPEC §12): the daemon with a global and a per-user filter against the fake X API
and a real relay; a skipped tweet never reaches the relay, not after a restart either, and show-tweet
names the rule that skips it."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.x_api import FakeXApi
from tests.integration.test_daemon import (
    MNEMONIC,
    SMALL_USERS,
    DaemonProc,
    daemons,  # noqa: F401 (a fixture)
    tweet_ids_on,
    wait_for,
)

pytestmark = pytest.mark.integration

GARAGE = "1250403528197263360"  # WhoDisTweet: "I'll be in the garage if you need me"
LARRY = "1257090356488876039"  # SportsCenter: "Larry Bird was a problem"


def has_stats(proc: DaemonProc, count: int) -> bool:
    return len(proc.stats()) >= count


def show_tweet(data_dir: Path, config: Path, tweet_id: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOSTRWEET_")}
    env["NOSTRWEET_MNEMONIC"] = MNEMONIC
    args = [sys.executable, "-m", "nostrweet", "-d", str(data_dir), "-c", str(config), "show-tweet", tweet_id]
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)


def test_a_skipped_tweet_never_reaches_a_relay_even_after_restarts(
    tmp_path: Path,
    fake_x: FakeXApi,
    sdk_relay: str,
    daemons: list[DaemonProc],  # noqa: F811
) -> None:
    world = fake_x.world
    who_id, who = SMALL_USERS[0]
    sc_id, sc = SMALL_USERS[1]
    config = tmp_path / "daemon.toml"
    config.write_text(
        f"""
[daemon]
users = ["{who}", "{sc}"]

[nostr]
relays = ["{sdk_relay}"]

[filters]
exclude = ["Larry Bird"]

[users.{who}.filters]
skip_replies = true
exclude = ["(?i)GARAGE"]
"""
    )
    who_all, sc_all = set(world.timeline(who_id)), set(world.timeline(sc_id))
    who_replies = {t for t in who_all if world.tweets[t].get("referenced_tweets")}
    skipped = who_replies | {GARAGE, LARRY}
    assert GARAGE in who_all and LARRY in sc_all and who_replies
    kept = (who_all | sc_all) - skipped
    data = tmp_path / "data"

    runs: list[DaemonProc] = []
    for run in range(2):  # the second run restarts over the same data dir
        d = DaemonProc(tmp_path, data, fake_x, [], [], poll=1, config=config)
        runs.append(d)
        daemons.append(d.start())
        wait_for(lambda: kept <= tweet_ids_on(sdk_relay), 60, f"the kept tweets (run {run})", d)
        wait_for(functools.partial(has_stats, d, 3), 20, "a few polls and outbox passes", d)
        assert d.stop() == 0
        assert not tweet_ids_on(sdk_relay) & skipped
    from nostrweet.state.engine import open_state
    from nostrweet.state.skips import SkippedTweets

    state = open_state(f"sqlite:///{data / 'nostrweet.sqlite3'}")
    try:  # the daemon kept each skip with its rule in the state
        assert SkippedTweets(state).rule_of(GARAGE) == f"users.{who}.filters.exclude"
        assert SkippedTweets(state).rule_of(LARRY) == "filters.exclude"
    finally:
        state.close()
    first = runs[0].log_text()
    assert f"tweet {GARAGE} skipped by users.{who}.filters.exclude" in first
    assert f"tweet {LARRY} skipped by filters.exclude ('Larry Bird')" in first
    # every skipped tweet is cached: show-tweet says which rule skips it
    for tweet_id, rule in [
        (GARAGE, f"users.{who}.filters.exclude"),
        (LARRY, "filters.exclude"),
        (sorted(who_replies)[0], f"users.{who}.filters.skip_replies"),
    ]:
        got = show_tweet(data, config, tweet_id)
        assert got.returncode == 0, got.stderr
        assert json.loads(got.stdout)["skipped_by"] == rule
        assert f"skipped by {rule}" in got.stderr
    got = show_tweet(data, config, sorted(kept & who_all)[0])
    assert got.returncode == 0 and "skipped_by" not in json.loads(got.stdout)
