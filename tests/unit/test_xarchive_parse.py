"""X archive import, the pure part: prefixes, dates, and archive tweets → cache documents (SPEC §12)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nostrweet.archive.xarchive import parse, schema
from nostrweet.bridge.content import render_text
from nostrweet.errors import InputError
from nostrweet.twitter.models import decode_document
from tests.fakes import x_archive_builder as xb

USER = {"id": xb.ACCOUNT_ID, "username": xb.USERNAME, "name": "Archive Owner"}


def one(entry: dict[str, Any]) -> schema.ArchiveTweet:
    data = b"window.YTD.tweets.part0 = " + json.dumps([entry]).encode()
    [tweet] = schema.decode_tweets(data, "data/tweets.js")
    return tweet


def convert(entry: dict[str, Any], note: schema.Note | None = None) -> parse.Converted:
    return parse.convert_tweet(one(entry), dict(USER), "2026-03-01T00:00:00Z", note)


@pytest.mark.parametrize(
    ("data", "body"),
    [
        (b"window.YTD.tweets.part0 = []", b"[]"),
        (b"window.YTD.tweets.part12 =[1]", b"[1]"),
        (b"  window.YTD.note_tweet.part0\n=\n[]", b"[]"),
    ],
)
def test_prefix_is_stripped(data: bytes, body: bytes) -> None:
    assert schema.strip_prefix(data, "x.js") == body


@pytest.mark.parametrize(
    "data",
    [
        b"[]",  # no prefix
        b"alert(1); window.YTD.tweets.part0 = []",  # code before the prefix is never run nor skipped
        b"window.YTD.tweets = []",
    ],
)
def test_part_without_prefix_is_an_input_error_naming_the_file(data: bytes) -> None:
    with pytest.raises(InputError, match=r"data/tweets-part3\.js"):
        schema.decode_tweets(data, "data/tweets-part3.js")


def test_part_that_is_not_json_after_its_prefix_is_an_input_error_naming_the_file() -> None:
    with pytest.raises(InputError, match=r"data/tweets\.js: not JSON"):
        schema.decode_tweets(b'window.YTD.tweets.part0 = [{"tweet": {', "data/tweets.js")


@pytest.mark.parametrize(
    ("v11", "v2"),
    [
        ("Fri Feb 20 09:10:58 +0000 2026", "2026-02-20T09:10:58.000Z"),
        ("Thu Jan 01 00:00:00 +0000 2015", "2015-01-01T00:00:00.000Z"),
        ("Sat Feb 21 01:10:58 +0200 2026", "2026-02-20T23:10:58.000Z"),
        ("2026-02-24T09:10:07.000Z", "2026-02-24T09:10:07.000Z"),
    ],
)
def test_dates_become_rfc3339_utc(v11: str, v2: str) -> None:
    assert parse.rfc3339(v11) == v2


def test_plain_tweet_keeps_id_text_date_and_expands_urls() -> None:
    entry = xb.tweet(
        "1760000000000000001",
        "Hello &amp; #nostr https://t.co/aaaa",
        hashtags=[{"text": "nostr", "indices": ["12", "18"]}],
        urls=[xb.url_entity("https://t.co/aaaa", "https://example.com/a", 19)],
        mentions=[],
    )
    doc = convert(entry).document
    data = doc["data"]
    assert data["id"] == "1760000000000000001"
    assert data["text"] == "Hello &amp; #nostr https://t.co/aaaa"  # escaped as the API gives it
    assert data["created_at"] == "2026-02-20T09:10:00.000Z"
    assert data["author_id"] == xb.ACCOUNT_ID
    assert data["entities"]["urls"] == [
        {
            "start": 19,
            "end": 36,
            "url": "https://t.co/aaaa",
            "expanded_url": "https://example.com/a",
            "display_url": "example.com/a",
        }
    ]
    assert data["entities"]["hashtags"] == [{"start": 12, "end": 18, "tag": "nostr"}]
    assert "referenced_tweets" not in data
    assert doc["includes"]["users"] == [USER]
    assert doc["nostrweet"]["source"] == "x-archive"
    decoded = decode_document(doc)  # the one cache document shape
    assert decoded.author() is not None and decoded.author().username == xb.USERNAME  # type: ignore[union-attr]


def test_reply_has_replied_to_and_the_replied_user() -> None:
    entry = xb.tweet(
        "1760000000000000008",
        "@XDevelopers thanks",
        mentions=[xb.mention(xb.OTHER, xb.OTHER_ID, 0)],
        reply_to=("1759999999999999999", xb.OTHER_ID, xb.OTHER),
    )
    converted = convert(entry)
    data = converted.document["data"]
    assert data["referenced_tweets"] == [{"type": "replied_to", "id": "1759999999999999999"}]
    assert data["in_reply_to_user_id"] == xb.OTHER_ID
    assert data["entities"]["mentions"] == [{"start": 0, "end": 12, "username": xb.OTHER, "id": xb.OTHER_ID}]
    assert {"id": xb.OTHER_ID, "username": xb.OTHER} in converted.document["includes"]["users"]
    assert converted.references == ["1759999999999999999"]


@pytest.mark.parametrize(
    ("expanded", "quoted"),
    [
        ("https://twitter.com/ArchiveOwner/status/1760000000000000001", "1760000000000000001"),
        ("https://x.com/someone/status/42", "42"),
        ("https://mobile.twitter.com/i/web/status/43", "43"),
        ("https://x.com/someone/status/42/photo/1", None),  # a media page, not a quote
        ("https://example.com/status/42", None),
        ("https://x.com/ArchiveOwner/status/1760000000000000003", None),  # its own status URL
    ],
)
def test_quote_is_a_status_url_of_x(expanded: str, quoted: str | None) -> None:
    entry = xb.tweet(
        "1760000000000000003",
        "Look https://t.co/qqqq",
        urls=[xb.url_entity("https://t.co/qqqq", expanded, 5)],
    )
    data = convert(entry).document["data"]
    refs = data.get("referenced_tweets", [])
    assert refs == ([{"type": "quoted", "id": quoted}] if quoted else [])


def test_photo_and_video_become_media_objects_with_our_keys() -> None:
    tid = xb.PHOTO
    entry = xb.tweet(
        tid,
        "Two https://t.co/pppp",
        media=[
            xb.photo(tid, "11", "https://t.co/pppp", 4, "Ph.jpg"),
            xb.video(tid, "12", "https://t.co/pppp", 4, "clip"),
        ],
    )
    converted = convert(entry)
    data = converted.document["data"]
    assert data["attachments"] == {"media_keys": ["3_11", "7_12"]}
    [media_url] = [u for u in data["entities"]["urls"] if "media_key" in u]
    assert media_url["media_key"] == "3_11" and media_url["expanded_url"].endswith("/photo/1")
    photo, video = converted.document["includes"]["media"]
    assert photo == {
        "media_key": "3_11",
        "type": "photo",
        "url": "https://pbs.twimg.com/media/Ph.jpg",
        "width": 1200,
        "height": 800,
    }
    assert video["type"] == "video" and video["duration_ms"] == 5005 and video["width"] == 1280
    assert {"content_type": "video/mp4", "url": video["variants"][0]["url"], "bit_rate": 832000} in video[
        "variants"
    ]
    assert converted.media == [
        parse.MediaItem(0, "3_11", (f"{tid}-Ph.jpg",)),
        parse.MediaItem(1, "7_12", (f"{tid}-clip.mp4", f"{tid}-clip.m3u8", f"{tid}-thumb.jpg")),
    ]
    dropped = parse.drop_media(converted.document, {"3_11"})
    assert dropped["data"]["attachments"] == {"media_keys": ["7_12"]}
    assert [m["media_key"] for m in dropped["includes"]["media"]] == ["7_12"]
    assert all("media_key" not in u for u in dropped["data"]["entities"]["urls"])


def test_long_tweet_takes_its_full_text_from_the_note() -> None:
    head = xb.NOTE_TEXT[:250] + "… https://t.co/nnnn"
    tweet = one(xb.tweet(xb.LONG, head, day=24, second=7))
    note = schema.Note(createdAt="2026-02-24T09:10:07.000Z", core=schema.NoteCore(text=xb.NOTE_TEXT))
    other = schema.Note(createdAt="2026-02-24T09:10:07.000Z", core=schema.NoteCore(text="Something else"))
    late = schema.Note(createdAt="2026-02-24T09:10:09.000Z", core=schema.NoteCore(text=xb.NOTE_TEXT))
    assert parse.note_matches(tweet, note)
    assert not parse.note_matches(tweet, other)
    assert not parse.note_matches(tweet, late)
    data = parse.convert_tweet(tweet, dict(USER), "x", note).document["data"]
    assert data["note_tweet"]["text"] == xb.NOTE_TEXT
    assert decode_document({"data": data, "includes": {"users": [USER]}}).data.note_tweet is not None


@pytest.mark.parametrize(
    ("text", "retweet"),
    [("RT @XDevelopers: The new API…", True), ("Not an RT @x", False), ("rt @x: lower case", False)],
)
def test_retweets_are_told_by_their_text(text: str, retweet: bool) -> None:
    assert parse.is_retweet(one(xb.tweet("1", text))) is retweet


def test_older_version_of_an_edited_tweet_is_superseded() -> None:
    ids = ["100", "105"]
    assert parse.superseded(one(xb.tweet("100", "first", edit_ids=ids)))
    assert not parse.superseded(one(xb.tweet("105", "edited", edit_ids=ids)))
    assert not parse.superseded(one(xb.tweet("7", "never edited")))


def test_account_user_never_carries_the_email() -> None:
    raw = b"window.YTD.account.part0 = " + json.dumps(xb.account_entries()).encode()
    account = schema.decode_account(raw, "data/account.js")
    profile = schema.decode_profile(
        b"window.YTD.profile.part0 = " + json.dumps(xb.profile_entries()).encode(), "data/profile.js"
    )
    user = parse.account_user(account, profile)
    assert user["id"] == xb.ACCOUNT_ID and user["username"] == xb.USERNAME
    assert user["description"] == "I moved to Nostr." and user["location"] == "Earth"
    assert "example.com" not in json.dumps(user)


def test_link_reference_adds_the_parent_once() -> None:
    parent = convert(xb.tweet(xb.ROOT, "root")).document
    child = convert(xb.tweet(xb.REPLY, "reply", reply_to=(xb.ROOT, xb.ACCOUNT_ID, xb.USERNAME))).document
    assert parse.link_reference(child, parent)
    assert not parse.link_reference(child, parent)
    doc = decode_document(child)
    assert doc.tweet(xb.ROOT) is not None and [t.id for t in doc.includes.tweets] == [xb.ROOT]


# -- properties -----------------------------------------------------------------------------

ids = st.integers(min_value=1, max_value=2**63 - 1).map(str)
moments = st.datetimes(
    min_value=__import__("datetime").datetime(2006, 3, 21),
    max_value=__import__("datetime").datetime(2099, 12, 31),
)
words = st.text(alphabet="abcdefghij XYZ&#", min_size=0, max_size=30)


@given(tweet_id=ids, when=moments, head=words, links=st.lists(st.integers(0, 999), max_size=4))
def test_ids_and_dates_are_kept_and_no_tco_survives_where_an_expanded_url_exists(
    tweet_id: str, when: datetime, head: str, links: list[int]
) -> None:
    text = head
    urls = []
    for n in links:
        short = f"https://t.co/l{n}"
        text += " "
        urls.append(xb.url_entity(short, f"https://example.com/{n}", len(text)))
        text += short
    entry = xb.tweet(tweet_id, text, urls=urls)
    entry["tweet"]["created_at"] = when.strftime("%a %b %d %H:%M:%S +0000 %Y")
    doc = convert(entry).document
    assert doc["data"]["id"] == tweet_id
    assert doc["data"]["created_at"] == when.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    for url in doc["data"].get("entities", {}).get("urls", []):
        assert not url["expanded_url"].startswith("https://t.co/")
        assert doc["data"]["text"][url["start"] : url["end"]] == url["url"]
    rendered = render_text(
        doc["data"]["text"],
        decode_document(doc).data.entities,
        mention_id=lambda m: None,
        npub_for=lambda uid: uid,
        url_for=lambda u: u.expanded_url or u.url,
    )
    assert "https://t.co/" not in rendered.text
