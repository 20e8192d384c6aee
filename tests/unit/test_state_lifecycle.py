"""The lifecycle tables on both backends: fates (a deletion wins over a supersession), kind 5 events
kept once per target with the relays that took them, and one hand-off note per account."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nostrweet.bridge.lifecycle import build_handoff_note, build_retraction
from nostrweet.nostr.event import sign_event
from nostrweet.state.engine import STATE_FILE, State, open_state
from nostrweet.state.lifecycle import (
    DELETED,
    SUPERSEDED,
    LifecycleRepo,
    Retraction,
    TweetFate,
    open_lifecycle_state,
)
from tests.fakes.nostr_helpers import random_key

R1, R2 = "wss://one.example", "wss://two.example"


@pytest.fixture
def repo(state_url: str) -> Iterator[LifecycleRepo]:
    opened: State = open_state(state_url)
    yield LifecycleRepo(opened)
    opened.close()


def test_fates_and_a_deletion_wins(repo: LifecycleRepo) -> None:
    assert repo.fates(["1", "2"]) == {}
    repo.retire([TweetFate("1", SUPERSEDED, "3", 10), TweetFate("2", DELETED, None, 10)])
    repo.retire([TweetFate("1", DELETED, None, 20), TweetFate("2", SUPERSEDED, "4", 20)])
    fates = repo.fates(["1", "2", "5"])
    assert fates["1"].fate == DELETED and fates["1"].successor is None
    assert fates["2"].fate == DELETED  # never back to superseded
    assert repo.fate("5") is None


def test_retractions_once_per_target_and_accepted_relays(repo: LifecycleRepo) -> None:
    key = random_key("9")
    first = sign_event(build_retraction(key.pubkey_hex, "aa" * 32, 1, 100, "gone"), key)
    again = sign_event(build_retraction(key.pubkey_hex, "aa" * 32, 1, 200, "gone"), key)
    repo.add_retractions([Retraction(first, "aa" * 32, "1", frozenset({R1, R2}), frozenset(), 100)])
    repo.add_retractions([Retraction(again, "aa" * 32, "1", frozenset({R1}), frozenset(), 200)])
    [kept] = repo.retractions_of(["1"])
    assert kept.event.id == first.id
    assert [r.event.id for r in repo.unsent_retractions()] == [first.id]
    repo.mark_retraction_accepted(first.id, [R1])
    assert repo.unsent_retractions()[0].due == [R2]
    assert [r.event.id for r in repo.unsent_retractions()] == [first.id]
    repo.mark_retraction_accepted(first.id, [R2])
    assert repo.unsent_retractions() == []
    assert repo.retracted_targets() == {"aa" * 32}


def test_one_handoff_note_per_account(repo: LifecycleRepo) -> None:
    key, owner = random_key("7"), random_key("8")
    note = sign_event(
        build_handoff_note(key.pubkey_hex, "jack", owner.npub, owner.pubkey_hex, 5, continues=False), key
    )
    other = sign_event(
        build_handoff_note(key.pubkey_hex, "jack", owner.npub, owner.pubkey_hex, 6, continues=False), key
    )
    assert repo.handoff("Jack") is None
    assert repo.start_handoff("Jack", owner.npub, note, 5).event.id == note.id
    assert repo.start_handoff("jack", owner.npub, other, 6).event.id == note.id
    repo.mark_handoff("jack", accepted=[R1])
    repo.mark_handoff("jack", profile_done=True)
    found = repo.handoff("JACK")
    assert found is not None and found.accepted == {R1} and found.profile_done


def test_open_lifecycle_state_creates_only_when_asked(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert open_lifecycle_state(data, None, create=False) is None
    assert not data.exists(), "a command that only reads creates nothing"
    state = open_lifecycle_state(data, None, create=True)
    assert state is not None
    state.close()
    assert (data / STATE_FILE).stat().st_mode & 0o777 == 0o600
    again = open_lifecycle_state(data, None, create=False)
    assert again is not None
    again.close()


def test_deletions_marked_without_their_kind_5(repo: LifecycleRepo) -> None:
    key = random_key("9")
    repo.retire([TweetFate("1", DELETED, None, 10), TweetFate("2", DELETED, None, 11)])
    repo.retire([TweetFate("3", SUPERSEDED, "4", 12)])
    assert repo.deleted_without_retractions() == ["1", "2"]
    kind5 = sign_event(build_retraction(key.pubkey_hex, "bb" * 32, 1, 100, "gone"), key)
    repo.add_retractions([Retraction(kind5, "bb" * 32, "1", frozenset({R1}), frozenset(), 100)])
    assert repo.deleted_without_retractions() == ["2"]


def test_lookups_of_more_tweets_than_one_statement_takes(repo: LifecycleRepo) -> None:
    key = random_key("6")
    count = 1100  # three slices of IN (...)
    repo.retire([TweetFate(str(n), DELETED, None, n) for n in range(count)])
    assert len(repo.fates(str(n) for n in range(count + 5))) == count
    kept = []
    for n in range(count):
        target = f"{n:064x}"
        event = sign_event(build_retraction(key.pubkey_hex, target, 1, count - n, "gone"), key)
        kept.append(Retraction(event, target, str(n), frozenset({R1}), frozenset(), count - n))
    repo.add_retractions(kept)
    found = repo.retractions_of(str(n) for n in range(count))
    assert [r.created_at for r in found] == list(range(1, count + 1)), "oldest first across the slices"
