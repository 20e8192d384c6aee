"""The outbox of a dead instance is worked by another one (SPEC §7): real daemons, one PostgreSQL state,
the fake X API, two real relays.

Instance A watches one user and publishes to two relays, one of them down: its events are recorded,
accepted by the first relay and ``pending`` for the second. A is killed with SIGKILL. The second relay
comes up, and instance B starts on the same state, watching OTHER users (so no poll of B ever touches
A's tweets, and B's data directory holds none of them). B's outbox sends A's recorded events, signed by
A, to the relay: it holds each of them exactly once.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from sqlalchemy import select

from nostrweet.state.engine import open_state
from nostrweet.state.schema import events, relay_states
from tests.fakes.relay_fixtures import SdkRelay
from tests.fakes.x_api import FakeXApi
from tests.integration.test_daemon import (
    SMALL_USERS,
    TIMELINE,
    DaemonProc,
    daemons,  # noqa: F401 (a fixture)
    query_events,
    tweet_ids_on,
    wait_for,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def late_relay() -> Iterator[SdkRelay]:
    """A relay whose port is known but that does not serve until the test starts it."""
    relay = SdkRelay()
    yield relay
    relay.close()


def relay_rows(url: str, relay: str) -> dict[str, tuple[str, dict[str, object]]]:
    """event id -> (status on ``relay``, the recorded event) of every kind 1/6 record."""
    state = open_state(url, migrate=False)
    try:
        query = (
            select(events.c.event_id, events.c.event_json, relay_states.c.status)
            .join(relay_states, relay_states.c.event_id == events.c.event_id)
            .where(relay_states.c.relay == relay, events.c.kind.in_([1, 6]))
        )
        with state.engine.connect() as conn:
            return {r.event_id: (r.status, msgspec.json.decode(r.event_json)) for r in conn.execute(query)}
    finally:
        state.close()


def test_a_dead_instances_pending_events_are_sent_by_another(
    tmp_path: Path,
    fake_x: FakeXApi,
    sdk_relay: str,
    late_relay: SdkRelay,
    pg_url: str,
    daemons: list[DaemonProc],  # noqa: F811
) -> None:
    (a_uid, a_user), *others = SMALL_USERS
    relays = [sdk_relay, late_relay.url]
    extra = ["-v", "--state-url", pg_url]
    a = DaemonProc(
        tmp_path, tmp_path / "a", fake_x, relays, [a_user], poll=2, extra=[*extra, "--instance-id", "a"]
    )
    daemons.append(a.start())
    expected = set(fake_x.world.timeline(a_uid))
    assert expected
    wait_for(lambda: expected <= tweet_ids_on(sdk_relay), 60, "A's tweets on the first relay", a)

    def pending_on_late() -> bool:
        rows = relay_rows(pg_url, late_relay.url)
        return len(rows) >= len(expected) and all(status == "pending" for status, _ in rows.values())

    wait_for(pending_on_late, 30, "A's records pending for the relay that is down", a)
    a.kill()
    killed_at = time.time()
    recorded = relay_rows(pg_url, late_relay.url)

    late_relay.start()
    b = DaemonProc(
        tmp_path,
        tmp_path / "b",
        fake_x,
        relays,
        [name for _, name in others],
        poll=2,
        extra=[*extra, "--instance-id", "b"],
    )
    daemons.append(b.start())
    wait_for(lambda: expected <= tweet_ids_on(late_relay.url), 60, "A's events on the relay, sent by B", b)
    wait_for(
        lambda: all(s == "accepted" for s, _ in relay_rows(pg_url, late_relay.url).values()),
        30,
        "the relay's answers recorded",
        b,
    )
    assert b.stop() == 0, b.log_text()[-3000:]

    # the relay holds the very events A signed and recorded, each exactly once
    held = Counter(e.id for e in query_events(late_relay.url))
    assert {event_id: held[event_id] for event_id in recorded} == dict.fromkeys(recorded, 1)
    on_relay = [e for e in query_events(late_relay.url) if e.id in recorded]
    per_tweet = Counter(tag[1].rsplit("/", 1)[1] for e in on_relay for tag in e.tags if tag[0] == "proxy")
    assert expected <= set(per_tweet) and max(per_tweet.values()) == 1, per_tweet
    # B never polled A's user, and holds none of its tweets: it was B's outbox
    b_files = {p.name for p in (tmp_path / "b").rglob("*.json")}
    assert not {name for name in b_files for tid in expected if name.endswith(f"_{tid}.json")}
    assert not [r for r in fake_x.requests_to(TIMELINE) if a_uid in r.path and r.time > killed_at]
    assert "re-sent" in b.log_text()
