"""Several daemon instances sharing one PostgreSQL state (SPEC §7): real CLI subprocesses, the fake X API,
two real relays.

- every tweet reaches both relays exactly once, whichever instance polled its user;
- no user is polled by two instances at once (each instance logs its polls' start and end at debug level;
  the spans of one user never overlap across instances);
- the users spread evenly over the live instances, and again when one dies or joins;
- SIGKILL one instance: its users are taken over after the lease runs out, nothing lost or duplicated;
- SIGTERM hands its users back at once;
- the X budget is shared: the fake never answers 429 (``over_budget``), whatever the instances do together.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from nostrweet.state.engine import open_state
from nostrweet.state.schema import leases
from tests.fakes.x_api import FakeXApi
from tests.integration.test_daemon import (
    TIMELINE,
    DaemonProc,
    daemons,  # noqa: F401 (a fixture)
    event_ids,
    query_events,
    tweet_ids_on,
    wait_for,
)

pytestmark = pytest.mark.integration

USERS = 30
LEASE = 6  # [state] lease_seconds: short, so a take-over fits in a test


def holders(url: str) -> dict[str, str]:
    """username -> instance id of every lease not run out."""
    state = open_state(url, migrate=False)
    try:
        with state.engine.connect() as conn:
            rows = conn.execute(select(leases.c.username, leases.c.instance_id, leases.c.expires_at)).all()
    finally:
        state.close()
    now = time.time()
    return {r.username: r.instance_id for r in rows if r.expires_at > now}


def spread(url: str) -> Counter[str]:
    return Counter(holders(url).values())


def poll_spans(
    procs: Iterable[tuple[str, DaemonProc, float | None]],
) -> dict[str, list[tuple[float, float, str]]]:
    """Per user, the (start, end, instance) of every poll in the instances' logs; a poll cut short by a
    SIGKILL ends at the kill."""
    spans: dict[str, list[tuple[float, float, str]]] = {}
    for name, proc, killed_at in procs:
        started: dict[str, float] = {}
        for line in proc.lines():
            action, user = line.get("action"), line.get("user")
            if action not in ("poll_start", "poll_end") or not isinstance(user, str):
                continue
            stamp = datetime.fromisoformat(str(line["ts"]).replace("Z", "+00:00")).timestamp()
            if action == "poll_start":
                started[user] = stamp
            elif user in started:
                spans.setdefault(user, []).append((started.pop(user), stamp, name))
        for user, begin in started.items():
            spans.setdefault(user, []).append((begin, killed_at or time.time(), name))
    return spans


def overlaps(spans: dict[str, list[tuple[float, float, str]]]) -> list[str]:
    """Every pair of polls of one user by two instances whose spans overlap."""
    found = []
    for user, items in spans.items():
        for s1, e1, a in items:
            for s2, e2, b in items:
                if a < b and s1 < e2 and s2 < e1:
                    found.append(f"@{user}: {a} {s1:.3f}-{e1:.3f} and {b} {s2:.3f}-{e2:.3f}")
    return found


def test_instances_share_the_users_and_the_budget(
    tmp_path: Path,
    fake_x: FakeXApi,
    sdk_relay: str,
    pypi_relay: str,
    pg_url: str,
    daemons: list[DaemonProc],  # noqa: F811
) -> None:
    world = fake_x.world
    names = world.add_synthetic_users(USERS, tweets_each=6)
    ids = {n: world.user_by_username(n)["id"] for n in names}  # type: ignore[index]
    for uid in ids.values():
        world.hold_back(uid, keep=2)
    fake_x.set_limit(TIMELINE, 300, window_seconds=20)
    config = tmp_path / "nostrweet.toml"
    config.write_text(f"[state]\nlease_seconds = {LEASE}\n")
    relays = [sdk_relay, pypi_relay]

    def instance(k: int) -> DaemonProc:
        extra = ["-v", "--state-url", pg_url, "--instance-id", f"i{k}"]
        proc = DaemonProc(
            tmp_path, tmp_path / f"data{k}", fake_x, relays, names, poll=2, extra=extra, config=config
        )
        daemons.append(proc)
        return proc

    def on_both(expected: set[str]) -> bool:
        return expected <= tweet_ids_on(sdk_relay) and expected <= tweet_ids_on(pypi_relay)

    first = [instance(k).start() for k in (1, 2, 3)]
    expected = {t for uid in ids.values() for t in world.timeline(uid)}
    wait_for(lambda: on_both(expected), 120, "the backfill of 30 users on both relays", first[0])
    wait_for(lambda: sorted(spread(pg_url).values()) == [10, 10, 10], 60, "10 users per instance", first[0])
    # new tweets: whoever holds a user publishes them
    for uid in ids.values():
        expected.update(world.release(uid, 1))
    wait_for(lambda: on_both(expected), 60, "the first new tweets", first[0])

    # SIGKILL one instance: its users are taken over once their leases run out
    one, two, three = first
    theirs = {u for u, i in holders(pg_url).items() if i == "i1"}
    assert len(theirs) == 10
    one.kill()
    killed_at = time.time()
    for uid in ids.values():
        expected.update(world.release(uid, 1))
    wait_for(lambda: on_both(expected), 90, "the new tweets after a kill", two)
    wait_for(lambda: sorted(spread(pg_url).values()) == [15, 15], 30, "the users spread over two", two)
    assert "i1" not in holders(pg_url)

    # a fourth instance joins: the users spread again
    four = instance(4).start()
    wait_for(
        lambda: spread(pg_url) == Counter({"i2": 10, "i3": 10, "i4": 10}),
        90,
        "the users spread over three",
        four,
    )

    # SIGTERM hands the users back at once
    two.signal(signal.SIGTERM)
    assert two.wait(20) == 0, two.log_text()[-3000:]
    assert "i2" not in holders(pg_url).values()
    wait_for(lambda: sorted(spread(pg_url).values()) == [15, 15], 30, "i2's users taken by the others", three)
    for uid in ids.values():
        expected.update(world.release(uid, 1))
    wait_for(lambda: on_both(expected), 90, "the new tweets after a clean stop", three)

    for proc in (three, four):
        assert proc.stop() == 0, proc.log_text()[-3000:]
    # every tweet on both relays, exactly once
    for relay in relays:
        per_tweet: Counter[str] = Counter()
        for event in query_events(relay):
            for tag in event.tags:
                if tag[0] == "r" and "/status/" in tag[1]:
                    per_tweet[tag[1].rsplit("/", 1)[1]] += 1
        assert expected <= set(per_tweet), relay
        assert max(per_tweet.values()) == 1, relay
        assert len(event_ids(relay)) == len(per_tweet)
    # one instance at a time per user
    procs = [("i1", one, killed_at), ("i2", two, None), ("i3", three, None), ("i4", four, None)]
    spans = poll_spans(procs)
    assert set(spans) == {n.lower() for n in names}
    assert {name for items in spans.values() for _s, _e, name in items} == {"i1", "i2", "i3", "i4"}
    assert overlaps(spans) == []
    # all instances together stayed within the X budget
    statuses = Counter(r.status for r in fake_x.requests)
    assert statuses[429] == 0, statuses
    assert len(fake_x.requests_to(TIMELINE)) > 2 * USERS


def test_a_second_daemon_on_one_sqlite_state_is_refused(
    tmp_path: Path,
    fake_x: FakeXApi,
    sdk_relay: str,
    daemons: list[DaemonProc],  # noqa: F811
) -> None:
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    first = DaemonProc(
        tmp_path,
        tmp_path / "a",
        fake_x,
        [sdk_relay],
        ["WhoDisTweet"],
        extra=["--state-url", url, "--instance-id", "first"],
    )
    daemons.append(first.start())
    wait_for(lambda: bool(first.stats()), 60, "the first daemon running", first)
    second = DaemonProc(
        tmp_path, tmp_path / "b", fake_x, [sdk_relay], ["WhoDisTweet"], extra=["--state-url", url]
    )
    daemons.append(second.start())
    assert second.wait(60) == 1
    errors = [line for line in second.lines() if line.get("level") == "error"]
    assert len(errors) == 1, second.log_text()
    message = errors[0]["message"]
    assert message.startswith("another daemon (first, host ")
    assert f", pid {first.proc.pid}) is running on {url}" in message  # type: ignore[union-attr]
    assert "Traceback" not in second.log_text()
    assert first.alive()
    assert first.stop() == 0


@pytest.mark.parametrize(
    ("spans", "found"),
    [
        ({"u": [(0.0, 2.0, "i1"), (1.0, 3.0, "i2")]}, 1),
        ({"u": [(0.0, 10.0, "i1"), (3.0, 4.0, "i1"), (5.0, 6.0, "i2")]}, 1),  # not only neighbours
        ({"u": [(0.0, 2.0, "i1"), (2.0, 3.0, "i2"), (3.5, 4.0, "i1")]}, 0),
        ({"u": [(0.0, 2.0, "i1")], "v": [(1.0, 3.0, "i2")]}, 0),
    ],
)
def test_overlap_check(spans: dict[str, list[tuple[float, float, str]]], found: int) -> None:
    assert len(overlaps(spans)) == found
