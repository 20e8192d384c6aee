"""Leases over simulated instances with an injected clock, on both backends: each user held by one
instance, spread evenly, taken over after expiry, handed back on a clean stop."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from nostrweet.state.engine import State, open_state
from nostrweet.state.leases import Leases, fair_share

LEASE = 30
USERS = [f"user{n:02d}" for n in range(30)]
T0 = 1_700_000_000


@pytest.mark.parametrize(
    ("users", "live", "share"),
    [(30, 1, 30), (30, 2, 15), (30, 3, 10), (30, 4, 8), (10, 3, 4), (0, 3, 0), (5, 0, 5)],
)
def test_fair_share(users: int, live: int, share: int) -> None:
    assert fair_share(users, live) == share


@pytest.fixture
def state(state_url: str) -> Iterator[State]:
    opened = open_state(state_url)
    yield opened
    opened.close()


def instances(state: State, n: int) -> list[Leases]:
    return [Leases(state, "abcd"[k], pid=1000 + k, host="h", lease_seconds=LEASE) for k in range(n)]


def rounds(group: list[Leases], now: int, times: int = 2) -> dict[str, list[str]]:
    held: dict[str, list[str]] = {}
    for _ in range(times):
        for inst in group:
            held[inst.instance_id] = inst.balance(USERS, now)
    return held


def check_exclusive(state: State, held: dict[str, list[str]], now: int) -> None:
    owners = Counter(u for users in held.values() for u in users)
    assert all(n == 1 for n in owners.values()), owners
    assert set(owners) == set(USERS)
    holders = Leases(state, "observer", pid=0, host="h").holders(now)
    assert holders == {u: i for i, users in held.items() for u in users}


@pytest.mark.parametrize("count", [2, 3])
def test_instances_split_users_evenly_and_exclusively(state: State, count: int) -> None:
    group = instances(state, count)
    for inst in group:
        inst.heartbeat(T0)
    held = rounds(group, T0)
    check_exclusive(state, held, T0)
    assert max(len(u) for u in held.values()) == fair_share(len(USERS), count)
    assert min(len(u) for u in held.values()) >= len(USERS) // count - 1


def test_first_instance_takes_all_then_hands_over_as_others_join(state: State) -> None:
    a, b, c = instances(state, 3)
    assert a.balance(USERS, T0) == sorted(USERS)
    b.heartbeat(T0 + 1)
    c.heartbeat(T0 + 1)
    held = rounds([a, b, c], T0 + 2)
    check_exclusive(state, held, T0 + 2)
    assert sorted(len(u) for u in held.values()) == [10, 10, 10]


def test_users_of_a_dead_instance_are_taken_over_after_expiry(state: State) -> None:
    a, b, c = instances(state, 3)
    for inst in (a, b, c):
        inst.heartbeat(T0)
    held = rounds([a, b, c], T0)
    dead = held["c"]
    # c stops renewing; before its leases expire nobody takes its users
    t = T0 + LEASE - 1
    for inst in (a, b):
        inst.balance(USERS, t)
    assert set(c.held(t)) == set(dead)
    assert not set(a.held(t)) & set(dead) and not set(b.held(t)) & set(dead)
    # once they expire (and c no longer counts as live) a and b share everything
    t = T0 + LEASE + 1
    held = rounds([a, b], t)
    check_exclusive(state, held, t)
    assert sorted(len(u) for u in held.values()) == [15, 15]


def test_release_hands_users_back_at_once(state: State) -> None:
    a, b = instances(state, 2)
    a.heartbeat(T0)
    b.heartbeat(T0)
    rounds([a, b], T0)
    b.release()
    assert b.held(T0) == []
    held = rounds([a], T0 + 1)  # well before b's leases would have expired
    assert held["a"] == sorted(USERS)


def test_a_fourth_instance_spreads_the_users_again(state: State) -> None:
    group = instances(state, 3)
    for inst in group:
        inst.heartbeat(T0)
    rounds(group, T0)
    group += instances(state, 4)[3:]
    group[3].heartbeat(T0 + 1)
    held = rounds(group, T0 + 2, times=3)
    check_exclusive(state, held, T0 + 2)
    assert max(len(u) for u in held.values()) == 8 and min(len(u) for u in held.values()) >= 6


def test_concurrent_balancing_keeps_the_split_exact(state: State) -> None:
    """Three instances balance at the same moment from three threads, many rounds: no user is lost and
    none is counted by two instances."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    group = instances(state, 3)
    for inst in group:
        inst.heartbeat(T0)
    barrier = threading.Barrier(3)

    def run(inst: Leases) -> list[str]:
        held: list[str] = []
        for _ in range(4):
            barrier.wait()
            held = inst.balance(USERS, T0)
        return held

    with ThreadPoolExecutor(3) as pool:
        results = dict(zip("abc", pool.map(run, group), strict=True))
    check_exclusive(state, results, T0)
    assert sorted(len(u) for u in results.values()) == [10, 10, 10]


def test_a_user_being_polled_is_not_handed_over_until_its_poll_ends(state: State) -> None:
    a, b = instances(state, 2)
    assert a.balance(USERS, T0) == USERS  # alone: all 30
    b.balance(USERS, T0 + 1)  # joins: nothing free yet
    busy = set(USERS[-12:])  # the users a is polling right now: above its new share of 15
    kept = a.balance(USERS, T0 + 2, busy=busy)
    assert busy <= set(kept) and len(kept) == 15
    taken = b.balance(USERS, T0 + 3)
    assert not set(taken) & set(kept)
    after = a.balance(USERS, T0 + 4)  # the polls ended: no longer kept above the share
    assert len(after) == 15 and not set(after) & set(taken)
    assert sorted(b.balance(USERS, T0 + 5) + after) == USERS


def test_another_live_process_with_the_same_instance_id_is_found(state: State) -> None:
    mine = Leases(state, "node", pid=1, host="h", lease_seconds=LEASE)
    assert mine.other_holder(T0) is None
    mine.heartbeat(T0)
    assert mine.other_holder(T0 + 1) is None  # itself
    twin = Leases(state, "node", pid=2, host="h", lease_seconds=LEASE)
    assert twin.other_holder(T0 + 1) == ("h", 1)
    assert twin.other_holder(T0 + LEASE + 1) is None  # its heartbeat ran out: a restart after a crash
    mine.release()
    assert twin.other_holder(T0 + 1) is None
