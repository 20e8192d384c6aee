"""CacheStore: what it finds in the state stays equal to a fresh one-scan build of the directory, corrupt
files are moved aside, profiles are never read as tweets, and ``foo`` never picks up ``foo_bar``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nostrweet.cache import layout
from nostrweet.cache.writers import WRITERS_DIR
from nostrweet.nostr.record import EventRecord, RelayState
from nostrweet.state.index import ArchiveIndex
from nostrweet.state.records import RecordRepo
from nostrweet.store import CacheIndex, CacheStore, build_index

T0 = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def doc(tweet_id: int, username: str, user_id: str = "11", when: datetime = T0) -> dict[str, Any]:
    return {
        "data": {
            "id": str(tweet_id),
            "text": f"tweet {tweet_id}",
            "author_id": user_id,
            "created_at": when.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        },
        "includes": {"users": [{"id": user_id, "username": username, "name": username}]},
        "nostrweet": {"format": 1},
    }


def user(username: str, user_id: str = "11") -> dict[str, Any]:
    return {"id": user_id, "username": username, "name": username.title()}


def assert_agrees(store: CacheStore, index: CacheIndex, ids: range = range(0, 100)) -> None:
    """What the store finds (in the state, by id and by user; media by name and a stat) is what one
    listing of the directory shows."""
    assert dict(store.iter_tweets()) == dict(index.tweets)
    users = {name for name, e in index.users.items() if e.tweet_count or e.newest_profile}
    assert set(store.usernames()) == users
    for name in users:
        entry = index.users[name]
        assert store.tweet_ids_of(name) == entry.tweet_ids
        assert (store.newest_tweet_id(name) or 0) == entry.newest_tweet_id
        assert store.tweet_count(name) == entry.tweet_count
        assert store.archive.newest_profile(name) == entry.newest_profile
    assert store.tweet_count() == index.tweet_count()
    assert {i for i in ids if store.is_not_found(i)} == index.not_found
    assert all(store.has_media(name) for name in index.media)


def test_write_and_read_round_trip(data_dir: Path) -> None:
    store = CacheStore(data_dir)
    path = store.write_tweet(doc(20, "Foo"))
    assert path.name == "20240102_030405_foo_20.json"
    read = store.read_tweet(20)
    assert read is not None and read.data.text == "tweet 20" and read.author() is not None
    assert read.author().username == "Foo"  # type: ignore[union-attr]
    assert store.newest_tweet_id("FOO") == 20


def test_foo_and_foo_bar_never_confused(data_dir: Path) -> None:
    store = CacheStore(data_dir)
    store.write_tweet(doc(5, "foo", "1"))
    store.write_tweet(doc(9, "foo_bar", "2"))
    store.write_tweet(doc(3, "foo", "1"))
    store.write_profile(user("foo_bar", "2"), T0)
    assert store.tweet_ids_of("foo") == [3, 5]
    assert store.tweet_ids_of("foo_bar") == [9]
    assert store.newest_tweet_id("foo") == 5
    assert store.newest_tweet_id("bar") is None
    assert store.newest_profile("foo") is None
    profile = store.newest_profile("foo_bar")
    assert profile is not None and profile.id == "2"


def test_profile_never_read_as_tweet(data_dir: Path) -> None:
    store = CacheStore(data_dir)
    store.write_profile(user("foo", "123"), T0)
    index = build_index(data_dir)
    assert index.tweets == {}
    assert store.read_tweet(123) is None
    assert store.tweet_ids_of("foo") == []


def test_newest_profile_wins_and_age(data_dir: Path) -> None:
    store = CacheStore(data_dir)
    store.write_profile(dict(user("foo"), name="old"), T0)
    store.write_profile(dict(user("foo"), name="new"), T0 + timedelta(hours=1))
    assert store.newest_profile("foo").name == "new"  # type: ignore[union-attr]
    assert store.profile_fetched_at("foo") == T0 + timedelta(hours=1)
    assert CacheStore(data_dir).newest_profile("Foo").name == "new"  # type: ignore[union-attr]


def test_corrupt_tweet_moved_aside_and_counts_as_missing(data_dir: Path) -> None:
    store = CacheStore(data_dir)
    path = store.write_tweet(doc(7, "foo"))
    path.write_bytes(b'{"data": {"id": "7", "te')
    assert store.read_tweet(7) is None
    assert not path.exists()
    assert (data_dir / (path.name + ".corrupt")).exists()
    assert not store.has_tweet(7) and store.tweet_ids_of("foo") == []
    assert_agrees(store, build_index(data_dir))
    assert store.corrupt_tweet_ids_of("foo") == [7]  # fetched again by the next fetch of foo
    assert CacheStore(data_dir).corrupt_tweet_ids_of("FOO") == [7]
    # A valid JSON that is not a tweet document of this id is reported and skipped, but never moved
    # (SPEC §2: it may be another tool's file, e.g. the earlier nostrweet's).
    path2 = store.write_tweet(doc(8, "foo"))
    path2.write_text('{"data": {"id": "9"}}')
    assert store.read_tweet(8) is None and path2.read_text() == '{"data": {"id": "9"}}'
    assert not store.has_tweet(8) and store.readable_tweet_ids(store.tweet_ids_of("foo")) == []


def test_stale_temp_files_removed_on_open(data_dir: Path) -> None:
    (data_dir / ".20240102_030405_foo_1.json.abcd1234.tmp").write_text("{")
    (data_dir / layout.EVENTS_DIR).mkdir()
    old = data_dir / layout.EVENTS_DIR / ".event_x.json.00000000.tmp"
    old.write_text("{")
    store = CacheStore(data_dir)
    # nostr_events/ is an earlier version's directory, not listed at start: only clear-cache --all goes there
    assert [p.name for p in data_dir.rglob("*.tmp")] == [old.name]
    store.clear(include_events=True)
    assert [p.name for p in data_dir.rglob("*.tmp")] == []


def test_not_found_marker_and_later_found(data_dir: Path) -> None:
    store = CacheStore(data_dir)
    store.mark_not_found(42, {"title": "Not Found Error"})
    assert store.is_not_found(42) and (data_dir / "tweet_42.not_found").exists()
    assert build_index(data_dir).not_found == {42}
    store.write_tweet(doc(42, "foo"))
    assert not store.is_not_found(42) and not (data_dir / "tweet_42.not_found").exists()


def test_rename_of_author_replaces_old_file(data_dir: Path) -> None:
    store = CacheStore(data_dir)
    store.write_tweet(doc(10, "oldname"))
    store.write_tweet(doc(10, "newname"))
    assert [p.name for p in data_dir.glob("*.json")] == ["20240102_030405_newname_10.json"]
    assert store.tweet_ids_of("oldname") == [] and store.tweet_ids_of("newname") == [10]
    assert_agrees(store, build_index(data_dir))


def test_write_tweets_writes_every_file_then_the_rows_together(data_dir: Path) -> None:
    store = CacheStore(data_dir)
    store.write_tweet(doc(10, "oldname"))
    store.mark_not_found(12)
    paths = store.write_tweets([doc(10, "newname"), doc(11, "newname"), doc(12, "other", user_id="12")])
    assert [p.name for p in paths] == [
        "20240102_030405_newname_10.json",
        "20240102_030405_newname_11.json",
        "20240102_030405_other_12.json",
    ]
    assert sorted(p.name for p in data_dir.glob("*.json")) == [p.name for p in paths]  # the old name went
    fresh = CacheStore(data_dir)  # what the state says, not this store's memory
    assert fresh.tweet_ids_of("newname") == [10, 11] and fresh.tweet_ids_of("oldname") == []
    assert fresh.has_tweet(12) and not fresh.is_not_found(12)
    assert_agrees(fresh, build_index(data_dir))


def test_media_path_validated(data_dir: Path) -> None:
    store = CacheStore(data_dir)
    assert store.media_path("foo_1_0.jpg") == data_dir / "foo_1_0.jpg"
    for bad in ("../x_1_0.jpg", "foo_1_0.json", "x"):
        try:
            store.media_path(bad)
        except ValueError:
            continue
        raise AssertionError(bad)


def test_clear_keeps_events_unless_all(data_dir: Path) -> None:
    store = CacheStore(data_dir)
    store.write_tweet(doc(1, "foo"))
    store.write_profile(user("foo"), T0)
    store.mark_not_found(2)
    (data_dir / "foo_1_0.jpg").write_bytes(b"x")
    (data_dir / "notes.txt").write_text("mine")
    events = data_dir / layout.EVENTS_DIR
    events.mkdir()
    record = events / layout.event_filename("a" * 64, layout.EventSubject.TWEET, 1)
    record.write_text("{}")
    repo = RecordRepo(store.state)
    event = {"id": "b" * 64, "pubkey": "ab" * 32, "kind": 1, "created_at": 1}
    repo.save(EventRecord(event, layout.EventSubject.TWEET, "1", {"wss://r": RelayState("accepted")}, "1"))
    archive = ArchiveIndex(store.state)
    assert archive.tweet_ids_of("foo") == [1] and archive.is_not_found(2)
    assert store.clear() == 4
    names = sorted(p.name for p in data_dir.iterdir() if not p.name.startswith("nostrweet.sqlite3"))
    assert names == [WRITERS_DIR, layout.EVENTS_DIR, "notes.txt"]  # (the marker of this writer)
    assert record.exists() and not store.has_tweet(1) and store.tweet_count() == 0
    assert archive.tweet_ids_of("foo") == [] and not archive.is_not_found(2)  # the state's index too
    assert repo.count() == 1  # the posting records stay
    store.clear(include_events=True)
    assert not record.exists() and repo.count() == 0


USERS = st.sampled_from(["foo", "foo_bar", "Foo", "bar", "a_b_c"])
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("tweet"), st.integers(1, 60), USERS),
        st.tuples(st.just("profile"), st.integers(0, 5), USERS),
        st.tuples(st.just("not_found"), st.integers(1, 60), USERS),
        st.tuples(st.just("media"), st.integers(1, 60), USERS),
    ),
    max_size=30,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_state_after_writes_equals_fresh_scan(tmp_path_factory: Any, ops: list[tuple[str, int, str]]) -> None:
    data_dir = tmp_path_factory.mktemp("cache")
    store = CacheStore(data_dir)
    assert store.tweet_count() == 0  # (counted now: the writes below keep the counts)
    for kind, number, name in ops:
        if kind == "tweet":
            store.write_tweet(doc(number, name, when=T0 + timedelta(seconds=number)))
        elif kind == "profile":
            store.write_profile(user(name), T0 + timedelta(hours=number))
        elif kind == "not_found":
            store.mark_not_found(number)
        else:
            media = layout.media_filename(name, number, 0, "jpg")
            store.media_path(media).write_bytes(b"x")
            store.add_media(media)
    fresh = build_index(data_dir)
    assert_agrees(store, fresh)
    assert_agrees(CacheStore(data_dir, read_only=True), fresh)  # a new store finds it all in the state
    for name in ("foo", "foo_bar", "bar", "a_b_c"):
        assert store.tweet_ids_of(name) == fresh.tweet_ids_of(name) == sorted(fresh.tweet_ids_of(name))


def test_bulk_scan_handles_duplicates_several_records_and_both_forms(data_dir: Path) -> None:
    events = data_dir / layout.EVENTS_DIR
    events.mkdir(parents=True)
    tw = layout.EventSubject.TWEET
    for n, tweet_id in enumerate([10, 11, 11, 12]):
        (events / layout.event_filename(f"{n:064x}", tw, tweet_id)).write_text("{}")
    both = layout.event_filename(f"{9:064x}", tw, 12, pending=True)
    (events / both).write_text("{}")
    (events / layout.event_filename(f"{9:064x}", tw, 12)).write_text("{}")  # killed mid-rename
    (events / "relays.json").write_text("{}")
    (data_dir / "20240102_030405_old_5.json").write_text("{}")  # renamed author, old file left
    (data_dir / "20240102_030405_new_5.json").write_text("{}")
    (data_dir / "20240102_030405_new_6.json").write_text("{}")
    index = build_index(data_dir)
    assert index.events_of_tweet(10) == [layout.event_filename(f"{0:064x}", tw, 10)]
    assert sorted(index.events_of_tweet(11)) == sorted(
        layout.event_filename(f"{n:064x}", tw, 11) for n in (1, 2)
    )
    assert both in index.events_of_tweet(12) and len(index.events_of_tweet(12)) == 2
    assert index.pending_events == {both} and index.event_count() == 5
    assert index.has_tweet_events(11) and not index.has_tweet_events(13)
    assert set(index.tweets) == {5, 6}
    assert sum(e.tweet_count for e in index.users.values()) == 2
    assert index.users["new"].newest_tweet_id == 6


def test_removing_the_last_record_drops_the_tweet(data_dir: Path) -> None:
    index = CacheIndex()
    name = layout.event_filename("ab" * 32, layout.EventSubject.TWEET, 3)
    parsed = layout.parse_event_filename(name)
    assert parsed is not None
    index.add_event(name, parsed)
    assert index.tweet_records == {3: name}
    index.remove_event(name, parsed)
    assert index.tweet_records == {} and list(index.event_names()) == []


record_ops = st.lists(
    st.tuples(st.sampled_from(["add", "add_pending", "remove"]), st.integers(0, 3), st.integers(1, 8)),
    max_size=25,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    scanned=st.lists(st.tuples(st.integers(0, 3), st.integers(1, 8), st.booleans()), max_size=12),
    tweets=st.sets(st.integers(1, 10), max_size=8),
    ops=record_ops,
)
def test_compact_records_behave_like_a_name_list(
    tmp_path_factory: Any,
    scanned: list[tuple[int, int, bool]],
    tweets: set[int],
    ops: list[tuple[str, int, int]],
) -> None:
    """The arrays of scanned records plus the dict of the others answer like a plain list of names,
    after any mix of adds and removes, and a fresh scan of the same names agrees."""
    data_dir = tmp_path_factory.mktemp("records")
    events = data_dir / layout.EVENTS_DIR
    events.mkdir()
    tw = layout.EventSubject.TWEET
    for tweet_id in tweets:
        (data_dir / layout.tweet_filename(T0, "foo", tweet_id)).write_text("{}")
    for (n, tweet_id), pending in {(n, t): p for n, t, p in scanned}.items():  # one form each
        (events / layout.event_filename(f"{n:064x}", tw, tweet_id, pending=pending)).write_text("{}")
    index = build_index(data_dir)
    for op, n, tweet_id in ops:
        name = layout.event_filename(f"{n:064x}", tw, tweet_id, pending=op == "add_pending")
        parsed = layout.parse_event_filename(name)
        assert parsed is not None
        if op == "remove":
            index.remove_event(name, parsed)
            (events / name).unlink(missing_ok=True)
        else:
            other = parsed.settled_name if parsed.pending else parsed.pending_name
            flipped = layout.parse_event_filename(other)
            assert flipped is not None
            (events / name).write_text("{}")
            index.remove_event(other, flipped)  # as the record store does once the new file is in place
            index.add_event(name, parsed)
            (events / other).unlink(missing_ok=True)
    fresh = build_index(data_dir)
    on_disk = sorted(p.name for p in events.iterdir())
    assert sorted(index.event_names()) == sorted(fresh.event_names()) == on_disk
    assert index.event_count() == len(on_disk)
    assert index.tweet_records == fresh.tweet_records
    assert index.pending_events == fresh.pending_events == {n for n in on_disk if ".pending." in n}
    for tweet_id in range(0, 12):
        expected = sorted(
            n for n in on_disk if n.endswith((f"_tweet_{tweet_id}.json", f"_tweet_{tweet_id}.pending.json"))
        )
        assert sorted(index.events_of_tweet(tweet_id)) == expected
        assert index.has_tweet_events(tweet_id) == bool(expected)
    without = sorted(t for t in tweets if not index.has_tweet_events(t))
    assert sorted(index.tweets_without_events()) == sorted(fresh.tweets_without_events()) == without


def test_tweet_names_are_rebuilt_exactly(data_dir: Path) -> None:
    names = ["20240102_030405_foo_3.json", "20991231_235959_foo_bar_9.json", "00010101_000000_a_0.json"]
    for name in names:
        (data_dir / name).write_text("{}")
    index = build_index(data_dir)
    assert sorted(index.tweets.values()) == sorted(names)
    assert index.tweet_name(9) == names[1] and index.owner_of(9) == "foo_bar"
    assert 3 in index.tweets and 4 not in index.tweets and index.tweet_name(4) is None
    assert len(index.tweets) == 3 and index.users["foo"].tweet_ids == [3]


def test_ids_closer_than_a_float_still_sort_exactly(data_dir: Path) -> None:
    # 2**60 + k for small k are one float: the scan's float pre-sort leaves them in any order, and the
    # exact fallback must put tweets, owners, stamps and records back in place.
    base = 2**60
    (data_dir / layout.EVENTS_DIR).mkdir()
    ids = [base + 5, base + 1, base + 3, base, base + 2, base + 4, 7]
    for k, tweet_id in enumerate(ids):
        owner = "foo" if k % 2 else "bar"
        (data_dir / f"20240102_03040{k}_{owner}_{tweet_id}.json").write_text("{}")
        event_id = f"{k:02x}" * 32
        (
            data_dir
            / layout.EVENTS_DIR
            / layout.event_filename(event_id, layout.EventSubject.TWEET, tweet_id)
        ).write_text("{}")
    index = build_index(data_dir)
    assert list(index.iter_tweet_ids()) == sorted(ids)
    for k, tweet_id in enumerate(ids):
        owner = "foo" if k % 2 else "bar"
        assert index.tweet_name(tweet_id) == f"20240102_03040{k}_{owner}_{tweet_id}.json"
        assert index.owner_of(tweet_id) == owner
        event_id = f"{k:02x}" * 32
        assert index.events_of_tweet(tweet_id) == [
            layout.event_filename(event_id, layout.EventSubject.TWEET, tweet_id)
        ]
    assert index.users["foo"].tweet_ids == sorted(t for k, t in enumerate(ids) if k % 2)
    assert index.users["bar"].tweet_ids == sorted(t for k, t in enumerate(ids) if not k % 2)
    assert index.tweets_without_events() == []


def test_an_id_too_large_for_the_index_is_a_stranger_not_a_crash(tmp_path: Path) -> None:
    huge = "99999999999999999999"  # 20 digits: no X id, and beyond a signed 64-bit array
    names = [
        f"20240102_030405_foo_{huge}.json",
        f"foo_{huge}_0.jpg",
        f"tweet_{huge}.not_found",
        f"20240102_030405_foo_{layout.MAX_NAME_ID}.json",
    ]
    for name in names:
        (tmp_path / name).write_text("{}")
    (tmp_path / layout.EVENTS_DIR).mkdir()
    (tmp_path / layout.EVENTS_DIR / f"event_{'ab' * 32}_tweet_{huge}.json").write_text("{}")
    index = build_index(tmp_path)
    assert list(index.tweets) == [layout.MAX_NAME_ID]
    assert not index.not_found and not index.media and not index.tweet_records
    with pytest.raises(ValueError):
        layout.tweet_filename(datetime(2024, 1, 2, tzinfo=UTC), "foo", int(huge))


def test_reindex_points_a_profile_row_at_a_snapshot_that_is_there(data_dir: Path) -> None:
    store = CacheStore(data_dir)
    store.write_profile(dict(user("foo"), name="old"), T0)
    newer = store.write_profile(dict(user("foo"), name="new"), T0 + timedelta(hours=1))
    newer.unlink()  # removed by hand: the row names a file that is gone
    assert store.newest_profile("foo") is None
    assert store.reindex().profiles == 0  # (no profile row added: one was repointed)
    assert store.newest_profile("foo").name == "old"  # type: ignore[union-attr]
    assert CacheStore(data_dir).profile_fetched_at("foo") == T0
