"""Import of a cache written by the file-based store into the state, on both backends: every record and
relay status, the daemon's user state, the Blossom memo and the archive index; a second run does nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nostrweet.cache.atomic import atomic_write_json, make_private_dir
from nostrweet.cache.index import build_index
from nostrweet.cache.layout import EventSubject, parse_event_filename
from nostrweet.daemon.state import UserState
from nostrweet.nostr.record import RelayState
from nostrweet.state.blossom import BlossomMemo
from nostrweet.state.engine import open_state
from nostrweet.state.import_files import import_files
from nostrweet.state.index import ArchiveIndex
from nostrweet.state.records import RecordRepo
from nostrweet.state.users import UserRepo
from tests.fakes.blossom_server import BlossomServer
from tests.fakes.x_api import FakeXApi
from tests.integration.publish_helpers import make_cli, records

pytestmark = pytest.mark.integration

SYNTH = "nostrweet_synth"  # photo, video and GIF: Blossom uploads
SMALL = "WhoDisTweet"


def listing(directory: Path) -> dict[str, int]:
    return {str(p.relative_to(directory)): p.stat().st_mtime_ns for p in directory.rglob("*")}


def test_import_a_cache_written_by_the_file_store(
    state_url: str,
    tmp_path: Path,
    fake_x: FakeXApi,
    sdk_relay: str,
    blossom_server: BlossomServer,
    dead_relay_url: str,
) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    data = cli.data_dir
    for user in (SYNTH, SMALL):
        cli.run("user-tweets", user, "--count", "20")
    cli.run(
        "post-user-to-nostr",
        SYNTH,
        "-r",
        sdk_relay,
        "-r",
        dead_relay_url,
        "-b",
        blossom_server.url,
        check=False,
    )
    cli.run("post-user-to-nostr", SMALL, "-r", sdk_relay)
    # daemon_state/ as the daemon wrote it before the state database: one file per user, its
    # watermark and backfill target (here one backfill done, one cut short by a crash)
    newest = max(int(t) for t in fake_x.world.timeline(fake_x.world.user_by_username(SMALL)["id"]))  # type: ignore[index]
    make_private_dir(data / "daemon_state")
    for name, state in (
        (SMALL.lower(), UserState("1154498013626327041", str(newest), 20, str(newest - 10), True)),
        ("sportscenter", UserState("26257166", "1790000000000000000", 20, "1790000000000000001", False)),
    ):
        atomic_write_json(data / "daemon_state" / f"{name}.json", state.to_json())

    on_disk = records(data)
    pending = [n for n in (data / "nostr_events").iterdir() if n.name.endswith(".pending.json")]
    memo_files = sorted((data / "blossom").glob("*.json"))
    user_files = sorted((data / "daemon_state").glob("*.json"))
    assert on_disk and pending and memo_files and user_files, (len(on_disk), len(pending), len(memo_files))
    before = listing(data)

    state = open_state(state_url)
    try:
        report = import_files(state, data, now=1_700_000_000)
        assert report.skipped == []
        assert report.records == len(on_disk)
        repo = RecordRepo(state)
        assert repo.count() == len(on_disk)
        for name, doc in on_disk.items():
            parsed = parse_event_filename(name)
            assert parsed is not None
            stored = repo.get(doc["event"]["id"])
            assert stored is not None, name
            assert stored.event == doc["event"]
            assert (stored.subject, stored.subject_id) == (parsed.subject, str(parsed.subject_id))
            assert stored.tweet_id == doc["tweet_id"]
            assert stored.relays == {u: RelayState.from_json(s) for u, s in doc["relays"].items()}, name
        assert any(
            r.relays.get(dead_relay_url, RelayState("accepted")).status == "pending"
            for r in repo.pending(2e9)
        )
        assert sum(
            1
            for r in repo.get_many(d["event"]["id"] for d in on_disk.values())
            if r.subject is EventSubject.TWEET
        )

        users = UserRepo(state).load_all()
        for path in user_files:
            doc = json.loads(path.read_text())
            row = users[path.stem]
            assert (row.user_id, row.since_id, row.backfill, row.backfill_floor, row.backfill_done) == (
                doc["user_id"],
                doc["since_id"],
                doc["backfill"],
                doc["backfill_floor"],
                doc["backfill_done"],
            )
        assert len(users) == len(user_files)

        memo = BlossomMemo(state)
        for path in memo_files:
            doc = json.loads(path.read_text())
            assert memo.servers_of(doc["sha256"]) == doc["servers"]

        index = build_index(data)
        archive = ArchiveIndex(state)
        assert archive.tweet_count() == index.tweet_count()
        for tweet_id in index.iter_tweet_ids():
            assert archive.tweet_name(tweet_id) == index.tweet_name(tweet_id)
        for username, entry in index.users.items():
            assert archive.newest_profile(username) == entry.newest_profile
        assert all(archive.is_not_found(t) for t in index.not_found)

        again = import_files(state, data, now=1_700_000_100)
        assert again.done_before and again.records == 0
        assert repo.count() == len(on_disk)
    finally:
        state.close()
    assert listing(data) == before  # the import only reads
