"""The import of the earlier Rust nostrweet's directory into the state, on both backends: rows that point
at its files as they are, once; and open_data_state runs it by itself."""

from __future__ import annotations

from pathlib import Path

from nostrweet.cache.atomic import atomic_write_json
from nostrweet.state.engine import STATE_FILE, open_state
from nostrweet.state.import_legacy import import_legacy
from nostrweet.state.index import ArchiveIndex
from nostrweet.state.opening import open_data_state
from nostrweet.state.records import RecordRepo
from nostrweet.state.sql import BATCH
from tests.data.legacy_dir import NOT_FOUND, POSTED_WITH_RECORD, build_legacy_dir, tree_digest


def test_rows_point_at_the_files_in_place_and_a_second_run_does_nothing(
    state_url: str, tmp_path: Path
) -> None:
    old = build_legacy_dir(tmp_path / "data")
    before = tree_digest(old.path)
    state = open_state(state_url)
    try:
        report = import_legacy(state, old.path, now=1)
        assert (report.tweets, report.profiles, report.not_found, report.media, report.records) == (
            17,
            1,
            1,
            9,
            3,
        )
        assert report.unknown == []
        assert sorted(report.missing_references) == sorted(
            ["1645149404083494917", "1929216043643273547", "1947423415218147567"]
        )
        archive = ArchiveIndex(state)
        assert {t: archive.tweet_name(int(t)) for t in old.tweets} == old.tweets
        assert archive.tweet_ids_of("CamelCase") == [1500000000000000001]
        assert archive.newest_profile("douglaz") == old.profiles[0]
        assert archive.is_not_found(int(NOT_FOUND))
        repo = RecordRepo(state)
        for tweet_id, event in old.posted.items():
            [record] = repo.for_tweet(tweet_id)
            assert record.event_id == event.id
            assert bool(record.relays) == (tweet_id in POSTED_WITH_RECORD)
            assert {s.status for s in record.relays.values()} <= {"pending"}

        again = import_legacy(state, old.path, now=2)
        assert again.done_before and not again.found_anything
    finally:
        state.close()
    assert tree_digest(old.path) == before


def test_a_cache_of_ours_is_not_read_and_a_newer_profile_of_ours_wins(state_url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    ours = {
        "data": {"id": "7", "text": "x", "author_id": "1"},
        "includes": {"users": [{"id": "1", "username": "a"}]},
    }
    atomic_write_json(data / "20240101_000000_a_7.json", ours)
    state = open_state(state_url)
    try:
        report = import_legacy(state, data, now=1)
        assert not report.found_anything and report.unknown == []
    finally:
        state.close()

    old = build_legacy_dir(tmp_path / "old")
    atomic_write_json(
        old.path / "20260101_000000_douglaz_profile.json", {"id": "3916631", "username": "douglaz"}
    )
    state = open_state(state_url)
    try:
        ArchiveIndex(state).add_profiles(["20260101_000000_douglaz_profile.json"])
        import_legacy(state, old.path, now=1)
        assert ArchiveIndex(state).newest_profile("douglaz") == "20260101_000000_douglaz_profile.json"
    finally:
        state.close()


def test_profiles_past_one_batch_keep_the_newest_of_each_user(state_url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    count = BATCH + 20
    for i in range(count):
        atomic_write_json(data / f"20250101120000_u{i}_{i + 1}.json", {"id": str(i + 1), "username": f"u{i}"})
    state = open_state(state_url)
    try:
        ours_newer, ours_older = (
            "20260101_000000_u0_profile.json",
            f"20240101_000000_u{count - 1}_profile.json",
        )
        ArchiveIndex(state).add_profiles([ours_newer, ours_older])
        report = import_legacy(state, data, now=1)
        assert report.profiles == count and report.unknown == []
        archive = ArchiveIndex(state)
        assert archive.newest_profile("u0") == ours_newer
        assert archive.newest_profile(f"u{count - 1}") == f"20250101120000_u{count - 1}_{count}.json"
        assert all(
            archive.newest_profile(f"u{i}") == f"20250101120000_u{i}_{i + 1}.json" for i in range(1, count)
        )
    finally:
        state.close()


def test_open_data_state_imports_it_once_and_a_reader_creates_nothing(tmp_path: Path) -> None:
    old = build_legacy_dir(tmp_path / "data")
    before = tree_digest(old.path)
    reader = open_data_state(old.path, None, now=1, read_only=True)
    try:
        assert ArchiveIndex(reader).tweet_name(1500000000000000001) == old.tweets["1500000000000000001"]
    finally:
        reader.close()
    assert tree_digest(old.path) == before  # no state file, nothing renamed

    state = open_data_state(old.path, None, now=1)
    state.close()
    assert (old.path / STATE_FILE).is_file()
    state = open_data_state(old.path, None, now=2)
    try:
        assert ArchiveIndex(state).tweet_count() == 17
        assert import_legacy(state, old.path, now=3).done_before
    finally:
        state.close()
    assert tree_digest(old.path, ignore=(STATE_FILE,)) == before
