"""The earlier tool's publishing habits: --skip-profiles publishes no kind 0; fixed key files everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nostrweet.nostr.keys import load_key_file
from tests.fakes.x_api import FakeXApi
from tests.integration.publish_helpers import make_cli, query

pytestmark = pytest.mark.integration

USER = "WhoDisTweet"
USER_ID = "1154498013626327041"


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
    tweet_id = fake_x.world.timeline(USER_ID)[0]
    cli.run("post-tweet-to-nostr", tweet_id, "-r", sdk_relay, "--skip-profiles")
    events = query(cli, sdk_relay)
    assert {e.kind for e in events} & {1, 6}
    assert [e for e in events if e.kind == 0] == []


def test_a_fixed_key_file_is_the_users_key_in_every_command(
    fake_x: FakeXApi, tmp_path: Path, sdk_relay: str
) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    key_file = tmp_path / "whodis.key"
    key_file.write_text("11" * 32 + "\n")
    key_file.chmod(0o600)
    fixed = load_key_file(key_file).pubkey_hex
    config = tmp_path / "nostrweet.toml"
    config.write_text(f'[users.{USER.lower()}]\nkey_file = "{key_file}"\n')
    cli.run("user-tweets", USER, "--count", "5")

    shown = json.loads(cli.run("--config", str(config), "keys", USER, "--json").stdout)
    assert shown["pubkey"] == fixed
    by_id = json.loads(cli.run("--config", str(config), "keys", USER_ID, "--json").stdout)
    assert by_id["pubkey"] == fixed

    tweet_id = fake_x.world.timeline(USER_ID)[0]
    preview = json.loads(cli.run("--config", str(config), "show-tweet", tweet_id).stdout)
    assert fixed in {e["event"]["pubkey"] for e in preview["events"] if e["tweet_id"] == tweet_id}

    cli.run("--config", str(config), "post-user-to-nostr", USER, "-r", sdk_relay)
    cli.run("--config", str(config), "update-relay-list", "-r", sdk_relay)
    events = query(cli, sdk_relay)
    own_kinds = {e.kind for e in events if e.pubkey == fixed}
    assert 10002 in own_kinds and (own_kinds & {1, 6})
    # The user's own tweets are never signed by the derived key.
    derived = json.loads(cli.run("keys", USER, "--json").stdout)["pubkey"]
    assert derived != fixed
    assert [e for e in events if e.pubkey == derived] == []
