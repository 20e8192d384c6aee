"""The earlier Rust nostrweet's names and tweet shape (``cache.legacy``), and the tweet loader reading its
files as they are: converted in memory, never moved."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from nostrweet.cache import layout, legacy
from nostrweet.cache.writers import WRITERS_DIR
from nostrweet.store import CacheStore
from nostrweet.twitter.models import decode_document
from tests.data.legacy_dir import CAMEL, build_legacy_dir, case_tweet, legacy_event, tree_digest


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("20250830_193740_douglaz_1961875988859535529.json", ("douglaz", 1961875988859535529)),
        ("20240202_100000_CamelCase_1500000000000000001.json", ("camelcase", 1500000000000000001)),
        ("20230115_103000_testuser_123456789.json", ("testuser", 123456789)),
        ("20230101_000000__123.json", None),  # an empty username: not a name we can own
        ("20250901120000_douglaz_3916631.json", None),  # a profile
        ("20250101_120000_douglaz_profile.json", None),  # our profile
        ("20251399_120000_douglaz_1.json", None),  # no such date
    ],
)
def test_tweet_names(name: str, expected: tuple[str, int] | None) -> None:
    parsed = legacy.parse_tweet_name(name)
    assert (None if parsed is None else (parsed.username, parsed.tweet_id)) == expected


def test_other_names_are_told_apart_from_ours() -> None:
    profile = legacy.parse_profile_name("20240101120000_CachedUser_12345.json")
    assert profile is not None and (profile.username, profile.user_id, profile.stamp) == (
        "cacheduser",
        "12345",
        20240101120000,
    )
    assert legacy.parse_profile_name("20240101_120000_cacheduser_profile.json") is None
    assert legacy.parse_not_found_name("123456789.not_found") == 123456789
    assert legacy.parse_not_found_name(layout.not_found_filename(123)) is None
    assert layout.parse_not_found_filename("123456789.not_found") is None
    assert legacy.parse_media_name("dr_orlovsky_1950211651019354113.jpg") == (
        "dr_orlovsky",
        "1950211651019354113",
        "jpg",
    )
    assert legacy.parse_media_name(layout.media_filename("douglaz", 123, 0, "jpg")) is None
    assert layout.parse_media_filename("dr_orlovsky_1950211651019354113.jpg") is None
    assert legacy.media_names("dr_orlovsky", "3_1950211651019354113") == [
        "dr_orlovsky_1950211651019354113.jpg",
        "dr_orlovsky_1950211651019354113.mp4",
    ]
    assert legacy.parse_posted_name("1950547609602433299.json") == 1950547609602433299
    assert legacy.parse_event_name("ab" * 32 + ".json") == "ab" * 32
    assert legacy.parse_event_name(f"event_{'ab' * 32}_tweet_1.json") is None


def test_a_reply_with_its_parent_becomes_our_document() -> None:
    raw = case_tweet("04-reply-with-data")
    doc = decode_document(legacy.document_from_legacy(raw))
    assert doc.data.id == raw["id"] and doc.data.reference("replied_to") == "1234567890123456600"
    author = doc.author()
    assert author is not None and author.username == "replier"
    parent = doc.tweet("1234567890123456600")
    assert parent is not None and parent.author_id == "222222222"
    assert doc.user("222222222") is not None
    assert doc.nostrweet.source == legacy.SOURCE
    assert legacy.missing_references(raw) == []


def test_media_belong_to_the_tweet_that_owns_them() -> None:
    # case 11: the reply has no media of its own; its parent's photo is in both includes
    reply = decode_document(legacy.document_from_legacy(case_tweet("11-reply-to-tweet-with-photo")))
    assert reply.data.attachments is None
    parent = reply.tweet("1950211658279759953")
    assert parent is not None and parent.attachments is not None
    assert parent.attachments.media_keys == ["3_1950211651019354113"]
    assert [m.media_key for m in reply.includes.media] == ["3_1950211651019354113"]
    # case 14: the earlier tool dropped the retweeted tweet's attachments; its own includes say them
    retweet = decode_document(legacy.document_from_legacy(case_tweet("14-simple-retweet-with-video")))
    original = retweet.tweet("1961747503176356209")
    assert original is not None and original.attachments is not None
    assert original.attachments.media_keys == ["7_1961205918026145792"]
    assert retweet.media("7_1961205918026145792") is not None
    owners = dict(
        legacy.media_files_of(legacy.document_from_legacy(case_tweet("14-simple-retweet-with-video")))
    )
    assert owners == {"7_1961205918026145792": "MedicoLiberdade"}


def test_an_unfetched_reference_stays_a_reference() -> None:
    raw = case_tweet("07-reply-without-data-unresolved-mentions")
    doc = decode_document(legacy.document_from_legacy(raw))
    assert doc.includes.tweets == [] and doc.data.reference("replied_to") == "1929036772777787461"
    assert legacy.missing_references(raw) == ["1929036772777787461"]


def test_shapes() -> None:
    assert legacy.is_legacy_tweet(CAMEL)
    assert not legacy.is_legacy_tweet({"data": CAMEL})
    assert not legacy.is_legacy_tweet({"id": "1", "text": "x"})  # no created_at
    assert legacy.is_legacy_profile({"id": "1", "username": "a"})


def test_posted_records_and_events() -> None:
    tweet = case_tweet("22-html-entities")
    event = legacy_event(tweet)
    record = {
        "tweet_id": tweet["id"],
        "event_json": json.dumps(event.to_dict(), indent=2),
        "relays": ["wss://a"],
    }
    posted = legacy.posted_record(record, int(tweet["id"]))
    assert posted is not None and posted.event["id"] == event.id and posted.relays == ("wss://a",)
    assert legacy.posted_record(record, 5) is None  # another tweet's record
    assert legacy.posted_record({**record, "event_json": "{"}, int(tweet["id"])) is None
    found = legacy.tweet_of_event(event.to_dict())
    assert found is not None and found.tweet_id == tweet["id"]
    ours = {**event.to_dict(), "tags": [["r", f"https://x.com/i/status/{tweet['id']}"]]}
    assert legacy.tweet_of_event(ours) is None  # the earlier tool's r form only
    assert legacy.tweet_of_event({**event.to_dict(), "kind": 0}) is None


def test_the_loader_reads_the_earlier_tools_files_and_moves_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    old = build_legacy_dir(tmp_path / "data")
    stranger = old.path / "20240303_000000_stranger_1600000000000000001.json"
    stranger.write_text(json.dumps({"some": "thing"}))
    broken = old.path / "20240303_000000_stranger_1600000000000000002.json"
    broken.write_text("{not json")
    # the state, added, and the marker of a writing process (cache/writers.py)
    state_files = ("nostrweet.sqlite3", "nostrweet.sqlite3-wal", "nostrweet.sqlite3-shm", WRITERS_DIR)
    before = tree_digest(old.path, ignore=(broken.name, *state_files))

    store = CacheStore(old.path)  # a writing store: it may quarantine what is not JSON, nothing else
    camel = store.read_tweet("1500000000000000001")
    assert camel is not None and camel.author() is not None
    assert store.tweet_ids_of("camelcase") == [1500000000000000001]
    assert all(store.read_tweet(t) is not None for t in old.tweets)
    assert store.is_not_found("1929036772777787461")
    profile = store.newest_profile("douglaz")
    assert profile is not None and profile.id == "3916631"
    with caplog.at_level(logging.WARNING):
        assert store.read_tweet("1600000000000000001") is None
    assert "left as it is" in caplog.text
    assert store.read_tweet("1600000000000000002") is None

    assert stranger.exists()  # a valid JSON file of an unknown shape is never moved
    assert not broken.exists()  # a file that is not JSON is moved aside by a writing command
    assert tree_digest(old.path, ignore=(broken.name, *state_files)) == before
