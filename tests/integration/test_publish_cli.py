"""End to end: archive timelines from the fake X API with the CLI, publish them to real relays, read back."""

from __future__ import annotations

from pathlib import Path

import pytest

from nostrweet.nostr.event import SignedEvent, verify_event
from tests.fakes.nostr_relay_proc import RelayProcess
from tests.fakes.x_api import FakeXApi
from tests.integration.publish_helpers import Cli, make_cli, query, records

pytestmark = pytest.mark.integration

# Three small timelines that between them hold replies (self-threads), quotes, retweets and media.
USERS = ["WhoDisTweet", "MarchePinna", "antifascista__1"]


def archive(cli: Cli, users: list[str] = USERS) -> None:
    for user in users:
        cli.run("user-tweets", user, "--count", "20")


def tweet_records(data_dir: Path) -> dict[str, dict]:
    return {n: r for n, r in records(data_dir).items() if "_tweet_" in n}


def check_links(events: list[SignedEvent]) -> None:
    """Replies, quotes and retweets point by tags at events that are on the relay."""
    by_id = {e.id: e for e in events}
    reposts = [e for e in events if e.kind == 6]
    replies = [
        e for e in events if e.kind == 1 and any(len(t) > 3 and t[3] == "reply" for t in e.tag_values("e"))
    ]
    quotes = [e for e in events if e.kind == 1 and e.tag_values("q")]
    assert reposts and replies and quotes, (len(reposts), len(replies), len(quotes))
    for repost in reposts:
        [e_tag] = repost.tag_values("e")
        original = by_id[e_tag[1]]
        assert SignedEvent.from_json(repost.content).id == original.id
        assert ("p", original.pubkey) in repost.tags
        assert any(t[0] == "r" for t in repost.tags)
    for reply in replies:
        for tag in reply.tag_values("e"):
            assert tag[1] in by_id, "reply points at an event that is not on the relay"
            assert tag[4] == by_id[tag[1]].pubkey
    for quote in quotes:
        q = quote.tag_values("q")[0]
        assert q[1] in by_id and q[3] == by_id[q[1]].pubkey
        assert "nostr:nevent1" in quote.content


@pytest.mark.parametrize("relay_fixture", ["sdk_relay", "pypi_relay"])
def test_publish_history_read_back_and_second_run(
    relay_fixture: str, request: pytest.FixtureRequest, fake_x: FakeXApi, tmp_path: Path
) -> None:
    relay: str = request.getfixturevalue(relay_fixture)
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    archive(cli)
    for user in USERS:
        out = cli.run("post-user-to-nostr", user, "-r", relay).stdout
        assert "0 reached no relay" in out
    recs = records(cli.data_dir)
    assert recs and all(r["relays"][relay]["status"] == "accepted" for r in recs.values())

    events = query(cli, relay)
    assert {e.id for e in events} == {r["event"]["id"] for r in recs.values()}
    for event in events:
        assert verify_event(event), event.id
    kinds = {e.kind for e in events}
    assert {0, 1, 6} <= kinds
    check_links(events)
    # every requested tweet is on the relay under its r tag
    for name, rec in tweet_records(cli.data_dir).items():
        tweet_id = name.rsplit("_", 1)[1].removesuffix(".json")
        assert ("r", f"https://x.com/i/status/{tweet_id}") in SignedEvent.from_dict(rec["event"]).tags

    # A second run publishes nothing: same records, same relay content, nothing sent.
    for user in USERS:
        out = cli.run("post-user-to-nostr", user, "-r", relay).stdout
        assert " 0 published" in out and "0 reached no relay" in out
    assert records(cli.data_dir) == recs
    assert sorted(e.id for e in query(cli, relay)) == sorted(e.id for e in events)


def test_relay_down_for_part_of_the_run_gets_everything_later(
    sdk_relay: str, pypi_relay_process: RelayProcess, fake_x: FakeXApi, tmp_path: Path
) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    archive(cli, USERS[:2])
    down = pypi_relay_process.url
    pypi_relay_process.stop()
    for user in USERS[:2]:
        proc = cli.run("post-user-to-nostr", user, "-r", sdk_relay, "-r", down)
        assert "still pending" in proc.stdout
    recs = records(cli.data_dir)
    assert all(r["relays"][down]["status"] == "pending" for r in recs.values())
    assert all(r["relays"][sdk_relay]["status"] == "accepted" for r in recs.values())

    pypi_relay_process.start()
    for user in USERS[:2]:
        cli.run("post-user-to-nostr", user, "-r", sdk_relay, "-r", down)
    after = records(cli.data_dir)
    assert set(after) == set(recs)  # same events, nothing rebuilt
    assert all(r["relays"][down]["status"] == "accepted" for r in after.values())
    assert {e.id for e in query(cli, down)} == {r["event"]["id"] for r in after.values()}


def test_recent_only_rejection_is_recorded_and_not_retried(
    sdk_relay: str, pypi_relay_recent_only: str, fake_x: FakeXApi, tmp_path: Path
) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    archive(cli, ["MarchePinna"])
    old = pypi_relay_recent_only
    cli.run("post-user-to-nostr", "MarchePinna", "-r", sdk_relay, "-r", old)
    recs = tweet_records(cli.data_dir)
    assert recs
    for rec in recs.values():
        state = rec["relays"][old]
        assert state["status"] == "rejected" and state["message"] and state["attempts"] == 1
        assert state["next_attempt"] is None
    # Profiles (created now) are fine on the recent-only relay.
    profiles = [r for n, r in records(cli.data_dir).items() if "_profile_" in n]
    assert profiles and all(r["relays"][old]["status"] == "accepted" for r in profiles)

    # Run again: the rejection is final, nothing is sent to that relay again.
    cli.run("post-user-to-nostr", "MarchePinna", "-r", sdk_relay, "-r", old)
    again = tweet_records(cli.data_dir)
    assert again == recs

    # With only the rejecting relay, the events reached no relay: exit 1, one line on stderr.
    proc = cli.run("post-user-to-nostr", "MarchePinna", "-r", old, check=False)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "reached no relay" in proc.stderr
    assert tweet_records(cli.data_dir) == recs


def test_post_tweet_fetches_when_not_cached_and_show_tweet(
    sdk_relay: str, fake_x: FakeXApi, tmp_path: Path
) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    retweet = "1574184144313122816"  # a retweet by antifascista__1
    out = cli.run(
        "post-tweet", f"https://x.com/antifascista__1/status/{retweet}?s=20", "-r", sdk_relay
    ).stdout
    assert "published" in out and "kind 6" in out
    names = records(cli.data_dir)
    assert any(n.endswith(f"_tweet_{retweet}.json") for n in names)
    shown = cli.run("show-tweet", retweet, "--compact").stdout
    assert shown.count("\n") == 1
    import json

    doc = json.loads(shown)
    assert doc["tweet"]["data"]["id"] == retweet
    kinds = [e["event"]["kind"] for e in doc["events"]]
    assert kinds == [1, 6]
    assert all(e["recorded"] for e in doc["events"])
    assert "sig" not in doc["events"][0]["event"]


def test_post_tweet_without_token_when_not_cached_is_bad_input(sdk_relay: str, tmp_path: Path) -> None:
    cli = make_cli(tmp_path)
    proc = cli.run("post-tweet", "20", "-r", sdk_relay, check=False)
    assert proc.returncode == 2 and "bearer token" in proc.stderr


def test_update_relay_list_and_profile(sdk_relay: str, fake_x: FakeXApi, tmp_path: Path) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    cli.run("fetch-profile", "MarchePinna")
    out = cli.run("post-profile-to-nostr", "@marchepinna", "-r", sdk_relay).stdout
    assert "published" in out
    out = cli.run("post-profile-to-nostr", "MarchePinna", "-r", sdk_relay).stdout
    assert "already" in out  # unchanged content is not published again
    out = cli.run("update-relay-list", "-r", sdk_relay, "--user", "MarchePinna").stdout
    assert "published" in out
    events = query(cli, sdk_relay)
    assert sorted(e.kind for e in events) == [0, 10002]
    relay_list = next(e for e in events if e.kind == 10002)
    assert relay_list.tags == (("r", sdk_relay),)
    assert '"bot":true' in next(e for e in events if e.kind == 0).content.replace(" ", "")


def test_auth_relay_gets_every_identitys_events_next_to_the_pypi_relay(
    sdk_relay_auth: str, pypi_relay: str, fake_x: FakeXApi, tmp_path: Path
) -> None:
    """A relay that wants NIP-42 AUTH for writing: each mirror identity (authors of replies, quotes and
    retweeted originals, the profiles) authenticates on the one connection and its events are accepted;
    the other relay is not held up."""
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    archive(cli, USERS[:2])
    for user in USERS[:2]:
        out = cli.run("post-user-to-nostr", user, "-r", sdk_relay_auth, "-r", pypi_relay).stdout
        assert "0 reached no relay" in out and "still pending" not in out, out
    recs = records(cli.data_dir)
    assert len({r["event"]["pubkey"] for r in recs.values()}) > 1  # several identities
    for relay in (sdk_relay_auth, pypi_relay):
        assert {r["relays"][relay]["status"] for r in recs.values()} == {"accepted"}, relay
    assert {e.id for e in query(cli, sdk_relay_auth)} == {r["event"]["id"] for r in recs.values()}
