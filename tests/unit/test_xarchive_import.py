"""X archive import into a real cache directory: reader (zip, folder, unsafe names) and writes (SPEC §12)."""

from __future__ import annotations

import json
import logging
import stat
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from nostrweet.archive.xarchive import importer
from nostrweet.archive.xarchive.importer import Importer, ImportSummary
from nostrweet.archive.xarchive.reader import XArchive, tweet_parts
from nostrweet.cache import layout
from nostrweet.cache.writers import WRITERS_DIR
from nostrweet.errors import InputError
from nostrweet.state.engine import STATE_FILE
from nostrweet.store import CacheStore, build_index
from tests.fakes import x_archive_builder as xb

CLOCK = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
IMPORTED = [xb.ROOT, xb.REPLY, xb.QUOTE, xb.LONG, xb.PHOTO, xb.VIDEO, xb.REPLY_OTHER, xb.MISSING]


def run_import(path: Path, data_dir: Path, names_kept: int = importer.NAMES_KEPT) -> ImportSummary:
    archive = XArchive(path)
    try:
        return Importer(archive, CacheStore(data_dir, names_kept=names_kept), clock=lambda: CLOCK).run()
    finally:
        archive.close()


def archive_path(kind: str, tmp_path: Path, arc: xb.Archive) -> Path:
    if kind == "zip":
        return arc.write_zip(tmp_path / "twitter.zip")
    if kind == "zip-with-top-folder":
        return arc.write_zip(tmp_path / "twitter.zip", top="twitter-2026-02-28-abc/")
    return arc.write_folder(tmp_path / "unpacked")


def snapshot(data_dir: Path) -> dict[str, bytes]:
    # (SQLite's shared-memory file changes when a reader opens the state: it is not a write)
    return {
        p.name: p.read_bytes()
        for p in sorted(data_dir.iterdir())
        if p.is_file() and not p.name.endswith("-shm")
    }


@pytest.mark.parametrize("kind", ["zip", "zip-with-top-folder", "folder"])
@pytest.mark.parametrize("older_names", [False, True])
def test_standard_archive_imports_every_kind_of_tweet(
    kind: str, older_names: bool, tmp_path: Path, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = archive_path(kind, tmp_path, xb.standard_archive(older_names=older_names))
    with caplog.at_level(logging.WARNING):
        summary = run_import(path, data_dir)
    assert (summary.imported, summary.already_cached) == (8, 0)
    assert summary.skipped == {"retweet without original": 1}
    assert (summary.media_copied, summary.media_missing) == (2, 1)
    assert "1760000000000000009: media 0 is not in the archive" in caplog.text

    store = CacheStore(data_dir)
    assert sorted(str(i) for i in store.tweet_ids_of(xb.USERNAME)) == sorted(IMPORTED)
    assert not store.has_tweet(xb.RETWEET) and not store.has_tweet("1760000000000000050")  # deleted-tweets.js
    # media under our names, private
    photo = data_dir / f"archiveowner_{xb.PHOTO}_0.jpg"
    video = data_dir / f"archiveowner_{xb.VIDEO}_0.mp4"
    assert photo.read_bytes() == xb.PHOTO_BYTES and video.read_bytes() == xb.VIDEO_BYTES
    for path_ in data_dir.iterdir():
        if path_.is_file():
            assert stat.S_IMODE(path_.stat().st_mode) == 0o600, path_.name
    doc = store.read_tweet(xb.PHOTO)
    assert doc is not None and doc.data.attachments is not None
    assert doc.media(doc.data.attachments.media_keys[0]) is not None
    lost = store.read_tweet(xb.MISSING)
    assert lost is not None and lost.data.attachments is None and not lost.includes.media
    # replies and quotes carry their imported referenced tweet
    reply = store.read_tweet(xb.REPLY)
    quote = store.read_tweet(xb.QUOTE)
    assert (
        reply is not None
        and reply.tweet(xb.ROOT) is not None
        and reply.data.reference("replied_to") == xb.ROOT
    )
    assert (
        quote is not None and quote.tweet(xb.ROOT) is not None and quote.data.reference("quoted") == xb.ROOT
    )
    long = store.read_tweet(xb.LONG)
    assert long is not None and long.data.note_tweet is not None and long.data.note_tweet.text == xb.NOTE_TEXT
    # the account's profile
    profile = store.newest_profile(xb.USERNAME)
    assert profile is not None and profile.id == xb.ACCOUNT_ID and profile.description == "I moved to Nostr."
    assert "owner@example.com" not in json.dumps(snapshot_text(data_dir))


def archive_files(data_dir: Path) -> dict[str, tuple[bytes, int, int]]:
    """The archive's entries in the data dir: name -> (bytes, mtime, inode); not the state database
    (SQLite's -wal and -shm files change when the state is only read) nor the ``.writers/`` markers of
    the processes that opened the cache."""
    return {
        p.name: (p.read_bytes() if p.is_file() else b"", p.stat().st_mtime_ns, p.stat().st_ino)
        for p in sorted(data_dir.iterdir())
        if not p.name.startswith(STATE_FILE) and p.name != WRITERS_DIR
    }


def snapshot_text(data_dir: Path) -> list[str]:
    return [b.decode(errors="replace") for b in snapshot(data_dir).values()]


def test_running_the_import_again_writes_nothing(tmp_path: Path, data_dir: Path) -> None:
    path = xb.standard_archive().write_zip(tmp_path / "a.zip")
    run_import(path, data_dir)
    before = archive_files(data_dir)
    assert sum(layout.parse_tweet_filename(name) is not None for name in before) == 8
    again = run_import(path, data_dir)
    assert (again.imported, again.already_cached, again.media_copied, again.linked) == (0, 8, 0, 0)
    assert not again.profile_written
    assert archive_files(data_dir) == before  # no file rewritten (a rename gives a new inode), none added


def test_a_tweet_cached_from_the_api_is_not_overwritten(tmp_path: Path, data_dir: Path) -> None:
    store = CacheStore(data_dir)
    api_doc = {
        "data": {
            "id": xb.ROOT,
            "text": "the API's version",
            "author_id": xb.ACCOUNT_ID,
            "created_at": "2026-02-20T09:10:00.000Z",
        },
        "includes": {"users": [{"id": xb.ACCOUNT_ID, "username": xb.USERNAME, "name": "Owner"}]},
        "nostrweet": {"format": 1, "fetched_at": "2026-02-28T00:00:00Z"},
    }
    written = store.write_tweet(api_doc)
    before = written.read_bytes()
    summary = run_import(xb.standard_archive().write_zip(tmp_path / "a.zip"), data_dir)
    assert summary.already_cached == 1 and summary.imported == 7
    assert written.read_bytes() == before
    reply = CacheStore(data_dir).read_tweet(xb.REPLY)
    assert reply is not None and reply.tweet(xb.ROOT) is not None  # the API's parent is linked
    assert reply.tweet(xb.ROOT).text == "the API's version"  # type: ignore[union-attr]


def zip_with(tmp_path: Path, extra: zipfile.ZipInfo, data: bytes = b"x") -> Path:
    path = xb.standard_archive().write_zip(tmp_path / "evil.zip")
    with zipfile.ZipFile(path, "a") as z:
        z.writestr(extra, data)
    return path


def symlink_member(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize(
    ("member", "why"),
    [
        (zipfile.ZipInfo("/etc/evil"), "absolute name"),
        (zipfile.ZipInfo("data/../../evil.js"), "'..' in its name"),
        (zipfile.ZipInfo("data\\..\\evil.js"), "'..' in its name"),
        (symlink_member("data/tweets_media/1-link.jpg"), "a symbolic link"),
    ],
)
def test_unsafe_member_refuses_the_whole_archive(tmp_path: Path, member: zipfile.ZipInfo, why: str) -> None:
    with pytest.raises(InputError, match=why):
        XArchive(zip_with(tmp_path, member))


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"data/account.js": b"window.YTD.account.part0 = []"}, "no data/tweets.js"),
        ({"data/tweets.js": b"window.YTD.tweets.part0 = []"}, "no data/account.js"),
    ],
)
def test_archive_missing_a_required_part_is_refused(
    tmp_path: Path, files: dict[str, bytes], message: str
) -> None:
    arc = xb.Archive(files=dict(files))
    with pytest.raises(InputError, match=message):
        XArchive(arc.write_zip(tmp_path / "a.zip"))
    with pytest.raises(InputError, match=message):
        XArchive(arc.write_folder(tmp_path / "f"))


def test_not_a_zip_nor_a_folder_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "archive.zip"
    bogus.write_text("this is not a zip")
    with pytest.raises(InputError, match="not a zip file"):
        XArchive(bogus)
    with pytest.raises(InputError, match="does not exist"):
        XArchive(tmp_path / "missing.zip")


def test_bad_later_part_stops_the_import_and_keeps_what_came_before(tmp_path: Path, data_dir: Path) -> None:
    arc = xb.standard_archive()
    arc.files["data/tweets-part1.js"] = b'window.YTD.tweets.part1 = [{"tweet": '
    with pytest.raises(InputError, match=r"data/tweets-part1\.js"):
        run_import(arc.write_folder(tmp_path / "f"), data_dir)
    assert CacheStore(data_dir).has_tweet(xb.PHOTO)  # from part 0


@pytest.mark.parametrize(
    ("names", "parts"),
    [
        (
            ["tweets.js", "tweets-part2.js", "tweets-part10.js", "tweets-part1.js"],
            ["tweets.js", "tweets-part1.js", "tweets-part2.js", "tweets-part10.js"],
        ),
        (["tweet.js", "tweet-part1.js", "account.js"], ["tweet.js", "tweet-part1.js"]),
        (["tweets.js", "tweet.js"], ["tweets.js"]),
        (["deleted-tweets.js", "note-tweet.js", "tweetdeck.js"], []),
    ],
)
def test_tweet_parts_are_found_in_order(names: list[str], parts: list[str]) -> None:
    assert tweet_parts(names) == parts


def test_generated_archive_smoke(tmp_path: Path, data_dir: Path) -> None:
    path = xb.generated_archive(tmp_path / "gen.zip", 25, per_part=10)
    progress: list[tuple[int, int]] = []
    archive = XArchive(path)
    assert archive.parts == ["tweets.js", "tweets-part1.js", "tweets-part2.js"]
    summary = Importer(archive, CacheStore(data_dir), clock=lambda: CLOCK).run(
        lambda d, t: progress.append((d, t))
    )
    total = sum(archive.size(p) for p in archive.parts)
    assert summary.imported == 25 and progress[-1] == (total, total)
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)
    archive.close()
    assert len(CacheStore(data_dir).tweet_ids_of(xb.USERNAME)) == 25


def test_tweet_with_an_unreadable_date_is_skipped_with_a_reason(tmp_path: Path, data_dir: Path) -> None:
    arc = xb.standard_archive()
    entries = arc.parts["data/tweets-part1.js"]
    entries[0]["tweet"]["created_at"] = "yesterday"
    arc.part("data/tweets-part1.js", "tweets.part1", entries)
    summary = run_import(arc.write_zip(tmp_path / "a.zip"), data_dir)
    assert summary.skipped == {"retweet without original": 1, "unreadable date": 1}
    assert summary.imported == 7 and "1 unreadable date" in summary.line()


@pytest.mark.parametrize(("field", "value"), [("username", "../evil"), ("accountId", "12ab")])
def test_invalid_account_is_refused_before_any_tweet_is_written(
    tmp_path: Path, data_dir: Path, field: str, value: str
) -> None:
    arc = xb.standard_archive()
    entries = xb.account_entries()
    entries[0]["account"][field] = value
    arc.part("data/account.js", "account.part0", entries)
    with pytest.raises(InputError, match=r"data/account\.js"):
        run_import(arc.write_zip(tmp_path / "a.zip"), data_dir)
    assert CacheStore(data_dir).tweet_count() == 0 and not build_index(data_dir).tweets


def test_note_with_an_unreadable_date_is_ignored(tmp_path: Path, data_dir: Path) -> None:
    arc = xb.standard_archive()
    notes = arc.parts["data/note-tweet.js"]
    notes.append({"noteTweet": {"noteTweetId": "5", "createdAt": "someday", "core": {"text": "x"}}})
    arc.part("data/note-tweet.js", "noteTweet.part0", notes)
    assert run_import(arc.write_zip(tmp_path / "a.zip"), data_dir).imported == 8


THREAD = 250  # tweets, each a reply to the one before: more than a group, and than a tiny store keeps


def thread_archive() -> xb.Archive:
    """A self-thread of :data:`THREAD` tweets in one part, and a second part repeating its first ten."""
    ids = [str(1_770_000_000_000_000_000 + i) for i in range(THREAD)]
    entries = [
        xb.tweet(
            tweet_id,
            f"Part {i} of the thread",
            day=1 + i % 27,
            second=i % 60,
            reply_to=(ids[i - 1], xb.ACCOUNT_ID, xb.USERNAME) if i else None,
        )
        for i, tweet_id in enumerate(ids)
    ]
    arc = xb.Archive()
    arc.part("data/account.js", "account.part0", xb.account_entries())
    arc.part("data/tweets.js", "tweets.part0", entries)
    arc.part("data/tweets-part1.js", "tweets.part1", entries[:10])
    return arc


@pytest.mark.parametrize("names_kept", [2, importer.NAMES_KEPT])
def test_a_store_keeping_few_answers_still_finds_duplicates_renames_and_references(
    tmp_path: Path, data_dir: Path, names_kept: int
) -> None:
    first = str(1_770_000_000_000_000_000)
    api_doc = {  # the first tweet, cached from the API under the account's earlier name
        "data": {
            "id": first,
            "text": "api",
            "author_id": xb.ACCOUNT_ID,
            "created_at": "2026-02-01T09:10:00Z",
        },
        "includes": {"users": [{"id": xb.ACCOUNT_ID, "username": "earliername", "name": "Owner"}]},
        "nostrweet": {"format": 1, "fetched_at": "2026-02-28T00:00:00Z"},
    }
    old = CacheStore(data_dir).write_tweet(api_doc)
    path = thread_archive().write_zip(tmp_path / "thread.zip")

    summary = run_import(path, data_dir, names_kept)
    assert (summary.imported, summary.already_cached) == (THREAD - 1, 11)  # the API's first, ten twice
    assert summary.linked == THREAD - 1  # every reply, its parent a group or more before
    assert old.exists() and CacheStore(data_dir).tweet_owner(first) == "earliername"
    store = CacheStore(data_dir)
    assert len(store.tweet_ids_of(xb.USERNAME)) == THREAD - 1
    last = store.read_tweet(1_770_000_000_000_000_000 + THREAD - 1)
    assert last is not None and last.tweet(str(1_770_000_000_000_000_000 + THREAD - 2)) is not None

    before = snapshot(data_dir)
    again = run_import(path, data_dir, names_kept)
    assert (again.imported, again.already_cached, again.linked) == (0, THREAD + 10, 0)
    assert snapshot(data_dir) == before


@pytest.mark.parametrize("names_kept", [2 * importer.GROUP, importer.NAMES_KEPT])
def test_the_import_asks_the_state_a_group_at_a_time(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch, names_kept: int
) -> None:
    from nostrweet.state.index import ArchiveIndex

    batches: list[int] = []
    asked = ArchiveIndex.tweet_names

    def tweet_names(self: ArchiveIndex, ids: list[int]) -> dict[int, str]:
        batches.append(len(ids))
        return asked(self, ids)

    def one_by_one(self: ArchiveIndex, tweet_id: int) -> str | None:
        raise AssertionError(f"tweet {tweet_id} looked up on its own")

    monkeypatch.setattr(ArchiveIndex, "tweet_names", tweet_names)
    monkeypatch.setattr(ArchiveIndex, "tweet_name", one_by_one)
    summary = run_import(thread_archive().write_zip(tmp_path / "thread.zip"), data_dir, names_kept)
    assert summary.linked == THREAD - 1
    assert batches and max(batches) <= 2 * importer.GROUP
