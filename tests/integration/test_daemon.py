"""The daemon end to end: a subprocess against the fake X API and two real relays (SPEC §5, issue #4)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import msgspec
import pytest

from nostrweet.nostr.event import SignedEvent
from nostrweet.nostr.relays import QueryFilter, RelayPool
from tests.fakes.nostr_relay_proc import RelayProcess
from tests.fakes.relay_fixtures import SdkRelay
from tests.fakes.x_api import FakeXApi
from tests.fakes.x_world import BIG_TIMELINE_USER_ID, BIG_TIMELINE_USERNAME, PHILLY_USER_ID, PHILLY_USERNAME
from tests.integration.publish_helpers import tweet_record_count

pytestmark = pytest.mark.integration

MNEMONIC = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
TIMELINE = "/2/users/{id}/tweets"  # the fake server's name of the endpoint
TIMELINE_BUDGET = "/2/users/:id/tweets"  # the client's name of it (stats)

# Small timelines for the fast tests (user id, username); each has a few tweets in the fixtures.
SMALL_USERS = [
    ("1154498013626327041", "WhoDisTweet"),
    ("26257166", "SportsCenter"),
    ("324436261", "ColemanESPN"),
]


class DaemonProc:
    """``nostrweet daemon`` in a subprocess, logging JSON to a file we can read while it runs."""

    def __init__(
        self,
        tmp: Path,
        data_dir: Path,
        api: FakeXApi,
        relays: Sequence[str],
        users: Sequence[str],
        *,
        poll: int = 1,
        backfill: int = 20,
        stats: int = 1,
        extra: Sequence[str] = (),
        config: Path | None = None,
    ) -> None:
        self.mnemonic_file = tmp / "mnemonic"
        self.mnemonic_file.write_text(MNEMONIC + "\n")
        self.mnemonic_file.chmod(0o600)
        self.data_dir = data_dir
        self.log_path = tmp / f"daemon-{time.monotonic_ns()}.log"
        args = [sys.executable, "-m", "nostrweet", "--log-format", "json", "-d", str(data_dir)]
        args += ["--twitter-api-url", api.url, "--bearer-token", api.bearer_token]
        args += ["--mnemonic-file", str(self.mnemonic_file)]
        if config is not None:
            args += ["--config", str(config)]
        args += ["daemon", "--poll-interval", str(poll), "--stats-interval", str(stats)]
        args += ["--backfill", str(backfill), *extra]
        for user in users:
            args += ["-u", user]
        for relay in relays:
            args += ["-r", relay]
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> DaemonProc:
        self._log = self.log_path.open("ab")
        env = {k: v for k, v in os.environ.items() if not k.startswith("NOSTRWEET_")}
        self.proc = subprocess.Popen(self.args, stdout=self._log, stderr=self._log, env=env)
        return self

    def lines(self) -> list[dict[str, Any]]:
        out = []
        for raw in self.log_path.read_text(errors="replace").splitlines():
            try:
                obj = json.loads(raw)
            except ValueError:
                obj = {"message": raw, "level": "raw"}
            out.append(obj)
        return out

    def stats(self) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("event") == "stats"]

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 15) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self.kill()
            self._log.close()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def daemons() -> Iterator[list[DaemonProc]]:
    """Every daemon a test starts is killed at the end."""
    started: list[DaemonProc] = []
    yield started
    for d in started:
        d.kill()


def query_events(relay: str, *, kinds: Sequence[int] = (1, 6), timeout: float = 5.0) -> list[SignedEvent]:
    """Every event of the given kinds on one relay."""

    async def go() -> list[SignedEvent]:
        pool = RelayPool([relay], connect_timeout=3)
        await pool.start()
        try:
            return await pool.query(QueryFilter(kinds=list(kinds), limit=5000), timeout=timeout)
        finally:
            await pool.close()

    return asyncio.run(go())


def event_ids(relay: str, kinds: Sequence[int] = (1, 6)) -> set[str]:
    return {e.id for e in query_events(relay, kinds=kinds)}


def tweet_ids_on(relay: str) -> set[str]:
    """Tweet ids of the kind 1/6 events on a relay (from their ``r`` tag)."""
    out = set()
    for event in query_events(relay):
        for tag in event.tags:
            if tag[0] == "r" and "/status/" in tag[1]:
                out.add(tag[1].rsplit("/", 1)[1])
    return out


def wait_for(check: Callable[[], bool], timeout: float, what: str, proc: DaemonProc | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if proc is not None and not proc.alive():
            raise AssertionError(f"daemon exited while waiting for {what}:\n{proc.log_text()[-4000:]}")
        time.sleep(0.25)
    tail = proc.log_text()[-4000:] if proc is not None else ""
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{tail}")


def messages(d: DaemonProc) -> list[str]:
    """The messages of the daemon's log lines, in order."""
    return [str(line.get("message", "")) for line in d.lines()]


def hang_poll_on_x(fake_x: FakeXApi, d: DaemonProc) -> None:
    """Make the X API answer after 14 s, longer than the daemon's grace, and return once a request of a
    poll waits on it."""
    seen = len(fake_x.requests)
    fake_x.faults.latency(14)
    wait_for(lambda: len(fake_x.requests) > seen, 30, "a poll's request to the X API", d)


def all_files_parse(data_dir: Path) -> None:
    """Every JSON file in the data dir parses; no temp file is left under a final name."""
    for path in data_dir.rglob("*"):
        if path.is_file() and path.suffix == ".json":
            msgspec.json.decode(path.read_bytes())


# --------------------------------------------------------------------------------------------


def test_new_tweets_reach_both_relays(
    tmp_path: Path, fake_x: FakeXApi, sdk_relay: str, pypi_relay: str, daemons: list[DaemonProc]
) -> None:
    world = fake_x.world
    users = SMALL_USERS
    for uid, _ in users:
        world.hold_back(uid, keep=1)
    # a user that does not exist: its lookups fail, it backs off, the others go on
    names = [u for _, u in users] + ["no_such_user_x"]
    d = DaemonProc(tmp_path, tmp_path / "data", fake_x, [sdk_relay, pypi_relay], names, poll=2)
    daemons.append(d.start())
    # the first run backfills the one visible tweet of each user
    visible = {world.timeline(uid)[0] for uid, _ in users}
    wait_for(lambda: visible <= tweet_ids_on(sdk_relay), 40, "the backfill on the first relay", d)
    wait_for(lambda: visible <= tweet_ids_on(pypi_relay), 20, "the backfill on the second relay", d)
    # release new tweets in steps; each reaches both relays while the daemon runs (how often it polls
    # is the scheduler's, proven on a manual clock in tests/unit/test_scheduler_runner.py)
    for step in range(2):
        released = set()
        for uid, _ in users:
            released.update(world.release(uid, 2 if step == 0 else 10))
        t0 = time.monotonic()

        def on_both(r: set[str] = released) -> bool:
            return r <= tweet_ids_on(sdk_relay) and r <= tweet_ids_on(pypi_relay)

        wait_for(on_both, 30, f"step {step} on both relays", d)
        print(f"step {step}: on both relays after {time.monotonic() - t0:.2f} s")
    # after each user's first poll, every timeline request carries since_id
    first_seen: set[str] = set()
    for req in fake_x.requests_to(TIMELINE):
        uid = req.path.split("/")[3]
        if uid in first_seen:
            assert "since_id" in req.query, req
        first_seen.add(uid)
    assert first_seen == {uid for uid, _ in users}
    assert "@no_such_user_x: poll failed" in d.log_text()
    wait_for(lambda: len(d.stats()) >= 2, 10, "stats records", d)
    record = d.stats()[-1]
    assert set(record["users"]) == {u.lower() for u in names}
    ghost = record["users"]["no_such_user_x"]
    assert ghost["errors"] >= 1 and ghost["backoff"] >= 60 and ghost["posted"] == 0
    assert record["relays"][sdk_relay]["connected"] is True
    assert TIMELINE_BUDGET in record["api_budget"]
    assert d.stop() == 0
    # nothing published twice: one event per tweet id per relay
    assert len(event_ids(sdk_relay)) == len(tweet_ids_on(sdk_relay))
    all_files_parse(tmp_path / "data")


def run_until_published(d: DaemonProc, relay: str, expected: set[str], timeout: float) -> set[str]:
    """Start ``d``, wait until the relay holds an event for every expected tweet id, stop it (exit 0)."""
    d.start()

    def polled_all() -> bool:
        stats = d.stats()
        return bool(stats) and all(
            u["polls"] > u["errors"] and u["backoff"] == 0 for u in stats[-1]["users"].values()
        )

    wait_for(polled_all, timeout, "a first successful poll of every user", d)
    wait_for(lambda: expected <= tweet_ids_on(relay), timeout, f"{len(expected)} tweets on {relay}", d)
    assert d.stop() == 0, d.log_text()[-3000:]
    return event_ids(relay)


def crash_and_compare(
    tmp_path: Path,
    fake_x: FakeXApi,
    relay: SdkRelay,
    daemons: list[DaemonProc],
    *,
    backfill: int,
    kills: int,
    seed: int,
    crash_extra: Sequence[str] = (),
) -> None:
    """A clean run, then (same relay URL, emptied) a run killed ``kills`` times: same event ids.
    ``crash_extra`` are more daemon options for the killed runs (another state, say)."""
    import random

    rng = random.Random(seed)
    users = [PHILLY_USERNAME, BIG_TIMELINE_USERNAME]
    expected = set()
    for uid in (PHILLY_USER_ID, BIG_TIMELINE_USER_ID):
        expected.update(fake_x.world.timeline(uid)[:backfill])
    # a clean run
    clean = DaemonProc(tmp_path, tmp_path / "clean", fake_x, [relay.url], users, poll=2, backfill=backfill)
    daemons.append(clean)
    clean_ids = run_until_published(clean, relay.url, expected, 120)
    relay.stop()
    relay.start()  # in-memory storage: the same URL, empty
    assert event_ids(relay.url) == set()
    # the same with SIGKILL at random moments during the backfill
    data = tmp_path / "crashy"

    def cached() -> int:
        return len(list(data.glob("2*_*_[0-9]*.json")))

    def records() -> int:
        return tweet_record_count(data)

    kill_points: list[tuple[int, int]] = []
    for n in range(kills):
        d = DaemonProc(
            tmp_path, data, fake_x, [relay.url], users, poll=2, backfill=backfill, extra=crash_extra
        )
        daemons.append(d.start())
        # kill at a random moment: alternately while caching and while publishing
        if n % 2 == 0 and cached() < len(expected) - 5:
            target = rng.randint(cached() + 1, len(expected) - 5)
            deadline = time.monotonic() + 60
            while cached() < target and time.monotonic() < deadline and d.alive():
                time.sleep(0.001)
        else:
            target = rng.randint(records() + 1, records() + 60)
            last, since = records(), time.monotonic()
            while records() < target and time.monotonic() - since < 3 and d.alive():
                time.sleep(0.01)
                if records() != last:
                    last, since = records(), time.monotonic()
        d.kill()
        kill_points.append((cached(), records()))
        all_files_parse(data)
    # the kills landed in the middle of the backfill and of the publishing
    assert any(0 < c < len(expected) for c, _ in kill_points), kill_points
    final = DaemonProc(
        tmp_path, data, fake_x, [relay.url], users, poll=2, backfill=backfill, extra=crash_extra
    )
    daemons.append(final)
    crash_ids = run_until_published(final, relay.url, expected, 120)
    assert crash_ids == clean_ids
    # exactly one event per tweet: no duplicate under another id
    per_tweet: dict[str, int] = {}
    for event in query_events(relay.url):
        for tag in event.tags:
            if tag[0] == "r" and "/status/" in tag[1]:
                per_tweet[tag[1]] = per_tweet.get(tag[1], 0) + 1
    assert per_tweet and max(per_tweet.values()) == 1
    all_files_parse(data)
    assert not [p for p in data.rglob("*") if p.name.endswith(".tmp")]
    # the backfill target stayed the N newest of the first run: nothing older was fetched
    cached = {p.name.rsplit("_", 1)[1].removesuffix(".json") for p in data.glob("2*_*.json")}
    assert expected <= cached


def test_crash_consistency_backfill_of_200(
    tmp_path: Path, fake_x: FakeXApi, sdk_relay_server: SdkRelay, daemons: list[DaemonProc]
) -> None:
    crash_and_compare(tmp_path, fake_x, sdk_relay_server, daemons, backfill=101, kills=4, seed=11)


def test_crash_consistency_on_postgres(
    tmp_path: Path, fake_x: FakeXApi, sdk_relay_server: SdkRelay, daemons: list[DaemonProc], pg_url: str
) -> None:
    """The killed runs keep their state in PostgreSQL; the clean run keeps its own SQLite state."""
    extra = ("--state-url", pg_url)
    crash_and_compare(
        tmp_path, fake_x, sdk_relay_server, daemons, backfill=101, kills=4, seed=5, crash_extra=extra
    )


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("NOSTRWEET_SLOW_TESTS"), reason="set NOSTRWEET_SLOW_TESTS=1 to run")
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_crash_consistency_many_kills(
    tmp_path: Path, fake_x: FakeXApi, sdk_relay_server: SdkRelay, daemons: list[DaemonProc], seed: int
) -> None:
    crash_and_compare(tmp_path, fake_x, sdk_relay_server, daemons, backfill=101, kills=8, seed=seed)


def test_faults_everything_arrives_and_the_daemon_never_exits(
    tmp_path: Path,
    fake_x: FakeXApi,
    sdk_relay: str,
    pypi_relay_process: RelayProcess,
    daemons: list[DaemonProc],
) -> None:
    world = fake_x.world
    users = SMALL_USERS
    for uid, _ in users:
        world.hold_back(uid, keep=2)
    pypi = pypi_relay_process.url
    pypi_relay_process.stop()  # down for the first part of the run
    fake_x.faults.every_nth_5xx(4)  # 5xx every few requests
    d = DaemonProc(tmp_path, tmp_path / "data", fake_x, [sdk_relay, pypi], [u for _, u in users], poll=1)
    daemons.append(d.start())
    wait_for(lambda: len(tweet_ids_on(sdk_relay)) >= 2 * len(users), 40, "the first tweets", d)
    # a 429 whose reset lies seconds ahead, on the timeline endpoint, while new tweets wait
    fake_x.faults.fail_429(times=1, reset_in=3.0, endpoint=TIMELINE)
    released = set()
    for uid, _ in users:
        released.update(world.release(uid, 3))
    time.sleep(2)
    pypi_relay_process.start()  # the relay comes back
    everything = {t for uid, _ in users for t in world.timeline(uid)}
    wait_for(lambda: everything <= tweet_ids_on(sdk_relay), 40, "every tweet on the first relay", d)
    wait_for(lambda: everything <= tweet_ids_on(pypi), 60, "every tweet on the relay that was down", d)
    assert d.alive()
    # the 429 was waited out: no timeline request before its reset
    timeline = fake_x.requests_to(TIMELINE)
    limited = [r for r in timeline if r.status == 429]
    assert limited, "the injected 429 was never hit"
    for hit in limited:
        reset = int(hit.headers["x-rate-limit-reset"])
        later = [r for r in timeline if r.time > hit.time]
        assert later, "nothing was fetched after the 429"
        assert all(r.time >= reset for r in later), [(r.time, reset) for r in later if r.time < reset]
    assert any(r.status >= 500 for r in fake_x.requests), "no 5xx was injected"
    assert d.stop() == 0
    assert len(event_ids(pypi)) == len(tweet_ids_on(pypi))  # no duplicates
    all_files_parse(tmp_path / "data")


def test_sigterm_during_publishing_exits_0_and_a_restart_completes(
    tmp_path: Path, fake_x: FakeXApi, sdk_relay: str, daemons: list[DaemonProc]
) -> None:
    data = tmp_path / "data"
    users = [PHILLY_USERNAME, BIG_TIMELINE_USERNAME]
    expected = {t for uid in (PHILLY_USER_ID, BIG_TIMELINE_USER_ID) for t in fake_x.world.timeline(uid)[:60]}
    d = DaemonProc(tmp_path, data, fake_x, [sdk_relay], users, poll=2, backfill=60)
    daemons.append(d.start())

    def records() -> int:
        return tweet_record_count(data)

    deadline = time.monotonic() + 60
    while records() < 5 and time.monotonic() < deadline:
        time.sleep(0.002)
    d.signal(signal.SIGTERM)
    code = d.wait(15)
    # "daemon stopped": the graceful shutdown ran to its end, not the watchdog's hard exit (also 0)
    assert code == 0 and "daemon stopped" in messages(d), d.log_text()[-2000:]
    all_files_parse(data)
    restart = DaemonProc(tmp_path, data, fake_x, [sdk_relay], users, poll=2, backfill=60)
    daemons.append(restart)
    run_until_published(restart, sdk_relay, expected, 60)


def test_shutdown_gives_in_flight_work_10_s_then_exits_0(
    tmp_path: Path, fake_x: FakeXApi, sdk_relay: str, daemons: list[DaemonProc]
) -> None:
    user = SMALL_USERS[0][1]
    # -v: the loop's "poll starts" / "poll ends" lines
    d = DaemonProc(tmp_path, tmp_path / "data", fake_x, [sdk_relay], [user], poll=1, extra=["-v"])
    daemons.append(d.start())
    wait_for(lambda: len(d.stats()) >= 1, 30, "the loop to run", d)
    hang_poll_on_x(fake_x, d)
    d.signal(signal.SIGTERM)
    assert d.wait(15) == 0, d.log_text()[-3000:]
    fake_x.faults.latency(0)
    # The daemon's own account (how long it waits is the runner's unit test, on a manual clock): it
    # gave the work in flight 10 s, cancelled the hung poll, and ended its shutdown itself; the
    # watchdog's hard exit (also 0, at 10 + 1.5 s) logs no "daemon stopped".
    lines = d.lines()
    said = [str(line.get("message", "")) for line in lines]
    assert "SIGTERM: stopping; in-flight work has 10 s to finish (send it again to exit at once)" in said
    stopping = next(i for i, m in enumerate(said) if m.startswith("stopping: "))
    assert said[stopping].endswith(" task(s) in flight get up to 10 s to finish"), said[stopping]
    cancelled = said.index("stopped 1 unfinished task(s); they resume at the next start")
    assert stopping < cancelled < said.index("daemon stopped"), said[stopping:]
    # the hung poll began before the signal and ended (its cancellation) between those two lines
    starts = [i for i, line in enumerate(lines) if line.get("action") == "poll_start"]
    ends = [i for i, line in enumerate(lines) if line.get("action") == "poll_end"]
    assert starts[-1] < stopping < ends[-1] < cancelled, said[starts[-1] :]
    # and it was not counted as done: every poll before it was, it was not
    final = d.stats()[-1]["users"]
    assert sum(u["polls"] for u in final.values()) == len(starts) - 1, final


def test_second_signal_exits_at_once(
    tmp_path: Path, fake_x: FakeXApi, sdk_relay: str, daemons: list[DaemonProc]
) -> None:
    d = DaemonProc(tmp_path, tmp_path / "data", fake_x, [sdk_relay], [SMALL_USERS[0][1]], poll=1)
    daemons.append(d.start())
    wait_for(lambda: len(d.stats()) >= 1, 30, "the loop to run", d)
    hang_poll_on_x(fake_x, d)
    d.signal(signal.SIGINT)
    wait_for(lambda: any(m.startswith("stopping: ") for m in messages(d)), 10, "the shutdown to begin", d)
    d.signal(signal.SIGINT)  # during the grace: the hung poll keeps the daemon from exiting before it ends
    # 130 comes only from the second signal's exit: the graceful end and the watchdog both exit 0
    assert d.wait(15) == 128 + signal.SIGINT, d.log_text()[-3000:]
    fake_x.faults.latency(0)
    said = messages(d)
    assert "SIGINT again: exiting now" in said
    assert "daemon stopped" not in said  # it did not wait for the in-flight poll
    all_files_parse(tmp_path / "data")


def test_config_file_with_per_user_overrides_and_a_flag_over_it(
    tmp_path: Path, fake_x: FakeXApi, sdk_relay: str, pypi_relay: str, daemons: list[DaemonProc]
) -> None:
    from tests.fakes.nostr_helpers import random_key

    world = fake_x.world
    who_id, who = SMALL_USERS[0]  # WhoDisTweet: replies and plain tweets
    sc_id, sc = SMALL_USERS[1]  # SportsCenter
    key = random_key()
    key_file = tmp_path / "who.key"
    key_file.write_text(key.secret.reveal() + "\n")
    config = tmp_path / "daemon.toml"
    config.write_text(
        f"""
[daemon]
users = ["{who}", "{sc}"]
poll_interval = 500
stats_interval = 1

[nostr]
relays = ["{sdk_relay}"]

[users.{who.lower()}]
relays = ["{pypi_relay}"]
skip_replies = true
key_file = "{key_file}"
"""
    )
    d = DaemonProc(tmp_path, tmp_path / "data", fake_x, [], [], poll=1, config=config)
    daemons.append(d.start())
    who_plain = {t for t in world.timeline(who_id) if not world.tweets[t].get("referenced_tweets")}
    who_replies = set(world.timeline(who_id)) - who_plain
    assert who_plain and who_replies
    sc_all = set(world.timeline(sc_id))
    wait_for(lambda: sc_all <= tweet_ids_on(sdk_relay), 40, "SportsCenter on the global relay", d)
    wait_for(lambda: who_plain <= tweet_ids_on(pypi_relay), 40, "WhoDisTweet on its own relay", d)
    wait_for(lambda: len(d.stats()) >= 3, 10, "stats", d)
    assert d.stats()[-1]["poll_interval"] == 1  # the flag beat the file's 500
    assert d.stop() == 0
    on_pypi, on_sdk = tweet_ids_on(pypi_relay), tweet_ids_on(sdk_relay)
    assert not on_pypi & sc_all and not on_sdk & (who_plain | who_replies)
    assert not on_pypi & who_replies  # skip_replies
    who_events = [e for e in query_events(pypi_relay) if any(t[0] == "r" for t in e.tags)]
    assert who_events and {e.pubkey for e in who_events} == {key.pubkey_hex}  # the fixed key
