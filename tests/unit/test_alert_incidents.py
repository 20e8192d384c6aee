"""The pure incident tracker (SPEC §9): one message per incident, one when it is resolved."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nostrweet.alerts.incidents import Observation, Thresholds, TrackerState, Transition, step

T = Thresholds(user_failures=3, relay_down_seconds=60, outbox_age_seconds=100)
R = "wss://relay.example"


def run(observations: Sequence[Observation], thresholds: Thresholds = T) -> list[Transition]:
    state = TrackerState()
    out: list[Transition] = []
    for obs in observations:
        state, transitions = step(state, obs, thresholds)
        out.extend(transitions)
    return out


def changes(transitions: Sequence[Transition]) -> list[tuple[str, str, str]]:
    return [(t.change, t.incident.kind, t.incident.subject) for t in transitions]


CASES = [
    pytest.param(
        [Observation(0, user_failures={"jack": n}) for n in (1, 2, 3, 4, 5)]
        + [Observation(9, user_failures={"jack": 0})],
        [("open", "user", "jack"), ("resolved", "user", "jack")],
        id="user fails 5 times then recovers: one open at the 3rd, one resolved",
    ),
    pytest.param(
        [Observation(0, user_failures={"jack": 2}), Observation(1, user_failures={"jack": 0})],
        [],
        id="user below the threshold: nothing",
    ),
    pytest.param(
        [Observation(t, relays_connected={R: False}) for t in (0, 30, 59)],
        [],
        id="relay down less than the threshold: nothing",
    ),
    pytest.param(
        [Observation(t, relays_connected={R: False}) for t in (0, 30, 60, 500)]
        + [Observation(501, relays_connected={R: True})],
        [("open", "relay", R), ("resolved", "relay", R)],
        id="relay down past the threshold, then up",
    ),
    pytest.param(
        [
            Observation(0, relays_connected={R: False}),
            Observation(30, relays_connected={R: True}),
            Observation(40, relays_connected={R: False}),
            Observation(90, relays_connected={R: False}),
        ],
        [],
        id="flapping relay: down time restarts when it comes back",
    ),
    pytest.param(
        [Observation(0, x_auth_error="HTTP 401"), Observation(1, x_auth_error="HTTP 401"), Observation(2)],
        [("open", "x_auth", ""), ("resolved", "x_auth", "")],
        id="X answers 401 twice, then works",
    ),
    pytest.param(
        [
            Observation(0, outbox_oldest_age=99),
            Observation(5, outbox_oldest_age=104),
            Observation(6, outbox_oldest_age=200),
            Observation(7, outbox_oldest_age=None),
        ],
        [("open", "outbox", ""), ("resolved", "outbox", "")],
        id="outbox age passes the threshold, then empties",
    ),
    pytest.param(
        [Observation(0, stopping="RuntimeError: boom"), Observation(1)],
        [("open", "stopped", "")],
        id="stopping is never resolved",
    ),
    pytest.param(
        [
            Observation(0, relays_connected={R: False}),
            Observation(70, relays_connected={R: False}),
            Observation(71, relays_connected={}),
        ],
        [("open", "relay", R), ("resolved", "relay", R)],
        id="a relay no longer observed resolves its incident",
    ),
]


@pytest.mark.parametrize(("observations", "expected"), CASES)
def test_transitions(observations: list[Observation], expected: list[tuple[str, str, str]]) -> None:
    assert changes(run(observations)) == expected


def test_titles_name_the_user_or_relay_and_bodies_say_how_long() -> None:
    out = run([Observation(0, relays_connected={R: False}), Observation(120, relays_connected={R: False})])
    out += run([Observation(0, user_failures={"jack": 3}), Observation(4000, user_failures={"jack": 0})])
    titles = [t.title for t in out]
    assert titles == [
        f"nostrweet: relay {R} is down",
        "nostrweet: @jack: polls keep failing",
        "nostrweet: @jack: polls work again",
    ]
    assert out[0].body == "not connected for 2 min"
    assert out[2].body.startswith("resolved after 66 min")


def test_two_users_two_incidents() -> None:
    out = run(
        [Observation(0, user_failures={"a": 3, "b": 3}), Observation(1, user_failures={"a": 0, "b": 4})]
    )
    assert changes(out) == [("open", "user", "a"), ("open", "user", "b"), ("resolved", "user", "a")]


rounds = st.lists(
    st.tuples(
        st.integers(0, 6),  # failures of one user
        st.booleans(),  # relay connected
        st.booleans(),  # X auth error
        st.one_of(st.none(), st.floats(0, 300)),  # outbox age
        st.integers(1, 50),  # seconds to the next round
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(rounds)
def test_opens_and_resolves_alternate_per_incident(
    seq: list[tuple[int, bool, bool, float | None, int]],
) -> None:
    """For every incident: open, resolved, open, … (never two opens or two resolves in a row), and the
    open set after the last round is exactly what the last observation calls for."""
    now = 0.0
    state = TrackerState()
    history: dict[tuple[str, str], list[str]] = {}
    for failures, up, auth, age, gap in seq:
        obs = Observation(
            now,
            user_failures={"u": failures},
            relays_connected={R: up},
            x_auth_error="401" if auth else None,
            outbox_oldest_age=age,
        )
        state, transitions = step(state, obs, T)
        for t in transitions:
            history.setdefault(t.incident.key, []).append(t.change)
        now += gap
        if failures >= T.user_failures:
            assert ("user", "u") in state.open
        else:
            assert ("user", "u") not in state.open
        assert (("x_auth", "") in state.open) == auth
        if up:
            assert ("relay", R) not in state.open
    for changes_of_one in history.values():
        assert changes_of_one[0] == "open"
        assert all(a != b for a, b in itertools.pairwise(changes_of_one))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 10), min_size=1, max_size=30))
def test_same_observation_twice_sends_nothing_new(failures: list[int]) -> None:
    state = TrackerState()
    for i, n in enumerate(failures):
        obs = Observation(float(i), user_failures={"u": n})
        state, _ = step(state, obs, T)
        state, again = step(state, obs, T)
        assert again == []
