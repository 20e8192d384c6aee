"""The daemon's per-user rows in the state: poll state and schedule kept apart, on both backends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nostrweet.daemon.state import UserStates, first_run_state
from nostrweet.state.engine import State, open_state
from nostrweet.state.users import UserRepo, UserRow


@pytest.fixture
def states(state_url: str) -> Iterator[UserStates]:
    state: State = open_state(state_url)
    try:
        yield UserStates(UserRepo(state))
    finally:
        state.close()


def test_poll_state_roundtrip_keeps_the_schedule(states: UserStates) -> None:
    assert states.load("Alice") is None
    states.save_schedule("alice", next_poll=1234.5, failures=3, backoff=240.0)
    assert states.load("alice") is None  # a row without a user id holds no poll state
    target = first_run_state("42", [5, 4, 3], backfill=2)
    states.save("Alice", target)
    assert states.load("ALICE") == target
    row = states.repo.load("alice")
    assert row is not None
    assert (row.next_poll, row.failures, row.backoff) == (1234, 3, 240.0)
    states.save_schedule("alice", next_poll=None, failures=0, backoff=0.0)
    assert states.load("alice") == target  # the schedule's write keeps the watermark


def test_pause_flag_survives_both_writes(states: UserStates) -> None:
    states.repo.save(UserRow(username="bob", paused=True))
    states.save("bob", first_run_state("7", [9], backfill=1))
    states.save_schedule("bob", next_poll=5, failures=1, backoff=60.0)
    row = states.repo.load("bob")
    assert row is not None and row.paused and row.since_id == "8"


def test_update_writes_only_its_columns_and_creates_a_missing_row(states: UserStates) -> None:
    repo = states.repo
    repo.update("Carol", paused=True)  # the admin API's pause of a user never polled
    row = repo.load("carol")
    assert row is not None and row.paused and row.since_id is None and row.backfill_done
    states.save("carol", first_run_state("9", [20, 19], backfill=2))
    repo.update("carol", added_at_runtime=True)
    row = repo.load("carol")
    assert row is not None and row.paused and row.added_at_runtime and row.user_id == "9"
    with pytest.raises(ValueError, match="not columns"):
        repo.update("carol", nonsense=1)
