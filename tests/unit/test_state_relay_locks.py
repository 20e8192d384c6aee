"""Each relay's outbox is worked by one instance at a time (SPEC §7, ``state/relay_locks.py``).

Every claimant here has its own engine (its own connections), as separate instances do: two claimants on
one PostgreSQL database never hold the same relay at once, a holder that dies (SIGKILL) frees its relays,
and a holder whose connection is cut sees it. On SQLite every relay is held.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nostrweet.cache.layout import EventSubject
from nostrweet.nostr.record import EventRecord, RelayState
from nostrweet.state.engine import State, open_state
from nostrweet.state.records import RecordRepo
from nostrweet.state.relay_locks import OUTBOX_LOCK_CLASS, RelayLocks, relay_lock_key

R1, R2, R3 = "wss://one.example", "wss://two.example", "wss://three.example"
NOW = 1_700_000_000.0
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def states(state_url: str) -> Iterator[list[State]]:
    """Four claimants' states on one database (each its own engine)."""
    opened = [open_state(state_url) for _ in range(4)]
    yield opened
    for s in opened:
        s.close()


@pytest.fixture
def pg_states(pg_url: str) -> Iterator[list[State]]:
    opened = [open_state(pg_url) for _ in range(4)]
    yield opened
    for s in opened:
        s.close()


@given(st.text(min_size=1, max_size=200))
def test_the_lock_key_is_a_stable_int4(url: str) -> None:
    key = relay_lock_key(url)
    assert -(2**31) <= key < 2**31
    assert key == relay_lock_key(url)


def test_relays_have_distinct_keys() -> None:
    assert len({relay_lock_key(u) for u in (R1, R2, R3, R1 + "/")}) == 4


def test_a_lone_claimant_holds_every_relay(states: list[State]) -> None:
    with RelayLocks(states[0]).hold([R1, R2, R1]) as hold:
        assert hold.relays == [R1, R2] and hold.busy == []
        assert hold.alive()
    with RelayLocks(states[0]).hold([]) as hold:
        assert hold.relays == []


def test_a_held_relay_is_skipped_by_another_claimant_until_released(pg_states: list[State]) -> None:
    a, b = RelayLocks(pg_states[0], name="a"), RelayLocks(pg_states[1], name="b")
    with a.hold([R1, R2]) as held_a:
        assert held_a.relays == [R1, R2]
        with b.hold([R1, R2, R3]) as held_b:
            assert held_b.relays == [R3] and held_b.busy == [R1, R2]
    with b.hold([R1, R2, R3]) as held_b:
        assert held_b.relays == [R1, R2, R3]


def test_an_error_in_the_pass_releases_the_relays(pg_states: list[State]) -> None:
    a, b = RelayLocks(pg_states[0]), RelayLocks(pg_states[1])
    with pytest.raises(RuntimeError), a.hold([R1]):
        raise RuntimeError("the pass failed")
    with b.hold([R1]) as hold:
        assert hold.relays == [R1]


def test_two_claimants_never_get_one_relays_rows_at_once(pg_states: list[State]) -> None:
    """Four claimants (as four instances) work the due rows of three relays, built by "another instance",
    over and over: a row (event, relay) is never in two claimants' hands at once."""
    relays = [R1, R2, R3]
    RecordRepo(pg_states[0]).save_many(record(n, relays) for n in range(1, 6))
    working: dict[tuple[str, str], str] = {}
    clashes: list[str] = []
    worked: dict[str, set[str]] = {r: set() for r in relays}
    guard = threading.Lock()
    start = threading.Barrier(len(pg_states))

    def claimant(name: str, state: State) -> None:
        locks, repo = RelayLocks(state, name=name), RecordRepo(state)
        start.wait()
        for _ in range(40):
            with locks.hold(relays) as hold:
                rows = [(r.event_id, relay) for relay in hold.relays for r in repo.pending(NOW, [relay])]
                with guard:
                    for row in rows:
                        if row in working:
                            clashes.append(f"{row}: {working[row]} and {name}")
                        working[row] = name
                    for relay in hold.relays:
                        worked[relay].add(name)
                time.sleep(0.002)
                with guard:
                    for row in rows:
                        del working[row]

    threads = [threading.Thread(target=claimant, args=(f"i{k}", s)) for k, s in enumerate(pg_states)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert clashes == []
    assert all(worked[r] for r in relays)  # every relay was worked, by someone
    assert len(set().union(*worked.values())) > 1  # and the claimants did meet


def record(n: int, relays: list[str]) -> EventRecord:
    event = {
        "id": f"{n:064x}",
        "pubkey": "ab" * 32,
        "kind": 1,
        "created_at": 1_600_000_000 + n,
        "tags": [],
        "content": f"tweet {n}",
        "sig": "cd" * 64,
    }
    return EventRecord(event, EventSubject.TWEET, str(n), {r: RelayState() for r in relays}, str(n))


HOLDER = """
import sys, time
from nostrweet.state.engine import open_state
from nostrweet.state.relay_locks import RelayLocks
state = open_state(sys.argv[1])
with RelayLocks(state, name="doomed").hold(sys.argv[2:]) as hold:
    print(" ".join(hold.relays), flush=True)
    time.sleep(600)
"""


def test_the_relays_of_a_holder_killed_with_sigkill_are_taken_over(
    pg_url: str, pg_states: list[State]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOSTRWEET_")}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, pg_url, R1, R2], stdout=subprocess.PIPE, text=True, env=env, cwd=REPO
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().split() == [R1, R2]
        other = RelayLocks(pg_states[0], name="survivor")
        with other.hold([R1, R2, R3]) as hold:
            assert hold.relays == [R3]
        # the holder shows up in pg_stat_activity, by name
        with psycopg.connect(pg_url) as conn:
            names = conn.execute(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                "WHERE l.locktype = 'advisory' AND l.classid = %s",
                (OUTBOX_LOCK_CLASS,),
            ).fetchall()
        assert {n for (n,) in names} == {"nostrweet doomed"}
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 20
        got: list[str] = []
        while time.monotonic() < deadline:  # the server ends the dead client's session, then frees its locks
            with other.hold([R1, R2, R3]) as hold:
                got = hold.relays
            if got == [R1, R2, R3]:
                break
            time.sleep(0.05)
        assert got == [R1, R2, R3]
    finally:
        proc.kill()
        proc.wait(10)


def test_a_holder_whose_connection_is_cut_stops(pg_url: str, pg_states: list[State]) -> None:
    with RelayLocks(pg_states[0], name="cut").hold([R1]) as hold:
        assert hold.alive()
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'nostrweet cut'"
            )
        assert not hold.alive()
        with RelayLocks(pg_states[1]).hold([R1]) as other:
            assert other.relays == [R1]
    with RelayLocks(pg_states[0]).hold([R1]) as again:  # the broken connection did not go back to the pool
        assert again.relays == [R1] and again.alive()
