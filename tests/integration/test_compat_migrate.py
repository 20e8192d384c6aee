"""Coming from the earlier Rust nostrweet (SPEC §11): its data directory is read in place, read-only
commands change no byte of it, ``migrate`` imports all of it once, and with ``--key-derivation legacy``
nothing it posted is posted again."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from websockets.sync.client import connect

from nostrweet.cache.writers import WRITERS_DIR
from nostrweet.nostr.event import SignedEvent
from nostrweet.nostr.keys import KeyDeriver
from nostrweet.settings import Secret
from tests.data.legacy_dir import (
    DOUGLAZ_ID,
    MNEMONIC,
    NOT_FOUND,
    RELAY_PLACEHOLDER,
    LegacyDir,
    build_legacy_dir,
    tree_digest,
)
from tests.fakes.x_api import FakeXApi
from tests.integration.publish_helpers import Cli, make_cli, query

pytestmark = pytest.mark.integration

STATE_FILES = ("nostrweet.sqlite3", WRITERS_DIR)  # the state, and the markers of writing processes
WHODIS_ID = "1154498013626327041"


def _legacy(tmp_path: Path) -> tuple[Cli, LegacyDir]:
    cli = make_cli(tmp_path)
    return cli, build_legacy_dir(cli.data_dir, cli.mnemonic)


def _rows(data_dir: Path, query_text: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(data_dir / "nostrweet.sqlite3") as conn:
        return sorted(conn.execute(query_text).fetchall())


def test_read_only_commands_change_no_byte_of_the_earlier_tools_directory(tmp_path: Path) -> None:
    cli, old = _legacy(tmp_path)
    before = tree_digest(cli.data_dir)

    listed = cli.run("list-tweets", "--json").stdout.splitlines()
    assert {json.loads(line)["id"] for line in listed} == set(old.tweets)
    camel = next(json.loads(line) for line in listed if json.loads(line)["id"] == "1500000000000000001")
    assert camel["username"] == "CamelCase" and camel["file"] == old.tweets["1500000000000000001"]
    douglaz = sum(1 for owner in old.owners.values() if owner == DOUGLAZ_ID)
    assert cli.run("list-tweets", "--user", "douglaz").stdout.count("@douglaz") == douglaz == 10
    retweet = json.loads(cli.run("show-tweet", "1961875988859535529").stdout)
    assert [e["event"]["kind"] for e in retweet["events"]] == [1, 6]
    reply = json.loads(cli.run("--key-derivation", "legacy", "show-tweet", "1950547609602433299").stdout)
    own = [e for e in reply["events"] if e["tweet_id"] == "1950547609602433299"]
    assert own[0]["event"]["pubkey"] == _legacy_pubkey(cli, DOUGLAZ_ID)
    assert any(t[0] == "e" for t in own[0]["event"]["tags"])  # the saved parent is threaded
    cli.run("keys", "douglaz")

    assert tree_digest(cli.data_dir) == before  # nothing renamed, changed, created or deleted


def _legacy_pubkey(cli: Cli, user_id: str) -> str:
    return KeyDeriver(Secret(cli.mnemonic), "legacy").for_user(user_id).pubkey_hex


def test_migrate_imports_everything_in_place_and_a_second_run_does_nothing(tmp_path: Path) -> None:
    cli, old = _legacy(tmp_path)
    before = tree_digest(cli.data_dir)

    out = cli.run("migrate").stdout
    assert "17 tweet(s), 1 profile(s), 1 not-found marker(s), 9 media file(s), 3 posted event(s)" in out

    assert tree_digest(cli.data_dir, ignore=STATE_FILES) == before
    tweets = _rows(cli.data_dir, "SELECT tweet_id, username, file_name FROM tweets")
    assert [(str(i), n) for i, _, n in tweets] == sorted(old.tweets.items())
    assert ("1500000000000000001", "camelcase") in {(str(i), u) for i, u, _ in tweets}
    assert _rows(cli.data_dir, "SELECT username, file_name FROM profiles") == [("douglaz", old.profiles[0])]
    assert _rows(cli.data_dir, "SELECT tweet_id FROM not_found") == [(int(NOT_FOUND),)]
    events = _rows(cli.data_dir, "SELECT event_id, subject_id, author FROM events")
    assert events == sorted((e.id, tid, e.pubkey) for tid, e in old.posted.items())
    relays = _rows(cli.data_dir, "SELECT event_id, relay, status FROM relay_states")
    assert {(r, s) for _, r, s in relays} == {(RELAY_PLACEHOLDER, "pending")}
    assert len(relays) == 2  # the two nostr/<id>.json records name a relay; the daemon's event none

    state = {t: _rows(cli.data_dir, f"SELECT * FROM {t}") for t in ("tweets", "profiles", "events")}
    again = cli.run("migrate").stdout
    assert "nothing to do" in again and "imported" not in again.replace("imported already", "")
    assert {t: _rows(cli.data_dir, f"SELECT * FROM {t}") for t in state} == state
    assert tree_digest(cli.data_dir, ignore=STATE_FILES) == before


def test_migrate_from_another_directory_only_reads_it(tmp_path: Path) -> None:
    cli = make_cli(tmp_path)
    old = build_legacy_dir(tmp_path / "old", cli.mnemonic)
    before = tree_digest(old.path)
    out = cli.run("migrate", "--from", str(old.path)).stdout
    assert "copied" in out and "17 tweet(s)" in out
    assert tree_digest(old.path) == before
    copied = tree_digest(cli.data_dir, ignore=STATE_FILES)
    assert {k: v for k, v in copied.items() if k in before} == before
    listed = cli.run("list-tweets", "--json").stdout.splitlines()
    assert len(listed) == 17


def _send(relay: str, events: list[SignedEvent]) -> None:
    with connect(relay) as ws:
        for event in events:
            ws.send(json.dumps(["EVENT", event.to_dict()]))
            answer = json.loads(ws.recv(timeout=10))
            assert answer[0] == "OK" and answer[2] is True, answer


def _r_ids(event: SignedEvent, host: str) -> set[str]:
    prefix = f"https://{host}/i/status/"
    return {t[1].removeprefix(prefix) for t in event.tags if t[0] == "r" and t[1].startswith(prefix)}


def test_post_user_with_legacy_keys_posts_nothing_the_earlier_tool_posted(
    tmp_path: Path, sdk_relay: str
) -> None:
    cli, old = _legacy(tmp_path)
    _send(sdk_relay, list(old.posted.values()))
    before = tree_digest(cli.data_dir)

    cli.run("--key-derivation", "legacy", "post-user-to-nostr", "douglaz", "-r", sdk_relay, "--skip-profiles")

    events = [e for e in query(cli, sdk_relay, kinds=(1, 6))]
    ours = [e for e in events if e.id not in {p.id for p in old.posted.values()}]
    posted_again = {t for e in ours for t in _r_ids(e, "x.com")} & set(old.posted)
    assert posted_again == set()  # none of the earlier tool's tweets is posted twice
    douglaz = {tid for tid, owner in old.owners.items() if owner == DOUGLAZ_ID}
    mirrored = {t for e in ours for t in _r_ids(e, "x.com")}
    assert douglaz - set(old.posted) <= mirrored  # ... and every other tweet of the user is
    legacy_key = _legacy_pubkey(cli, DOUGLAZ_ID)
    assert {e.pubkey for e in ours if _r_ids(e, "x.com") & douglaz} == {legacy_key}  # same npub as before
    assert {e.pubkey for e in old.posted.values()} == {legacy_key}
    # the earlier tool's media file of a tweet is the one its note's imeta hashes
    photo = next(e for e in ours if "1947427270152626319" in _r_ids(e, "x.com"))
    digest = hashlib.sha256((cli.data_dir / "douglaz_1947427262086733824.jpg").read_bytes()).hexdigest()
    assert [t for t in photo.tags if t[0] == "imeta" and f"x {digest}" in t]
    # the earlier tool's files are left as they were
    after = tree_digest(cli.data_dir)
    assert {k: v for k, v in after.items() if k in before} == before

    # a second run finds everything and sends nothing new
    cli.run("--key-derivation", "legacy", "post-user-to-nostr", "douglaz", "-r", sdk_relay, "--skip-profiles")
    assert {e.id for e in query(cli, sdk_relay, kinds=(1, 6))} == {e.id for e in events}


def test_migrate_with_a_token_fetches_what_the_earlier_tool_lacked(fake_x: FakeXApi, tmp_path: Path) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    parent = fake_x.world.timeline(WHODIS_ID)[0]
    reply = {
        "id": "1900000000000000001",
        "text": "@WhoDisTweet a reply the earlier tool could not enrich",
        "author": {"id": "44196397", "name": "Camel", "username": "CamelCase"},
        "referenced_tweets": [{"id": parent, "type": "replied_to"}],
        "attachments": None,
        "created_at": "2025-03-01T00:00:00.000Z",
        "entities": None,
        "includes": None,
        "author_id": "44196397",
    }
    name = "20250301_000000_CamelCase_1900000000000000001.json"
    (cli.data_dir / name).write_text(json.dumps(reply, indent=2))
    (cli.data_dir / "nostr").mkdir()
    before = tree_digest(cli.data_dir)

    out = cli.run("migrate").stdout
    assert "fetched 1 referenced tweet(s)" in out
    fetched = [n for n in tree_digest(cli.data_dir, ignore=STATE_FILES) if n.endswith(f"_{parent}.json")]
    assert len(fetched) == 1 and fetched[0].islower()  # cached in our own layout, beside the old file
    after = tree_digest(cli.data_dir)
    assert {k: v for k, v in after.items() if k in before} == before
    preview = json.loads(cli.run("show-tweet", "1900000000000000001").stdout)
    own = next(e for e in preview["events"] if e["tweet_id"] == "1900000000000000001")
    assert any(t[0] == "e" for t in own["event"]["tags"])  # now threaded to its parent
    assert "nothing to do" in cli.run("migrate").stdout


def _earlier(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "nostrweet", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc


def test_the_earlier_tools_command_lines_on_its_own_directory(tmp_path: Path, sdk_relay: str) -> None:
    """As its own test suites ran it (reference §11.1, §11.2): the data dir from NOSTRWEET_OUTPUT_DIR, the
    relays from NOSTRWEET_RELAYS, the mnemonic from NOSTRWEET_MNEMONIC, options after the command."""
    old = build_legacy_dir(tmp_path / "output")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOSTRWEET_", "TWITTER_"))}
    env.update(NOSTRWEET_OUTPUT_DIR=str(old.path), NOSTRWEET_RELAYS=sdk_relay, NOSTRWEET_MNEMONIC=MNEMONIC)

    assert "1500000000000000001" in _earlier("list-tweets", cwd=tmp_path, env=env).stdout
    # nostrweet/tests: show-tweet <id> --data-dir DIR --mnemonic "abandon … about": stdout is pure JSON
    shown = _earlier(
        "show-tweet", "1947427270152626319", "--data-dir", str(old.path), "--mnemonic", MNEMONIC, "--pretty",
        cwd=tmp_path, env={k: v for k, v in env.items() if k != "NOSTRWEET_OUTPUT_DIR"},
    )  # fmt: skip
    assert json.loads(shown.stdout)["tweet"]["id"] == "1947427270152626319"
    # nostr_post / batch_post / profile_sync
    _earlier("post-tweet-to-nostr", "--force", "1947427270152626319", cwd=tmp_path, env=env)
    _earlier("post-user-to-nostr", "--force", "douglaz", cwd=tmp_path, env=env)
    _earlier("post-user-to-nostr", "douglaz", "--skip-profiles", cwd=tmp_path, env=env)
    _earlier("post-profile-to-nostr", "douglaz", "--relay", sdk_relay, cwd=tmp_path, env=env)
    out = _earlier(
        "utils", "query-events", "-r", sdk_relay, "--kind", "0", "--format", "json", cwd=tmp_path, env=env
    )
    profiles = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    assert any(json.loads(e["content"])["name"] == "douglaz" for e in profiles)  # from its profile file
    notes = _earlier("utils", "query-events", "-r", sdk_relay, "--kind", "1", "--limit", "100", "--format", "json",
                     cwd=tmp_path, env=env)  # fmt: skip
    assert len(notes.stdout.splitlines()) >= 10


def test_migrate_bad_input_is_one_line(tmp_path: Path) -> None:
    cli = make_cli(tmp_path)
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    for args in (("migrate", "--from", str(a_file)), ("-d", str(tmp_path / "none"), "migrate")):
        proc = cli.run(*args, check=False)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert "Traceback" not in proc.stderr and cli.mnemonic not in proc.stderr
    assert not (tmp_path / "none").exists()
