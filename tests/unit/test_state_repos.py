"""The state's repositories on both backends: records and relay answers (an older write never undoes an
answer), users, the archive index, the Blossom memo and the shared X budget."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from nostrweet.cache.layout import EventSubject
from nostrweet.cache.scan import build_index
from nostrweet.nostr.record import EventRecord, RelayState, apply_answer
from nostrweet.state.blossom import BlobCopy, BlossomMemo
from nostrweet.state.budgets import SharedBudgets
from nostrweet.state.engine import State, open_state
from nostrweet.state.index import ArchiveIndex, TweetRow
from nostrweet.state.records import RecordRepo
from nostrweet.state.users import UserRepo, UserRow

R1, R2 = "wss://one.example", "wss://two.example"
NOW = 1_700_000_000.0


@pytest.fixture
def state(state_url: str) -> Iterator[State]:
    opened = open_state(state_url)
    yield opened
    opened.close()


def record(n: int, *, relays: dict[str, RelayState] | None = None, created: int = 0) -> EventRecord:
    event = {
        "id": f"{n:064x}",
        "pubkey": "ab" * 32,
        "kind": 1,
        "created_at": created or 1_600_000_000 + n,
        "tags": [["r", f"https://x.com/i/status/{n}"]],
        "content": f"tweet {n} ✓",
        "sig": "cd" * 64,
    }
    return EventRecord(event, EventSubject.TWEET, str(n), dict(relays or {}), str(n))


def test_records_round_trip_with_relay_states(state: State) -> None:
    repo = RecordRepo(state)
    recs = [
        record(1, relays={R1: RelayState("accepted", "", 1, None, 5)}),
        record(
            2,
            relays={
                R1: RelayState("pending", "timeout", 2, 99, 6),
                R2: RelayState("rejected", "blocked: no"),
            },
        ),
        record(3),
    ]
    assert sorted(repo.save_many(recs)) == [r.event_id for r in recs]
    got = {r.event_id: r for r in repo.get_many(r.event_id for r in recs)}
    for rec in recs:
        assert got[rec.event_id] == rec  # event, subject, subject id, relays, tweet id
    assert repo.count() == 3
    assert repo.for_tweet(2) == [recs[1]]
    assert repo.accepted_relays(1) == {R1} and repo.accepted_relays(2) == set()
    assert repo.status_counts() == {"accepted": 1, "pending": 1, "rejected": 1}


def test_an_event_is_recorded_once(state: State) -> None:
    """A second instance saving the same event keeps the first event row (ON CONFLICT DO NOTHING)."""
    repo = RecordRepo(state)
    assert repo.save_many([record(7)]) == [record(7).event_id]
    other = record(7)
    other.event["content"] = "built again"
    other.relays[R1] = RelayState()
    assert repo.save_many([other]) == []
    [stored] = repo.for_tweet(7)
    assert stored.event["content"] == "tweet 7 ✓"
    assert set(stored.relays) == {R1}
    assert repo.count() == 1


@pytest.mark.parametrize(
    ("outcomes", "status"),
    [
        (["accepted"], "accepted"),
        (["pending", "duplicate"], "accepted"),
        (["rejected"], "rejected"),
        (["rate_limited"], "pending"),
        (["pending", "pending", "accepted", "rejected"], "accepted"),
    ],
)
def test_apply_answers_follows_the_pure_transitions(state: State, outcomes: list[str], status: str) -> None:
    repo = RecordRepo(state)
    repo.save_many([record(1, relays={R1: RelayState()})])
    expected: RelayState | None = RelayState()
    for i, outcome in enumerate(outcomes):
        repo.apply_answers([(record(1).event_id, R1, outcome, f"m{i}")], NOW + i)
        expected = apply_answer(expected, outcome, f"m{i}", NOW + i)
    [stored] = repo.for_tweet(1)
    assert stored.relays[R1] == expected
    assert stored.relays[R1].status == status


def test_ensure_relays_then_pending_lists_due_records(state: State) -> None:
    repo = RecordRepo(state)
    repo.save_many(
        [
            record(1, relays={R1: RelayState("accepted")}),
            record(2, relays={R1: RelayState("pending", "", 1, int(NOW) + 100)}),
            record(3, relays={R1: RelayState("pending")}),
        ]
    )
    assert {r.event_id for r in repo.pending(NOW, [R1])} == {record(3).event_id}
    assert {r.event_id for r in repo.pending(NOW + 100, [R1])} == {record(2).event_id, record(3).event_id}
    assert repo.ensure_relays([R1, R2]) == 3
    assert repo.ensure_relays([R1, R2]) == 0
    assert {r.event_id for r in repo.pending(NOW, [R2])} == {record(n).event_id for n in (1, 2, 3)}
    assert len(repo.pending(NOW, limit=2)) == 2


@pytest.mark.parametrize(
    ("stored", "written", "kept"),
    [
        ("accepted", "pending", "accepted"),  # an older read never undoes an acceptance
        ("accepted", "rejected", "accepted"),
        ("rejected", "pending", "rejected"),  # a rejection only moves to accepted
        ("rejected", "accepted", "accepted"),
        ("pending", "accepted", "accepted"),
        ("pending", "rejected", "rejected"),
        ("pending", "pending", "pending"),
    ],
)
def test_a_relay_row_written_from_an_older_read_never_undoes_an_answer(
    state: State, stored: str, written: str, kept: str
) -> None:
    """Two instances work two relays of one record, each writes the whole record back: the row of the
    relay it did not send to is older than the other's answer (the rule of apply_answer)."""
    repo = RecordRepo(state)
    repo.save(record(1, relays={R1: RelayState(stored, "first", 1, None, 10), R2: RelayState()}))
    repo.save(record(1, relays={R1: RelayState(written, "second", 2, 99, 20), R2: RelayState("accepted")}))
    got = repo.get(record(1).event_id)
    assert got is not None
    assert got.relays[R1].status == kept
    assert got.relays[R1].message == ("first" if kept != written else "second")
    assert got.relays[R2].status == "accepted"


def test_users_round_trip(state: State) -> None:
    repo = UserRepo(state)
    row = UserRow("Alice_1", "42", "1000", 20, "900", False, 1_700_000_100, 2, 60.0, True, True)
    repo.save(row)
    loaded = repo.load("ALICE_1")
    assert loaded is not None and loaded.username == "alice_1" and loaded.since_id == "1000"
    assert (loaded.backfill, loaded.backfill_floor, loaded.backfill_done) == (20, "900", False)
    assert (loaded.next_poll, loaded.failures, loaded.backoff, loaded.paused) == (
        1_700_000_100,
        2,
        60.0,
        True,
    )
    repo.save_many([UserRow("alice_1", "42", "2000"), UserRow("bob", "7")])
    assert repo.load("alice_1") == UserRow("alice_1", "42", "2000")
    assert set(repo.load_all()) == {"alice_1", "bob"}
    repo.remove("bob")
    assert repo.load("bob") is None


def test_archive_index(state: State) -> None:
    index = ArchiveIndex(state)
    names = [
        "20240101_120000_alice_100.json",
        "20240102_120000_alice_250.json",
        "20240101_130000_bob_300.json",
    ]
    rows = [r for n in names if (r := TweetRow.from_name(n)) is not None]
    assert len(rows) == 3 and TweetRow.from_name("alice_100_0.jpg") is None
    index.add_tweets(rows)
    index.add_tweets(rows)  # known tweets keep their row
    assert index.tweet_count() == 3
    assert index.tweet_name(250) == names[1] and index.tweet_name(1) is None
    assert index.tweet_ids_of("Alice") == [100, 250]
    assert index.newest_tweet_id("alice") == 250 and index.newest_tweet_id("carol") == 0
    RecordRepo(state).save_many([record(100)])
    assert index.tweets_without_events() == [250, 300]
    index.add_profiles(["20240101_000000_alice_profile.json", "20240301_000000_alice_profile.json"])
    index.add_profiles(["20240201_000000_alice_profile.json"])  # older: not taken
    assert index.newest_profile("alice") == "20240301_000000_alice_profile.json"
    index.add_not_found([5, 5, 6])
    assert index.is_not_found(5) and not index.is_not_found(100)
    index.remove_tweet(300)
    assert index.tweet_name(300) is None


def test_archive_index_pages_batches_and_markers(state: State, tmp_path: Path) -> None:
    """Keyset pages both ways, lookups over more than one batch, a re-written tweet that clears its
    markers, the corrupt range of ``meta`` (and nothing else of it), and a listing that repoints a
    profile row whose snapshot is gone."""
    index = ArchiveIndex(state)
    many = [
        TweetRow(i, "alice" if i % 2 else "bob", 20240101120000, f"20240101_120000_x_{i}.json")
        for i in range(1, 1203)
    ]
    index.add_tweets(many)
    assert index.tweet_count() == 1202
    ids = [i for i, _ in index.iter_tweets(page=100)]
    assert ids == list(range(1, 1203))
    assert [i for i, _ in index.iter_tweets(newest_first=True, page=7)] == ids[::-1]
    assert [i for i, _ in index.iter_tweets(page=1202)] == ids  # a full last page ends with an empty one
    assert index.tweet_names(range(1, 1300)) == {r.tweet_id: r.file_name for r in many}
    assert index.tweet_counts() == {"alice": 601, "bob": 601}
    assert index.users_with_tweets() == ["alice", "bob"]
    assert index.tweet_span("ALICE") == (601, 1, 1201) and index.tweet_span("carol") == (0, 0, 0)
    index.add_not_found(range(1, 1300))
    assert index.not_found_among([0, 5, 1299, 1300]) == {5, 1299}
    index.add_corrupt("Alice", 5)
    index.add_corrupt("alice", 1250)
    index.add_corrupt("bob", 2000)
    assert ArchiveIndex(state).corrupt_users() == {5: "alice", 1250: "alice", 2000: "bob"}
    assert index.corrupt_ids_of("alice") == []  # 5 is cached, 1250 is marked not found
    index.remove_not_found(1250)
    assert index.corrupt_ids_of("ALICE") == [1250]
    renamed = TweetRow(5, "carol", 20240102120000, "20240102_120000_carol_5.json")
    index.put_tweets([TweetRow(5, "dave", 1, "x"), renamed])  # the same id twice: the last one wins
    assert index.tweet_name(5) == renamed.file_name and not index.is_not_found(5)
    assert index.corrupt_users() == {1250: "alice", 2000: "bob"}
    assert index.usernames() == ["alice", "bob", "carol"]

    (tmp_path / "20240101_000000_erin_profile.json").write_text("{}")
    (tmp_path / "20240101_120000_erin_7.json").write_text("{}")
    (tmp_path / "tweet_1300.not_found").write_text("")
    index.add_profiles(["20240301_000000_erin_profile.json"])  # a row that names a file that is gone
    report = index.add_listing(build_index(tmp_path))
    assert (report.tweets, report.profiles, report.not_found) == (0, 0, 1)  # tweet 7 is known
    assert index.newest_profile("Erin") == "20240101_000000_erin_profile.json"
    assert index.profile_names() == {"erin": "20240101_000000_erin_profile.json"}

    with state.write() as tx:
        tx.run("""INSERT INTO meta ("key", "value") VALUES ('corrupted', 'kept'), ('corrupt', 'kept')""")
    index.clear()
    assert index.tweet_count() == 0 and index.profile_names() == {} and not index.is_not_found(1)
    assert index.corrupt_users() == {}
    with state.read() as tx:
        assert sorted(tx.rows('SELECT "key" FROM meta WHERE "value" = :v', {"v": "kept"})) == [
            ("corrupt",),
            ("corrupted",),
        ]


def test_blossom_memo(state: State) -> None:
    memo = BlossomMemo(state)
    sha = "ef" * 32
    assert memo.servers_of(sha) == {}
    memo.remember(
        [
            BlobCopy(sha, "https://b1", "https://b1/x", 10, "image/png"),
            BlobCopy(sha, "https://b2", "https://b2/x"),
        ]
    )
    memo.remember([BlobCopy(sha, "https://b2", "https://b2/y")])
    assert memo.servers_of(sha) == {"https://b1": "https://b1/x", "https://b2": "https://b2/y"}


def test_budget_follows_headers_and_windows(state: State) -> None:
    budgets = SharedBudgets(state)
    ep = "/2/users/:id/tweets"
    assert budgets.reserve(ep, NOW) == 0.0  # unknown budget allows
    budgets.update(ep, 3, 2, int(NOW) + 100)
    assert budgets.reserve(ep, NOW) == 0.0
    assert budgets.reserve(ep, NOW) == 0.0
    assert budgets.reserve(ep, NOW) == pytest.approx(101.0)  # used up: wait for reset + margin
    budgets.update(ep, 3, 1, int(NOW) + 100)  # a late answer of the same window never raises the count
    assert budgets.get(ep).remaining == 0
    assert budgets.reserve(ep, NOW + 101) == 0.0  # new window: limit - 1 left
    assert budgets.get(ep).remaining == 2


def test_shared_budget_is_never_overspent(state: State) -> None:
    """Eight threads, each with its own connections, reserve at once: exactly ``remaining`` succeed."""
    budgets = SharedBudgets(state)
    ep = "/2/tweets"
    budgets.update(ep, 50, 25, int(NOW) + 900)
    barrier = threading.Barrier(8)

    def grab(_: int) -> int:
        barrier.wait()
        return sum(1 for _ in range(10) if budgets.reserve(ep, NOW) == 0.0)

    with ThreadPoolExecutor(8) as pool:
        taken = sum(pool.map(grab, range(8)))
    assert taken == 25
    assert budgets.get(ep).remaining == 0


def test_unaccepted_lists_oldest_first_and_reopen_makes_rejections_due(state: State) -> None:
    repo = RecordRepo(state)
    repo.save_many(
        [
            record(3, relays={R1: RelayState("rejected", "blocked: spam", 1, None, 5)}, created=300),
            record(1, relays={R1: RelayState("pending", "", 2, int(NOW) + 900, 5)}, created=100),
            record(2, relays={R1: RelayState("accepted", "", 1, None, 5)}, created=200),
        ]
    )
    listed = repo.unaccepted(R1)
    assert [(r["event_id"], r["status"]) for r in listed] == [
        (f"{1:064x}", "pending"),
        (f"{3:064x}", "rejected"),
    ]
    assert repo.unaccepted(R2) == []
    assert repo.reopen(R1, NOW) == 2
    states = {r.event_id: r.relays[R1] for r in repo.get_many([f"{n:064x}" for n in (1, 2, 3)])}
    assert states[f"{3:064x}"].status == "pending" and states[f"{2:064x}"].status == "accepted"
    assert all(s.next_attempt == int(NOW) for k, s in states.items() if k != f"{2:064x}")
