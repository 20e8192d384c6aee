"""The typed boundary's leniency, as tables: what X may send, what nostrweet reads from it.

Each row is a shape seen from X (or a hostile peer posing as it). The raw object is always kept as
sent (it is what the cached file stores); the typed value is what code reads.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from nostrweet.errors import NotFoundError, TwitterApiError
from nostrweet.twitter.api import LookupResult, collect_lookup, timeline_page, user_data, users_by_id
from nostrweet.twitter.wire import decode_media, decode_poll, decode_tweet, decode_user

TID = "1440716745577140229"

# (name, raw tweet, expected: None = dropped, else a dict of typed fields to check)
TWEETS: list[tuple[str, Any, dict[str, Any] | None]] = [
    ("plain", {"id": TID, "text": "hi"}, {"id": TID, "text": "hi"}),
    ("id as a number", {"id": int(TID), "text": "hi"}, {"id": TID}),
    (
        "other ids as numbers",
        {"id": TID, "author_id": 17995040, "conversation_id": 5, "in_reply_to_user_id": 7},
        {"author_id": "17995040", "conversation_id": "5", "in_reply_to_user_id": "7"},
    ),
    (
        "referenced id as a number",
        {"id": TID, "referenced_tweets": [{"type": "quoted", "id": 12}]},
        {"refs": [("quoted", "12")]},
    ),
    (
        "referenced entry without a type is dropped",
        {"id": TID, "referenced_tweets": [{"id": "12"}, {"type": "replied_to", "id": "13"}]},
        {"refs": [("replied_to", "13")]},
    ),
    (
        "referenced entries without an id, or not objects, are dropped",
        {"id": TID, "referenced_tweets": [{"type": "quoted"}, "12", None, {"type": "quoted", "id": "14"}]},
        {"refs": [("quoted", "14")]},
    ),
    (
        "media keys and poll ids as numbers",
        {"id": TID, "attachments": {"media_keys": ["3_1", 7], "poll_ids": [99]}},
        {"media_keys": ["3_1", "7"], "poll_ids": ["99"]},
    ),
    (
        "mention id as a number, in the note tweet too",
        {
            "id": TID,
            "entities": {"mentions": [{"username": "a", "id": 1}]},
            "note_tweet": {"text": "long", "entities": {"mentions": [{"username": "b", "id": 2}]}},
        },
        {"mentions": ["1"], "note_mentions": ["2"]},
    ),
    (
        "unknown fields are ignored",
        {"id": TID, "text": "x", "edit_controls": {"editable_until": "…"}, "geo": {"place_id": "p"}},
        {"id": TID},
    ),
    ("no id: dropped", {"text": "no id"}, None),
    ("id of the wrong kind: dropped", {"id": {"nested": 1}, "text": "x"}, None),
    ("id as a boolean: dropped", {"id": True}, None),
    ("text of the wrong kind: dropped", {"id": TID, "text": 5}, None),
    ("referenced_tweets not a list: dropped", {"id": TID, "referenced_tweets": "12"}, None),
    ("not an object: dropped", ["id", TID], None),
    ("null: dropped", None, None),
]


@pytest.mark.parametrize(("raw", "want"), [pytest.param(r, w, id=n) for n, r, w in TWEETS])
def test_tweet_shapes(raw: Any, want: dict[str, Any] | None, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    got = decode_tweet(raw)
    if want is None:
        assert got is None
        assert "skipped" in caplog.text  # one warning, no traceback
        return
    assert got is not None
    assert got.raw is raw  # the object as X sent it, for the file
    tweet = got.value
    checks = {
        "id": lambda: tweet.id,
        "text": lambda: tweet.text,
        "author_id": lambda: tweet.author_id,
        "conversation_id": lambda: tweet.conversation_id,
        "in_reply_to_user_id": lambda: tweet.in_reply_to_user_id,
        "refs": lambda: [(r.type, r.id) for r in tweet.referenced_tweets],
        "media_keys": lambda: tweet.attachments.media_keys if tweet.attachments else None,
        "poll_ids": lambda: tweet.attachments.poll_ids if tweet.attachments else None,
        "mentions": lambda: [m.id for m in tweet.entities.mentions] if tweet.entities else None,
        "note_mentions": lambda: (
            [m.id for m in tweet.note_tweet.entities.mentions]
            if tweet.note_tweet and tweet.note_tweet.entities
            else None
        ),
    }
    assert {k: checks[k]() for k in want} == want


OTHERS: list[tuple[str, Any, Any, Any]] = [
    ("user", decode_user, {"id": 17995040, "username": "ben", "x": 1}, ("17995040", "ben")),
    ("user without username", decode_user, {"id": "1"}, None),
    ("user with a numeric username", decode_user, {"id": "1", "username": 5}, None),
    ("media", decode_media, {"media_key": "3_1", "type": "photo", "new": 0}, ("3_1", "photo")),
    ("media key as a number", decode_media, {"media_key": 31, "type": "photo"}, ("31", "photo")),
    ("media without a type", decode_media, {"media_key": "3_1"}, None),
    ("poll id as a number", decode_poll, {"id": 99, "options": []}, ("99", [])),
    ("poll without an id", decode_poll, {"options": []}, None),
]


@pytest.mark.parametrize(("decode", "raw", "want"), [pytest.param(d, r, w, id=n) for n, d, r, w in OTHERS])
def test_other_object_shapes(decode: Any, raw: Any, want: Any) -> None:
    got = decode(raw)
    if want is None:
        assert got is None
        return
    value = got.value
    first = getattr(value, "media_key", None) or value.id
    second = getattr(value, "username", None) or getattr(value, "type", None) or value.options
    assert (first, second) == want
    assert got.raw is raw


# Whole answers: (name, body, ids of the page's tweets, next_token)
PAGES: list[tuple[str, dict[str, Any], list[str], str | None]] = [
    ("empty answer", {}, [], None),
    ("data not a list", {"data": {"id": TID}}, [], None),
    ("meta not an object", {"data": [{"id": TID}], "meta": "x"}, [TID], None),
    (
        "bad tweets dropped, good ones kept",
        {"data": [{"id": TID}, {"text": "no id"}, 5, {"id": 12}], "meta": {"next_token": "n"}},
        [TID, "12"],
        "n",
    ),
]


@pytest.mark.parametrize(("body", "ids", "token"), [pytest.param(b, i, t, id=n) for n, b, i, t in PAGES])
def test_timeline_answers(body: dict[str, Any], ids: list[str], token: str | None) -> None:
    page = timeline_page(body)
    assert [t.value.id for t in page.tweets] == ids
    assert page.next_token == token


def test_includes_keep_what_can_be_read() -> None:
    body = {
        "data": [{"id": TID, "author_id": 1}],
        "includes": {
            "users": [{"id": 1, "username": "a"}, {"id": 2}],
            "tweets": [{"id": "12"}, "junk"],
            "media": [{"media_key": "3_1", "type": "photo"}, {"type": "photo"}],
            "polls": "not a list",
            "places": [{"id": "p"}],
        },
    }
    page = timeline_page(body)
    assert [u.value.id for u in page.includes.users] == ["1"]
    assert [t.value.id for t in page.includes.tweets] == ["12"]
    assert [m.value.media_key for m in page.includes.media] == ["3_1"]
    assert page.includes.polls == []


def test_lookup_of_a_single_tweet() -> None:
    result = LookupResult()
    collect_lookup(result, {"data": {"id": int(TID), "text": "x"}}, [TID])
    assert list(result.tweets) == [TID]
    assert result.not_found == {}


def test_users_answer() -> None:
    assert list(users_by_id({"data": [{"id": 1, "username": "a"}, {"id": 2}, "x"]})) == ["1"]
    assert users_by_id({"data": {"id": 1, "username": "a"}}) == {}


def test_by_username_answers() -> None:
    assert user_data({"data": {"id": 1, "username": "a"}}, "a").value.id == "1"
    with pytest.raises(NotFoundError, match="@a not found: gone"):
        user_data({"errors": [{"detail": "gone"}]}, "a")
    with pytest.raises(TwitterApiError, match="cannot read") as info:
        user_data({"data": {"id": 1}}, "a")
    assert "\n" not in str(info.value)


def test_an_unreadable_asked_tweet_is_neither_had_nor_not_found() -> None:
    result = LookupResult()
    collect_lookup(result, {"data": [{"id": TID, "text": 5}, {"id": "12"}]}, [TID, "12", "13"])
    assert list(result.tweets) == ["12"]
    assert result.unreadable == {TID}
    assert set(result.not_found) == {"13"}  # neither data nor a Problem


def test_a_cached_document_in_the_looser_shape_is_read() -> None:
    from nostrweet.twitter.models import decode_document

    doc = {
        "data": {"id": int(TID), "author_id": 1, "referenced_tweets": [{"id": 12}]},
        "includes": {"users": [{"id": 1, "username": "a"}], "media": [{"media_key": 3, "type": "photo"}]},
        "errors": [{"title": "Not Found Error", "value": 12, "resource_id": 12}],
    }
    for raw in (doc, json.dumps(doc).encode()):
        typed = decode_document(raw)
        assert (typed.data.id, typed.data.author_id, typed.data.referenced_tweets) == (TID, "1", [])
        assert typed.author() is not None and typed.media("3") is not None
        assert typed.errors[0].resource_id == "12"
    assert doc["data"]["id"] == int(TID)  # the dict given is not changed
