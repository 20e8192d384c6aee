"""A cache written by the file layout of earlier versions (event records in ``nostr_events/``,
``daemon_state/``, the Blossom memo ``blossom/``) is imported into the state by the first command that
starts on it, on both backends: every record and relay status, the user state, the memo and the archive
index; a second start does nothing, and the import changes no file.

The cache is built as those versions built it: the archive by ``user-tweets`` (its layout did not
change), the records by their own writer (``tests/data/file_layout.py``, unchanged), the daemon state and
the memo in the shapes those versions wrote.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from nostrweet.cache.atomic import atomic_write_json
from nostrweet.cache.layout import EventSubject, parse_event_filename
from nostrweet.cache.scan import build_index
from nostrweet.cache.writers import WRITERS_DIR
from nostrweet.nostr.event import UnsignedEvent, sign_event
from nostrweet.nostr.keys import KeyDeriver
from nostrweet.nostr.record import EventRecord, RelayState
from nostrweet.settings import Secret
from nostrweet.state.blossom import BlossomMemo
from nostrweet.state.engine import open_state
from nostrweet.state.index import ArchiveIndex
from nostrweet.state.records import RecordRepo
from nostrweet.state.users import UserRepo
from tests.data.file_layout import RecordStore
from tests.fakes.x_api import FakeXApi
from tests.integration.publish_helpers import make_cli

pytestmark = pytest.mark.integration

SYNTH = "nostrweet_synth"
SMALL = "WhoDisTweet"
LIVE = "wss://relay.example"
DEAD = "ws://127.0.0.1:9"
STATE_FILES = ("nostrweet.sqlite3", "nostrweet.sqlite3-wal", "nostrweet.sqlite3-shm")


def listing(directory: Path) -> dict[str, int]:
    return {
        str(p.relative_to(directory)): p.stat().st_mtime_ns
        for p in directory.rglob("*")
        if p.name not in STATE_FILES and WRITERS_DIR not in p.relative_to(directory).parts
    }


def write_file_layout_cache(data: Path, mnemonic: str) -> dict[str, dict[str, object]]:
    """Records (one per cached tweet, plus a profile record), daemon state and a Blossom memo, written as
    the file layout wrote them; returns the records by file name."""
    index = build_index(data)
    deriver = KeyDeriver(Secret(mnemonic))
    recs = []
    for n, tweet_id in enumerate(index.iter_tweet_ids()):
        doc = json.loads((data / str(index.tweet_name(tweet_id))).read_text())
        key = deriver.for_user(doc["data"]["author_id"])
        url = f"https://x.com/i/status/{tweet_id}"
        event = sign_event(UnsignedEvent(key.pubkey_hex, 1_700_000_000 + n, 1, (("r", url),), url), key)
        relays = {LIVE: RelayState("accepted", attempts=1, updated_at=1_700_000_000 + n)}
        if n % 3 == 0:  # one relay was down for a third of them: still pending there
            relays[DEAD] = RelayState("pending", "down", 2, 1_700_000_600, 1_700_000_000 + n)
        recs.append(EventRecord(event.to_dict(), EventSubject.TWEET, str(tweet_id), relays, str(tweet_id)))
    key = deriver.for_user("1")
    profile = sign_event(UnsignedEvent(key.pubkey_hex, 1_700_000_000, 0, (), "{}"), key)
    recs.append(
        EventRecord(
            profile.to_dict(), EventSubject.PROFILE, "1", {LIVE: RelayState("rejected", "blocked: no")}
        )
    )
    RecordStore(data, index).save_many(recs)
    daemon_state = data / "daemon_state"
    daemon_state.mkdir(mode=0o700)
    for name, since in (("whodistweet", "1"), ("nostrweet_synth", None)):
        doc = {"format": 1, "user_id": "42", "since_id": since, "backfill": 20, "backfill_floor": None}
        atomic_write_json(daemon_state / f"{name}.json", {**doc, "backfill_done": since is not None})
    memo = data / "blossom"
    memo.mkdir(mode=0o700)
    sha = hashlib.sha256(b"blob").hexdigest()
    atomic_write_json(
        memo / f"{sha}.json",
        {
            "sha256": sha,
            "size": 4,
            "type": "image/jpeg",
            "servers": {"https://b.example": f"https://b.example/{sha}.jpg"},
        },
    )
    out: dict[str, dict[str, object]] = {}
    for path in sorted((data / "nostr_events").glob("event_*.json")):
        out[path.name.replace(".pending.json", ".json")] = json.loads(path.read_text())
    return out


def test_first_start_imports_a_file_layout_cache_once(
    state_url: str, tmp_path: Path, fake_x: FakeXApi
) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    data = cli.data_dir
    for user in (SYNTH, SMALL):
        cli.run("user-tweets", user, "--count", "20")
    for name in STATE_FILES:  # the archive as the file layout left it: no state yet
        (data / name).unlink(missing_ok=True)
    on_disk = write_file_layout_cache(data, cli.mnemonic)
    assert len(on_disk) > 10
    before = listing(data)

    # The first command that starts on it imports it (a command that writes; here reindex).
    first = cli.run("--state-url", state_url, "reindex")
    assert "0 tweet(s)" in first.stdout  # the import knew every file already

    state = open_state(state_url)
    try:
        repo = RecordRepo(state)
        assert repo.count() == len(on_disk)
        for name, doc in on_disk.items():
            parsed = parse_event_filename(name)
            assert parsed is not None
            event = doc["event"]
            assert isinstance(event, dict)
            stored = repo.get(str(event["id"]))
            assert stored is not None, name
            assert stored.event == event
            assert (stored.subject, stored.subject_id) == (parsed.subject, str(parsed.subject_id))
            assert stored.tweet_id == doc["tweet_id"]
            relays = doc["relays"]
            assert isinstance(relays, dict)
            assert stored.relays == {u: RelayState.from_json(s) for u, s in relays.items()}, name
        with_dead = [d for d in on_disk.values() if isinstance(d["relays"], dict) and DEAD in d["relays"]]
        assert len(repo.pending(2e9, [DEAD])) == len(with_dead) > 0

        users = UserRepo(state).load_all()
        assert {u: (r.user_id, r.since_id, r.backfill_done) for u, r in users.items()} == {
            "whodistweet": ("42", "1", True),
            "nostrweet_synth": ("42", None, False),
        }
        sha = hashlib.sha256(b"blob").hexdigest()
        assert BlossomMemo(state).servers_of(sha) == {"https://b.example": f"https://b.example/{sha}.jpg"}

        index = build_index(data)
        archive = ArchiveIndex(state)
        assert archive.tweet_count() == index.tweet_count() > 0
        for tweet_id in index.iter_tweet_ids():
            assert archive.tweet_name(tweet_id) == index.tweet_name(tweet_id)
        for username, entry in index.users.items():
            assert archive.newest_profile(username) == entry.newest_profile
        assert archive.tweets_without_events() == []  # every tweet has its record
    finally:
        state.close()

    # A second start imports nothing again; a record changed since stays as it is.
    state = open_state(state_url)
    try:
        some = next(iter(on_disk.values()))["event"]
        assert isinstance(some, dict)
        RecordRepo(state).apply_answers([(str(some["id"]), DEAD, "accepted", "")], now=1_800_000_000)
    finally:
        state.close()
    second = cli.run("--state-url", state_url, "reindex")
    assert "0 tweet(s)" in second.stdout
    state = open_state(state_url)
    try:
        assert RecordRepo(state).count() == len(on_disk)
        again = RecordRepo(state).get(str(some["id"]))
        assert again is not None and again.relays[DEAD].status == "accepted"
    finally:
        state.close()
    assert listing(data) == before  # the import only reads the files


def test_reindex_adds_files_the_state_does_not_know(state_url: str, tmp_path: Path, fake_x: FakeXApi) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    data = cli.data_dir
    cli.run("--state-url", state_url, "user-tweets", SMALL, "--count", "5")
    other = tmp_path / "other"
    other.mkdir()
    moved = make_cli(other, fake_x.url, fake_x.bearer_token)
    moved.run("user-tweets", SYNTH, "--count", "3")
    copied = [p for p in moved.data_dir.iterdir() if p.name.endswith(".json") and p.name[:8].isdigit()]
    for path in copied:  # copied in by hand: the state does not know them
        (data / path.name).write_bytes(path.read_bytes())
    state = open_state(state_url)
    try:
        known = ArchiveIndex(state).tweet_count()
    finally:
        state.close()
    tweets = [p for p in copied if not p.name.endswith("_profile.json")]
    out = cli.run("--state-url", state_url, "reindex").stdout
    assert f"{len(tweets)} tweet(s)" in out and "1 profile(s)" in out, out
    state = open_state(state_url)
    try:
        archive = ArchiveIndex(state)
        assert archive.tweet_count() == known + len(tweets)
        assert sorted(archive.tweet_ids_of(SYNTH)) == sorted(int(p.stem.rsplit("_", 1)[1]) for p in tweets)
    finally:
        state.close()
    assert "0 tweet(s)" in cli.run("--state-url", state_url, "reindex").stdout  # nothing new the second time


def test_read_only_commands_create_and_change_nothing_beside_a_state(
    tmp_path: Path, fake_x: FakeXApi
) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    data = cli.data_dir
    cli.run("user-tweets", SMALL, "--count", "3")
    assert (data / "nostrweet.sqlite3").is_file()
    tweet = next(p.stem.rsplit("_", 1)[1] for p in data.glob("2*.json") if not p.stem.endswith("_profile"))
    before = {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in data.rglob("*")}
    assert tweet in cli.run("list-tweets").stdout
    assert '"events"' in cli.run("show-tweet", tweet).stdout  # reads the state for recorded events
    cli.run("keys", SMALL)
    assert {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in data.rglob("*")} == before
