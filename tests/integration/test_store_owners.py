"""The data directory's owners (issue 14, slice "store"): one daemon per data dir, temp files of live
writers kept, unreadable entries skipped, private file modes, corrupt tweets fetched again.

Everything runs the real CLI (or the daemon) in subprocesses against the fake X API and real relays."""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from nostrweet.cache import layout
from nostrweet.cache.writers import WRITERS_DIR
from nostrweet.store import CacheStore
from tests.fakes.blossom_server import BlossomServer
from tests.fakes.x_api import FakeXApi
from tests.fakes.x_world import SYNTHETIC_USER_ID, SYNTHETIC_USERNAME
from tests.integration.publish_helpers import Cli, make_cli
from tests.integration.test_daemon import DaemonProc, tweet_ids_on, wait_for

pytestmark = pytest.mark.integration

SMALL_ID, SMALL = "1154498013626327041", "WhoDisTweet"


@pytest.fixture
def daemons() -> Iterator[list[DaemonProc]]:
    """Every daemon a test starts is killed at the end."""
    started: list[DaemonProc] = []
    yield started
    for d in started:
        d.kill()


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A live process that is not the test: its pid stands for a writer in another command."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc
    proc.kill()
    proc.wait(10)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(10)
    return proc.pid


def tweet_files(data_dir: Path, username: str) -> dict[int, Path]:
    out = {}
    for path in data_dir.iterdir():
        parsed = layout.parse_tweet_filename(path.name)
        if parsed is not None and parsed.username == username.lower() and path.is_file():
            out[parsed.tweet_id] = path
    return out


# -- one daemon per data dir ----------------------------------------------------------------------


def test_second_daemon_on_the_same_data_dir_exits_1_naming_the_first(
    tmp_path: Path, fake_x: FakeXApi, sdk_relay: str, daemons: list[DaemonProc]
) -> None:
    data = tmp_path / "data"
    first = DaemonProc(tmp_path, data, fake_x, [sdk_relay], [SMALL], poll=2)
    daemons.append(first.start())
    assert first.proc is not None
    wait_for(lambda: str(first.proc.pid) in _text(data / "daemon.lock"), 30, "the first daemon's lock", first)

    second = DaemonProc(tmp_path, data, fake_x, [sdk_relay], [SMALL], poll=2)
    daemons.append(second.start())
    assert second.wait(30) == 1
    errors = [line for line in second.lines() if line.get("level") == "error"]
    assert len(errors) == 1, second.log_text()
    host = os.uname().nodename
    pid = first.proc.pid
    assert (
        errors[0]["message"] == f"another daemon ({host}:{pid}, host {host}, pid {pid}) is running on {data}"
    )
    assert "Traceback" not in second.log_text()
    # the first one is not disturbed: it keeps running and publishing
    wait_for(lambda: bool(tweet_ids_on(sdk_relay)), 30, "the first daemon's events", first)
    assert first.alive()

    # A holder killed with SIGKILL leaves the file, but not the lock: a new daemon starts.
    first.kill()
    third = DaemonProc(tmp_path, data, fake_x, [sdk_relay], [SMALL], poll=2)
    daemons.append(third.start())
    assert third.proc is not None
    wait_for(lambda: str(third.proc.pid) in _text(data / "daemon.lock"), 30, "the new daemon's lock", third)
    wait_for(lambda: bool(third.stats()), 30, "the new daemon's stats", third)
    assert third.alive()
    assert third.stop() == 0


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def test_short_commands_run_beside_a_daemon(
    tmp_path: Path, fake_x: FakeXApi, sdk_relay: str, daemons: list[DaemonProc]
) -> None:
    data = tmp_path / "data"
    d = DaemonProc(tmp_path, data, fake_x, [sdk_relay], [SMALL], poll=2)
    daemons.append(d.start())
    assert d.proc is not None
    wait_for(lambda: str(d.proc.pid) in _text(data / "daemon.lock"), 30, "the daemon's lock", d)
    cli = Cli(data, "", d.mnemonic_file, fake_x.url, fake_x.bearer_token)
    cli.run("fetch-profile", SMALL)
    cli.run("list-tweets")
    assert d.alive()
    assert d.stop() == 0


# -- temp files of live writers -------------------------------------------------------------------


def test_temp_files_of_live_writers_survive_other_commands(
    tmp_path: Path, fake_x: FakeXApi, sleeper: subprocess.Popen[bytes]
) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    data = cli.data_dir
    events = data / layout.EVENTS_DIR
    events.mkdir(mode=0o700)
    media_name = layout.media_filename(SMALL, "1", 0, "jpg")
    # temp names carry the writer's pid: .<final name>.<pid>-<random>.tmp
    live = [
        data / f".{media_name}.{sleeper.pid}-ab12cd34.tmp",  # a download in another process
        data / f".{media_name}.{os.getpid()}-0f0f0f0f.tmp",  # and one of this test
        events / f".relays.json.{sleeper.pid}-00ff00ff.tmp",
    ]
    gone = dead_pid()
    dead = [data / f".{media_name}.{gone}-deadbeef.tmp"]
    # nostr_events/ is an earlier version's directory: not listed at start, so what is there stays
    earlier = events / f".relays.json.{gone}-deadbeef.tmp"
    for path in [*live, *dead, earlier]:
        path.write_bytes(b"partial")

    # a read-only command removes nothing at all
    cli.run("list-tweets")
    assert all(p.exists() for p in [*live, *dead])

    # the first writing command on a new directory removes the temp files of dead writers only
    cli.run("user-tweets", SMALL, "--count", "1")
    assert all(p.exists() for p in live)
    assert not any(p.exists() for p in dead)
    assert earlier.exists()

    # a live pid on a file older than an hour is a reused pid: removed by the next start that looks,
    # which is the start after a writer was killed (its marker outlived it)
    old = time.time() - 2 * 3600
    os.utime(live[0], (old, old))
    cli.run("user-tweets", SMALL, "--count", "1")
    assert live[0].exists()  # after clean exits a start does not list the directory
    (data / WRITERS_DIR / str(gone)).touch()  # what a SIGKILLed writer leaves
    cli.run("user-tweets", SMALL, "--count", "1")
    assert not live[0].exists() and live[1].exists() and live[2].exists()
    assert os.listdir(data / WRITERS_DIR) == []


def test_read_only_commands_create_nothing(tmp_path: Path) -> None:
    cli = make_cli(tmp_path)
    missing = tmp_path / "never"
    proc = subprocess.run(
        [sys.executable, "-m", "nostrweet", "-d", str(missing), "list-tweets"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert not missing.exists()
    # a corrupt tweet file is skipped with a warning, not moved
    name = layout.tweet_filename(time_of(2024), SMALL, 1790000000000000001)
    (cli.data_dir / name).write_text("{ not json")
    proc = cli.run("list-tweets")
    assert (cli.data_dir / name).exists() and not (cli.data_dir / (name + ".corrupt")).exists()
    assert name in proc.stderr


def time_of(year: int) -> datetime:
    return datetime(year, 1, 2, 3, 4, 5, tzinfo=UTC)


# -- unreadable entries ----------------------------------------------------------------------------


def test_directories_named_like_a_tweet_and_a_record_are_skipped(
    tmp_path: Path, fake_x: FakeXApi, sdk_relay: str
) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    data = cli.data_dir
    cli.run("user-tweets", SMALL, "--count", "5")
    cached = sorted(tweet_files(data, SMALL))
    assert len(cached) >= 2
    # a directory named like a tweet of the user, and one named like a pending record of a cached tweet
    tweet_dir = data / layout.tweet_filename(time_of(2025), SMALL, 1790000000000000099)
    tweet_dir.mkdir()
    events = data / layout.EVENTS_DIR
    events.mkdir(mode=0o700, exist_ok=True)
    record_dir = events / layout.event_filename(
        secrets.token_hex(32), layout.EventSubject.TWEET, cached[0], pending=True
    )
    record_dir.mkdir()
    assert (
        "1 tweet(s)" in cli.run("reindex").stdout
    )  # the state learns names from a listing, as of a file copied in

    listed = cli.run("list-tweets", "-u", SMALL)
    assert listed.stdout.count("\n") == 1 + len(cached), listed.stdout  # the header, then one per tweet
    assert listed.stderr.count(str(tweet_dir)) == 1, listed.stderr

    posted = cli.run("post-user-to-nostr", SMALL, "-r", sdk_relay)
    assert f"{len(cached)} tweets: {len(cached)} published" in posted.stdout, posted.stdout
    assert posted.stderr.count(str(tweet_dir)) == 1, posted.stderr
    assert str(record_dir) not in posted.stderr  # records are in the state: nostr_events/ is not read
    assert "unexpected" not in posted.stderr
    assert {str(t) for t in cached} <= tweet_ids_on(sdk_relay)
    assert tweet_dir.is_dir() and record_dir.is_dir()  # skipped, never moved or deleted


async def test_outbox_goes_past_directories_named_like_a_tweet_and_a_record(
    tmp_path: Path, fake_x: FakeXApi, sdk_relay: str, caplog: pytest.LogCaptureFixture
) -> None:
    from mnemonic import Mnemonic

    from nostrweet.nostr.keys import KeyDeriver
    from nostrweet.nostr.relays import RelayPool
    from nostrweet.publish.outbox import Outbox
    from nostrweet.publish.publisher import Publisher
    from nostrweet.settings import Secret

    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    data = cli.data_dir
    cli.run("user-tweets", SMALL, "--count", "3")
    cached = sorted(tweet_files(data, SMALL))
    events = data / layout.EVENTS_DIR
    events.mkdir(mode=0o700, exist_ok=True)
    record_dir = events / layout.event_filename(
        secrets.token_hex(32), layout.EventSubject.TWEET, cached[0], pending=True
    )
    record_dir.mkdir()
    tweet_dir = data / layout.tweet_filename(time_of(2025), SMALL, 1790000000000000099)
    tweet_dir.mkdir()

    store = CacheStore(data)
    pool = RelayPool([sdk_relay])
    await pool.start()
    try:
        publisher = Publisher(
            store, KeyDeriver(Secret(Mnemonic("english").generate(128))), pool, relays=[sdk_relay]
        )
        outbox = Outbox(publisher)
        first = await outbox.run_once(now=time.time())
        second = await outbox.run_once(now=time.time() + 3600)
    finally:
        await pool.close()
    # the outbox went on: every tweet without a record in the state was published (a directory under
    # nostr_events/ is no record: that directory is the file layout's, read only by the first start's
    # import), and it still works on the next pass
    assert sorted(int(o.subject_id) for o in first.published) == cached
    assert all(o.status == "published" for o in first.published)
    assert second.published == [] and second.resent == []
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert not any(str(record_dir) in w for w in warnings), warnings
    # the tweet directory is in no row of the state (made after the start): nothing asks for it
    assert not any(str(tweet_dir) in w for w in warnings), warnings
    assert record_dir.is_dir() and tweet_dir.is_dir()


# -- file modes ------------------------------------------------------------------------------------


def test_every_file_is_0600_and_every_directory_0700(
    tmp_path: Path, fake_x: FakeXApi, sdk_relay: str, blossom_server: BlossomServer, daemons: list[DaemonProc]
) -> None:
    old_umask = os.umask(0o022)
    try:
        base = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
        cli = Cli(tmp_path / "fresh", base.mnemonic, base.mnemonic_file, fake_x.url, fake_x.bearer_token)
        cli.run("user-tweets", SYNTHETIC_USERNAME, "--count", "4")
        cli.run("post-user-to-nostr", SYNTHETIC_USERNAME, "-r", sdk_relay, "-b", blossom_server.url)
        assert blossom_server.blobs  # the Blossom memo was written
        d = DaemonProc(tmp_path, cli.data_dir, fake_x, [sdk_relay], [SYNTHETIC_USERNAME], poll=2)
        daemons.append(d.start())

        def polled() -> bool:
            stats = d.stats()
            return bool(stats) and any(u["polls"] > 0 for u in stats[-1]["users"].values())

        wait_for(polled, 30, "a poll", d)
        assert d.stop() == 0
    finally:
        os.umask(old_umask)
    files, dirs = [], [cli.data_dir]
    for path in cli.data_dir.rglob("*"):
        (dirs if path.is_dir() else files).append(path)
    kinds = {p.name.split("_")[0] for p in files}
    assert any(layout.parse_media_filename(p.name) for p in files), kinds
    assert (cli.data_dir / "daemon.lock") in files
    assert (cli.data_dir / "nostrweet.sqlite3") in files  # the state: records, users, Blossom memo, index
    bad = [
        (str(p), oct(stat.S_IMODE(p.stat().st_mode)))
        for p in files
        if stat.S_IMODE(p.stat().st_mode) != 0o600
    ]
    bad += [
        (str(p), oct(stat.S_IMODE(p.stat().st_mode))) for p in dirs if stat.S_IMODE(p.stat().st_mode) != 0o700
    ]
    assert bad == []


def test_an_existing_data_dir_keeps_its_mode(tmp_path: Path, fake_x: FakeXApi) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    cli.data_dir.chmod(0o750)
    cli.run("user-tweets", SMALL, "--count", "2")
    assert stat.S_IMODE(cli.data_dir.stat().st_mode) == 0o750
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in tweet_files(cli.data_dir, SMALL).values())


# -- corrupt tweets are fetched again --------------------------------------------------------------


def _corrupt_middle(data: Path, username: str) -> tuple[int, Path]:
    """Corrupt a tweet file that is neither the newest nor the oldest of the user, and let a reading
    store set it aside (as any command that reads it does)."""
    files = tweet_files(data, username)
    ids = sorted(files)
    assert len(ids) >= 3
    victim = ids[len(ids) // 2]
    files[victim].write_text('{"data": {"id": "')
    assert CacheStore(data).read_tweet(victim) is None
    corrupt = files[victim].with_name(files[victim].name + layout.CORRUPT_SUFFIX)
    assert corrupt.exists() and not files[victim].exists()
    return victim, corrupt


def test_user_tweets_fetches_a_corrupt_tweet_again(tmp_path: Path, fake_x: FakeXApi) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    cli.run("user-tweets", SYNTHETIC_USERNAME, "--count", "4")
    victim, corrupt = _corrupt_middle(cli.data_dir, SYNTHETIC_USERNAME)
    fake_x.reset_log()
    cli.run("user-tweets", SYNTHETIC_USERNAME, "--count", "4")
    back = tweet_files(cli.data_dir, SYNTHETIC_USERNAME).get(victim)
    assert back is not None, "the corrupt tweet was not fetched again"
    doc = msgspec.json.decode(back.read_bytes())
    assert doc["data"]["id"] == str(victim) and doc["data"]["author_id"] == SYNTHETIC_USER_ID
    assert corrupt.exists()  # left for the user to look at
    lookups = fake_x.requests_to("/2/tweets")
    assert any(str(victim) in r.query.get("ids", "").split(",") for r in lookups), lookups
    # and once it is back, it is not asked for again
    fake_x.reset_log()
    cli.run("user-tweets", SYNTHETIC_USERNAME, "--count", "4")
    assert not any(str(victim) in r.query.get("ids", "") for r in fake_x.requests_to("/2/tweets"))


def test_daemon_poll_fetches_a_corrupt_tweet_again(
    tmp_path: Path, fake_x: FakeXApi, sdk_relay: str, daemons: list[DaemonProc]
) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    cli.run("user-tweets", SYNTHETIC_USERNAME, "--count", "4")
    victim, corrupt = _corrupt_middle(cli.data_dir, SYNTHETIC_USERNAME)
    d = DaemonProc(tmp_path, cli.data_dir, fake_x, [sdk_relay], [SYNTHETIC_USERNAME], poll=2)
    daemons.append(d.start())
    wait_for(
        lambda: victim in tweet_files(cli.data_dir, SYNTHETIC_USERNAME), 30, "the tweet fetched again", d
    )
    wait_for(lambda: str(victim) in tweet_ids_on(sdk_relay), 30, "the tweet published", d)
    assert d.stop() == 0
    doc = msgspec.json.decode(tweet_files(cli.data_dir, SYNTHETIC_USERNAME)[victim].read_bytes())
    assert doc["data"]["id"] == str(victim)
    assert corrupt.exists()
