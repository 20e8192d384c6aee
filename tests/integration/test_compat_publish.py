"""The earlier tool's publishing habits: --skip-profiles publishes no kind 0; fixed key files everywhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.x_api import FakeXApi
from tests.integration.publish_helpers import make_cli, query

pytestmark = pytest.mark.integration

USER = "WhoDisTweet"


def test_skip_profiles_publishes_no_kind_0(
    fake_x: FakeXApi, tmp_path: Path, sdk_relay: str, pypi_relay: str
) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    cli.run("user-tweets", USER, "--count", "5")
    cli.run("post-user-to-nostr", USER, "-r", sdk_relay, "--skip-profiles")
    skipped = query(cli, sdk_relay)
    assert {e.kind for e in skipped} & {1, 6}  # the tweets went out ...
    assert [e for e in skipped if e.kind == 0] == []  # ... and no profile
    cli.run("post-user-to-nostr", USER, "-r", pypi_relay)
    assert [e for e in query(cli, pypi_relay) if e.kind == 0]  # without it, profiles go out


def test_skip_profiles_on_post_tweet_publishes_no_kind_0(
    fake_x: FakeXApi, tmp_path: Path, sdk_relay: str
) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    tweet_id = fake_x.world.timeline("1154498013626327041")[0]
    cli.run("post-tweet-to-nostr", tweet_id, "-r", sdk_relay, "--skip-profiles")
    events = query(cli, sdk_relay)
    assert {e.kind for e in events} & {1, 6}
    assert [e for e in events if e.kind == 0] == []
