"""Webhooks end to end through the real CLI (SPEC §12), with a receiver that checks every signature:

- a short command (``post-tweet-to-nostr`` fetching the tweet) delivers ``tweet.archived`` and
  ``tweet.published`` before it exits;
- a daemon whose receiver is down queues every delivery; SIGKILLed, then restarted with the receiver
  up, it delivers all of them, each once, ``tweet.archived`` before ``tweet.published`` for each tweet;
- the admin API's delivery log lists them, the URL's token never shown.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from tests.fakes.nostr_relay_proc import free_port
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.fakes.x_api import FakeXApi
from tests.integration.publish_helpers import make_cli
from tests.integration.test_daemon import (
    SMALL_USERS,
    DaemonProc,
    daemons,  # noqa: F401 (a fixture)
    event_ids,
    tweet_ids_on,
    wait_for,
)

pytestmark = pytest.mark.integration

GARAGE = "1250403528197263360"  # WhoDisTweet: "I'll be in the garage if you need me"


def webhook_config(tmp_path: Path, receiver: WebhookReceiver, extra: str = "") -> Path:
    secret = tmp_path / "webhook.secret"
    secret.write_text("  whsec-test\n")  # whitespace around the secret is ignored
    config = tmp_path / "nostrweet.toml"
    config.write_text(f'[[webhooks]]\nurl = "{receiver.url}"\nsecret_file = "{secret}"\n{extra}')
    return config


def test_a_short_command_delivers_before_it_exits(
    tmp_path: Path, fake_x: FakeXApi, sdk_relay: str, webhook_receiver: WebhookReceiver
) -> None:
    config = webhook_config(tmp_path, webhook_receiver)
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    cli.run("-c", str(config), "post-tweet-to-nostr", GARAGE, "-r", sdk_relay)
    assert webhook_receiver.bad_signatures == 0 and webhook_receiver.repeats == 0
    got = [(d["event"], d["tweet_id"]) for d in webhook_receiver.accepted]
    assert ("tweet.archived", GARAGE) in got and ("tweet.published", GARAGE) in got
    assert got.index(("tweet.archived", GARAGE)) < got.index(("tweet.published", GARAGE))
    published = next(d for d in webhook_receiver.accepted if d["event"] == "tweet.published")
    assert published["relays"] == {sdk_relay: "accepted"} and len(published["nostr_event_ids"]) == 1
    assert published["nostr_event_ids"][0] in event_ids(sdk_relay)
    assert "hunter2" not in cli.run("-c", str(config), "list-tweets").stderr


def test_a_daemon_killed_while_the_receiver_is_down_delivers_everything_after_a_restart(
    tmp_path: Path,
    fake_x: FakeXApi,
    sdk_relay: str,
    webhook_receiver: WebhookReceiver,
    daemons: list[DaemonProc],  # noqa: F811
) -> None:
    user_id, username = SMALL_USERS[0]
    token = tmp_path / "admin.token"
    token.write_text("admin-s3cret\n")
    token.chmod(0o600)
    config = webhook_config(tmp_path, webhook_receiver, "\n[daemon]\ndeletion_interval = 3600\n")
    timeline = set(fake_x.world.timeline(user_id))
    data = tmp_path / "data"
    webhook_receiver.status = 503  # down
    first = DaemonProc(tmp_path, data, fake_x, [sdk_relay], [username], config=config)
    daemons.append(first.start())
    wait_for(lambda: timeline <= tweet_ids_on(sdk_relay), 60, "the timeline on the relay", first)
    wait_for(lambda: webhook_receiver.posts > 0, 30, "a delivery tried", first)
    first.kill()  # SIGKILL: whatever was queued must survive
    assert webhook_receiver.accepted == []
    webhook_receiver.status = 200
    port = free_port()
    extra = ["--http", f"127.0.0.1:{port}", "--admin-token-file", str(token)]
    second = DaemonProc(tmp_path, data, fake_x, [sdk_relay], [username], config=config, extra=extra)
    daemons.append(second.start())

    def delivered(event: str) -> set[str]:
        return {str(d["tweet_id"]) for d in webhook_receiver.accepted if d["event"] == event}

    wait_for(lambda: timeline <= delivered("tweet.published"), 60, "every tweet.published", second)
    assert timeline <= delivered("tweet.archived")
    assert webhook_receiver.bad_signatures == 0 and webhook_receiver.repeats == 0
    order = [
        (d["event"], d["tweet_id"]) for d in webhook_receiver.accepted if d["username"] == username.lower()
    ]
    for tweet_id in timeline:
        assert order.index(("tweet.archived", tweet_id)) < order.index(("tweet.published", tweet_id))
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/webhooks?limit=1000",
        headers={"Authorization": "Bearer admin-s3cret"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        body = answer.read().decode()
    log = json.loads(body)["deliveries"]
    assert {d["event"] for d in log} >= {"tweet.archived", "tweet.published"}
    assert all(d["webhook"] == webhook_receiver.url.split("/hooks")[0] for d in log)
    assert "hunter2" not in body and "whsec-test" not in body
    assert second.stop() == 0
    assert "hunter2" not in second.log_text() and "whsec-test" not in second.log_text()
