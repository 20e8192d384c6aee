"""Filters in the post-… commands (SPEC §12): a kept reply to a skipped parent links the parent on X
instead of referencing an event; a skipped tweet gives exit 0 and one line; the publisher's skip log
writes the state's ``skipped_tweets``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from nostrweet.config import parse_config
from nostrweet.nostr.event import SignedEvent
from nostrweet.nostr.keys import KeyDeriver
from nostrweet.nostr.relays import RelayPool
from nostrweet.publish.publisher import Publisher
from nostrweet.settings import Secret
from nostrweet.state.engine import open_state
from nostrweet.state.skips import SkippedTweets
from nostrweet.store import CacheStore
from tests.fakes.x_api import FakeXApi
from tests.integration.publish_helpers import make_cli, query

pytestmark = pytest.mark.integration

REPLY = "1253796041020919809"  # @WhoDisTweet replies to ...
PARENT = "1253792843128283136"  # ... @PhillyNEFL: "@WhoDisTweet Yep. You need new Male &amp; female fittings"


def tweet_ids(events: list[SignedEvent]) -> set[str]:
    out = set()
    for event in events:
        for tag in event.tags:
            if tag[0] == "r" and "/status/" in tag[1]:
                out.add(tag[1].rsplit("/", 1)[1])
    return out


def test_a_kept_reply_to_a_skipped_parent_links_it(sdk_relay: str, fake_x: FakeXApi, tmp_path: Path) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    config = tmp_path / "f.toml"
    config.write_text("[filters]\nexclude = ['Male & female']\n")  # the parent's text, entities decoded
    cli.run("fetch-tweet", REPLY)
    out = cli.run("-c", str(config), "post-tweet", REPLY, "-r", sdk_relay)
    notes = query(cli, sdk_relay, kinds=(1,))
    assert tweet_ids(notes) == {REPLY}  # the parent never reached the relay
    [reply] = notes
    assert reply.content.startswith(f"In reply to https://x.com/PhillyNEFL/status/{PARENT}")
    assert not [t for t in reply.tags if t[0] == "e"]
    assert "published" in out.stdout + out.stderr

    skipped = cli.run("-c", str(config), "post-tweet", PARENT, "-r", sdk_relay)
    assert skipped.returncode == 0
    assert f"tweet {PARENT}: skipped by filters.exclude" in skipped.stdout + skipped.stderr
    assert tweet_ids(query(cli, sdk_relay, kinds=(1,))) == {REPLY}
    summary = cli.run("-c", str(config), "post-user-to-nostr", "PhillyNEFL", "-r", sdk_relay, check=False)
    assert "1 skipped by filters" in summary.stdout + summary.stderr, summary
    show = cli.run("-c", str(config), "show-tweet", PARENT)
    assert json.loads(show.stdout)["skipped_by"] == "filters.exclude"
    # show-tweet of the reply shows what was published: no event for the parent
    [shown] = json.loads(cli.run("-c", str(config), "show-tweet", REPLY).stdout)["events"]
    assert shown["tweet_id"] == REPLY and shown["event"]["id"] == reply.id


def test_the_skip_log_records_the_rule_in_the_state(fake_x: FakeXApi, tmp_path: Path) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    cli.run("fetch-tweet", REPLY)
    store = CacheStore(cli.data_dir)
    book = parse_config("[users.whodistweet.filters]\nskip_replies = true\n", Path("c.toml")).filter_book()
    state = open_state(f"sqlite:///{tmp_path / 'state.sqlite3'}")
    try:
        skips = SkippedTweets(state, clock=lambda: 1_700_000_000)

        async def run() -> str:
            pool = RelayPool([])  # nothing is sent: a skipped tweet never reaches the pool
            publisher = Publisher(
                store, KeyDeriver(Secret(cli.mnemonic)), pool, relays=[], filters=book, skip_log=skips
            )
            try:
                [outcome] = await publisher.publish_tweets([REPLY])
                return f"{outcome.status} {outcome.message}"
            finally:
                await publisher.aclose()

        assert asyncio.run(run()) == "skipped users.whodistweet.filters.skip_replies"
        assert skips.all() == {REPLY: "users.whodistweet.filters.skip_replies"}
    finally:
        state.close()
