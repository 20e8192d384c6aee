"""What the commands print (issue 14, "Output" and "Wrong exit codes and raw control characters"):
bad values exit 2 with one line, peer text never reaches the terminal raw, summaries obey -q, empty
results say so, a closed pipe ends quietly, one line per publish failure, and the relay list only for
the archived users."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nostrweet.nostr.keys import KeyDeriver
from nostrweet.nostr.relays import RelayPool
from nostrweet.publish.publisher import Publisher
from nostrweet.settings import Secret
from nostrweet.store import CacheStore
from nostrweet.textsafe import is_unsafe
from tests.fakes.x_api import FakeXApi
from tests.fakes.x_world import World
from tests.integration.publish_helpers import Cli, make_cli, query

pytestmark = pytest.mark.integration

TOKEN = "cliout-test-token-123"

BAD_VALUES: list[tuple[str, list[str]]] = [
    ("timeout inf", ["utils", "query-events", "-r", "ws://127.0.0.1:9", "--timeout", "inf"]),
    ("timeout nan", ["utils", "query-events", "-r", "ws://127.0.0.1:9", "--timeout", "nan"]),
    (
        "limit overflow",
        ["utils", "query-events", "-r", "ws://127.0.0.1:9", "--limit", "99999999999999999999"],
    ),
    ("relay url urllib cannot parse", ["post-user-to-nostr", "foo", "-r", "wss://[::1"]),
    (
        "blossom url urllib cannot parse",
        ["post-user-to-nostr", "foo", "-r", "ws://r.example", "-b", "https://[::1"],
    ),
    ("tweet id above 2^63", ["fetch-tweet", "9300000000000000000"]),
    ("tweet url with an id above 2^63", ["show-tweet", "https://x.com/a/status/9300000000000000000"]),
    ("days overflow", ["user-tweets", "X", "--days", "99999999999"]),
    (
        "since overflow",
        ["utils", "query-events", "-r", "ws://127.0.0.1:9", "--since", "99999999999999999999"],
    ),
    (
        "until overflow",
        ["utils", "query-events", "-r", "ws://127.0.0.1:9", "--until", "99999999999999999999"],
    ),
]


@pytest.mark.parametrize(("label", "args"), BAD_VALUES, ids=[c[0] for c in BAD_VALUES])
def test_bad_values_exit_2_with_one_line(tmp_path: Path, label: str, args: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOSTRWEET_", "TWITTER_"))}
    env["NOSTRWEET_MNEMONIC"] = "abandon " * 11 + "about"
    cmd = [sys.executable, "-m", "nostrweet", "-d", str(tmp_path / "data"), "--bearer-token", TOKEN]
    cmd += [
        "--twitter-api-url",
        "http://127.0.0.1:9",
    ]  # unroutable: a bad value is refused before any request
    result = subprocess.run(cmd + args, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert result.returncode == 2, (label, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2 and (len(lines) == 1 or lines[1].startswith("Try ")), result.stderr
    assert "unexpected" not in result.stderr and "Traceback" not in result.stderr
    assert TOKEN not in result.stderr + result.stdout


# -- peer text on the terminal -------------------------------------------------------------------------

HOSTILE_ID = "1799999999999999999"
HOSTILE_TEXT = "Tom &amp; Jerry \x1b[31mred\x1b[0m \u202eevil\u202c nul\x00 c1\x9b end\nsecond line"


def _hostile_tweet(world: World) -> None:
    author = next(u for u in world.users.values() if u.get("username") == "WhoDisTweet")
    world.add_tweet(
        {
            "id": HOSTILE_ID,
            "text": HOSTILE_TEXT,
            "author_id": author["id"],
            "created_at": "2024-01-02T03:04:05.000Z",
            "edit_history_tweet_ids": [HOSTILE_ID],
            "conversation_id": HOSTILE_ID,
            "lang": "en",
        }
    )


def _raw_unsafe(text: str) -> list[str]:
    return [c for c in text if is_unsafe(c) and c != "\n"]


def test_tweet_text_is_decoded_and_escaped_json_stays_exact(
    fake_x: FakeXApi, x_world: World, tmp_path: Path
) -> None:
    _hostile_tweet(x_world)
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    cli.run("fetch-tweet", HOSTILE_ID)

    plain = cli.run("list-tweets").stdout
    lines = plain.splitlines()
    assert lines[0].split() == ["ID", "CREATED", "(UTC)", "USER", "TEXT"]
    [row] = [line for line in lines if line.startswith(HOSTILE_ID)]
    assert not _raw_unsafe(plain), _raw_unsafe(plain)
    assert "Tom & Jerry \\x1b[31mred\\x1b[0m \\u202eevil\\u202c nul\\x00 c1\\x9b end" in row
    assert "second line" not in plain  # one line per tweet

    as_json = cli.run("list-tweets", "--json").stdout
    assert not _raw_unsafe(as_json)
    [record] = [json.loads(line) for line in as_json.splitlines() if HOSTILE_ID in line]
    assert record["text"] == "Tom & Jerry \x1b[31mred\x1b[0m \u202eevil\u202c nul\x00 c1\x9b end"

    shown = cli.run("show-tweet", HOSTILE_ID).stdout
    assert not _raw_unsafe(shown)
    assert json.loads(shown)["tweet"]["data"]["text"] == HOSTILE_TEXT


def test_query_events_pretty_escapes_content_and_json_is_exact(
    sdk_relay: str, fake_x: FakeXApi, x_world: World, tmp_path: Path
) -> None:
    _hostile_tweet(x_world)
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    cli.run("post-tweet", HOSTILE_ID, "-r", sdk_relay, "--skip-profiles")
    pretty = cli.run("utils", "query-events", "-r", sdk_relay, "--kind", "1").stdout
    assert not _raw_unsafe(pretty), _raw_unsafe(pretty)
    assert "\\u202eevil" in pretty and "\n  second line" in pretty  # content keeps its line breaks
    [event] = query(cli, sdk_relay, kinds=(1,))
    assert "\u202eevil" in event.content and "\x1b[31m" in event.content


# -- empty results, -q, closed pipes ------------------------------------------------------------------


def test_empty_results_say_so(sdk_relay: str, tmp_path: Path) -> None:
    cli = make_cli(tmp_path)
    listed = cli.run("list-tweets")
    assert (listed.stdout, listed.stderr) == ("", "0 tweets\n")
    assert cli.run("list-tweets", "--json").stdout == ""
    pretty = cli.run("utils", "query-events", "-r", sdk_relay, "--kind", "1")
    assert (pretty.stdout, pretty.stderr.splitlines()[-1]) == ("", "0 events")
    as_json = cli.run("utils", "query-events", "-r", sdk_relay, "--kind", "1", "--format", "json")
    assert as_json.stdout == "" and "0 events" not in as_json.stderr
    assert cli.run("-q", "list-tweets").stderr == ""


def test_quiet_prints_no_summaries(sdk_relay: str, fake_x: FakeXApi, tmp_path: Path) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    for args in (
        ("user-tweets", "WhoDisTweet", "--count", "5"),
        ("fetch-tweet", "1574184144313122816"),
        ("fetch-profile", "MarchePinna"),
        ("post-user-to-nostr", "WhoDisTweet", "-r", sdk_relay),
        ("post-profile-to-nostr", "MarchePinna", "-r", sdk_relay),
        ("update-relay-list", "-r", sdk_relay),
        ("clear-cache", "--force"),
    ):
        loud = cli.run(*args)
        assert loud.stdout.strip(), args  # the summary is there without -q
        quiet = cli.run("-q", *args)
        assert (quiet.stdout, quiet.stderr) == ("", ""), args


def test_list_tweets_into_a_closed_pipe_exits_0_quietly(fake_x: FakeXApi, tmp_path: Path) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    cli.run("user-tweets", "MariamBarghouti", "--count", "101")
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head` that has already gone: every write gets EPIPE
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOSTRWEET_", "TWITTER_"))}
    for args in (["list-tweets"], ["list-tweets", "--json"]):
        proc = subprocess.run(
            [sys.executable, "-m", "nostrweet", "-d", str(cli.data_dir), *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=60,
        )
        assert (proc.returncode, proc.stderr) == (0, ""), args
    os.close(write_end)


# -- publishing ---------------------------------------------------------------------------------------


def test_publish_failure_is_one_line_and_each_event_at_v(
    pypi_relay_recent_only: str, fake_x: FakeXApi, tmp_path: Path
) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    cli.run("user-tweets", "MarchePinna", "--count", "5")
    proc = cli.run(
        "post-user-to-nostr", "MarchePinna", "-r", pypi_relay_recent_only, "--skip-profiles", check=False
    )
    assert proc.returncode == 1
    # One error line with the count and the first reason; no line per event before it (the relay
    # transport may log its own notes about the connection, which are not about the events).
    lines = proc.stderr.splitlines()
    assert not [x for x in lines if "nostrweet.publish" in x or "WARNING" in x], proc.stderr
    errors = [x for x in lines if x.startswith("error: ")]
    assert errors == [lines[-1]], proc.stderr
    assert "event(s) reached no relay (first: tweet " in errors[0]
    proc = cli.run(
        "-v",
        "post-user-to-nostr",
        "MarchePinna",
        "-r",
        pypi_relay_recent_only,
        "--force",
        "--skip-profiles",
        check=False,
    )
    assert proc.returncode == 1
    per_event = [x for x in proc.stderr.splitlines() if "nostrweet.publish.publisher: tweet " in x]
    assert len(per_event) >= 5, proc.stderr


def test_already_on_relay_is_one_info_line_per_check(
    sdk_relay: str, fake_x: FakeXApi, tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    first = make_cli(tmp_path / "a", fake_x.url, fake_x.bearer_token)
    first.run("user-tweets", "WhoDisTweet", "--count", "20")
    first.run("post-user-to-nostr", "WhoDisTweet", "-r", sdk_relay, "--skip-profiles")
    # The same mirror keys over a fresh cache: every tweet is found on the relay by the duplicate check.
    (tmp_path / "b").mkdir()
    second = Cli(
        tmp_path / "b" / "data", first.mnemonic, first.mnemonic_file, fake_x.url, fake_x.bearer_token
    )
    second.data_dir.mkdir()
    second.run("user-tweets", "WhoDisTweet", "--count", "20")
    proc = second.run("post-user-to-nostr", "WhoDisTweet", "-r", sdk_relay, "--skip-profiles")
    assert "already" in proc.stdout
    lines = [x for x in proc.stderr.splitlines() if "already on" in x]
    assert len(lines) == 1 and "tweet(s) already on relays" in lines[0], proc.stderr


def test_progress_has_its_total_first_and_moves_per_tweet(
    sdk_relay: str, fake_x: FakeXApi, tmp_path: Path
) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    cli.run("user-tweets", "MariamBarghouti", "--count", "101")
    calls: list[tuple[int, int]] = []

    async def run() -> None:
        store = CacheStore(cli.data_dir)
        async with RelayPool([sdk_relay]) as pool:
            publisher = Publisher(
                store, KeyDeriver(Secret(cli.mnemonic)), pool, relays=[sdk_relay], publish_profiles=False
            )
            try:
                await publisher.publish_user("MariamBarghouti", progress=lambda d, t: calls.append((d, t)))
            finally:
                await publisher.aclose()

    asyncio.run(run())
    total = len(CacheStore(cli.data_dir).tweet_ids_of("mariambarghouti"))
    assert total >= 100
    assert calls[0] == (0, total) and calls[-1] == (total, total)
    assert {t for _, t in calls} == {total}
    done = [d for d, _ in calls]
    assert done == sorted(done) and len(done) >= total // 20  # it moves while the tweets go out


# -- update-relay-list --------------------------------------------------------------------------------


def test_update_relay_list_defaults_to_archived_users(
    sdk_relay: str, fake_x: FakeXApi, tmp_path: Path
) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    cli.run("user-tweets", "antifascista__1", "--count", "10")  # retweets and quotes: others' profiles cached
    store = CacheStore(cli.data_dir, read_only=True)
    assert len(store.usernames()) > 1  # referenced accounts are in the cache, with profiles only
    out = cli.run("update-relay-list", "-r", sdk_relay).stdout
    assert [line.split()[0] for line in out.splitlines()] == ["@antifascista__1"]
    assert len(query(cli, sdk_relay, kinds=(10002,))) == 1
    other = next(n for n in store.usernames() if n not in store.archived_users())
    out = cli.run("update-relay-list", "-r", sdk_relay, "--user", other, "--user", "antifascista__1").stdout
    assert sorted(line.split()[0] for line in out.splitlines()) == sorted([f"@{other}", "@antifascista__1"])
