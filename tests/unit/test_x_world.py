"""The fake X world (merge, timelines, release clock) and the OpenAPI parameter validator."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fakes import openapi_params as oa
from tests.fakes.x_render import Renderer, decode_token, encode_token
from tests.fakes.x_world import (
    BIG_TIMELINE_USER_ID,
    FIXTURES,
    PHILLY_USER_ID,
    SYNTHETIC_GIF_TWEET_ID,
    SYNTHETIC_NOTE_TWEET_ID,
    SYNTHETIC_USER_ID,
    SYNTHETIC_VIDEO_TWEET_ID,
    World,
    merge_into,
)

META_FILES = sorted(FIXTURES.rglob("*.meta.json"))


def _raw_objects() -> tuple[set[str], set[str], set[str]]:
    """Ids of every tweet, user and media key in the recordings, counted independently of World."""
    tweets: set[str] = set()
    users: set[str] = set()
    media: set[str] = set()
    for path in FIXTURES.rglob("*.json"):
        if path.name.endswith(".meta.json"):
            continue
        body = json.loads(path.read_text())
        data = body.get("data")
        items = [data] if isinstance(data, dict) else list(data or [])
        inc = body.get("includes", {})
        for obj in items + inc.get("tweets", []) + inc.get("users", []):
            (users if "username" in obj else tweets).add(obj["id"])
        media |= {m["media_key"] for m in inc.get("media", [])}
    return tweets, users, media


def test_world_holds_every_recorded_object_once(x_world: World) -> None:
    tweets, users, media = _raw_objects()
    synthetic_tweets = {t for t in x_world.tweets if t.startswith("17000000000000000")}
    assert set(x_world.tweets) - synthetic_tweets == tweets
    assert set(x_world.users) - {SYNTHETIC_USER_ID} == users
    assert tweets <= set(x_world.tweets) and media <= set(x_world.media)
    assert len(tweets) > 1900 and len(users) > 2000 and len(media) > 70
    # keys are the objects' own ids: no duplicates hide under other keys
    assert all(k == v["id"] for k, v in x_world.tweets.items())
    assert all(k == v["media_key"] for k, v in x_world.media.items())


def test_merge_keeps_the_richer_object() -> None:
    table: dict[str, dict[str, object]] = {}
    merge_into(table, "1", {"id": "1", "text": "a", "entities": {"urls": [1]}})
    merge_into(table, "1", {"id": "1", "text": "b", "entities": {}, "lang": "en", "geo": None})
    assert table["1"] == {"id": "1", "text": "b", "entities": {"urls": [1]}, "lang": "en", "geo": None}


def test_same_tweet_from_two_recordings_is_merged(x_world: World) -> None:
    # 1293593516040269825 is in get_tweet.json (with edit_history) and get_tweet_2021.json (without)
    tweet = x_world.tweets["1293593516040269825"]
    assert tweet["edit_history_tweet_ids"] == ["1293593516040269825"]
    assert tweet["text"]


def test_timelines_are_newest_first(x_world: World) -> None:
    for user_id, _ in x_world.timeline_sizes()[:20]:
        ids = x_world.timeline(user_id)
        assert [int(i) for i in ids] == sorted((int(i) for i in ids), reverse=True)
        assert all(x_world.tweets[i]["author_id"] == user_id for i in ids)


def test_big_timelines_exist(x_world: World) -> None:
    assert len(x_world.timeline(BIG_TIMELINE_USER_ID)) > 100
    assert len(x_world.timeline(PHILLY_USER_ID)) == 100
    assert x_world.timeline_sizes()[0] == (BIG_TIMELINE_USER_ID, 101)


def test_lookup_is_case_insensitive(x_world: World) -> None:
    assert x_world.user_by_username("phillynefl") == x_world.users[PHILLY_USER_ID]
    assert x_world.user_by_username("nobody_here_x") is None


def test_synthetic_objects(x_world: World) -> None:
    note = x_world.tweets[SYNTHETIC_NOTE_TWEET_ID]["note_tweet"]
    assert len(note["text"]) > 280
    for kind in ("urls", "mentions", "hashtags"):
        for ent in note["entities"][kind]:
            fragment = note["text"][ent["start"] : ent["end"]]
            assert fragment in (ent.get("url"), "@" + str(ent.get("username")), "#" + str(ent.get("tag")))
    video_key = x_world.tweets[SYNTHETIC_VIDEO_TWEET_ID]["attachments"]["media_keys"][0]
    variants = x_world.media[video_key]["variants"]
    assert len([v for v in variants if v["content_type"] == "video/mp4"]) >= 3
    assert any(v["content_type"] == "application/x-mpegURL" for v in variants)
    gif_key = x_world.tweets[SYNTHETIC_GIF_TWEET_ID]["attachments"]["media_keys"][0]
    assert x_world.media[gif_key]["type"] == "animated_gif" and x_world.media[gif_key]["variants"]
    assert x_world.timeline(SYNTHETIC_USER_ID)[0] > SYNTHETIC_VIDEO_TWEET_ID


def test_delete_and_protect(x_world: World) -> None:
    tid = x_world.timeline(PHILLY_USER_ID)[0]
    x_world.delete_tweet(tid)
    assert x_world.tweet_state(tid) == "not_found" and tid not in x_world.timeline(PHILLY_USER_ID)
    other = x_world.timeline(PHILLY_USER_ID)[0]
    x_world.protect_tweet(other)
    assert x_world.tweet_state(other) == "protected" and x_world.get_tweet(other) is None


def test_add_tweet_joins_the_timeline(x_world: World) -> None:
    new = {"id": "1800000000000000000", "text": "hi", "author_id": PHILLY_USER_ID}
    x_world.add_tweet(new)
    assert x_world.timeline(PHILLY_USER_ID)[0] == new["id"]
    assert len(x_world.timeline(PHILLY_USER_ID)) == 101


def test_hold_back_and_release(x_world: World) -> None:
    full = x_world.timeline(PHILLY_USER_ID)
    x_world.hold_back(PHILLY_USER_ID, keep=10)
    assert x_world.timeline(PHILLY_USER_ID) == full[-10:]
    assert x_world.tweet_state(full[0]) == "not_found"  # hidden from lookups too
    released = x_world.release(PHILLY_USER_ID, 3)
    assert released == list(reversed(full[-13:-10]))  # oldest first
    assert x_world.timeline(PHILLY_USER_ID) == full[-13:]
    x_world.release_all(PHILLY_USER_ID)
    assert x_world.timeline(PHILLY_USER_ID) == full
    assert x_world.held_back(PHILLY_USER_ID) == []


def test_worlds_are_independent() -> None:
    a, b = World.from_fixtures(), World.from_fixtures()
    a.tweets[SYNTHETIC_NOTE_TWEET_ID]["text"] = "changed"
    a.delete_tweet(SYNTHETIC_VIDEO_TWEET_ID)
    assert b.tweets[SYNTHETIC_NOTE_TWEET_ID]["text"] != "changed"
    assert b.tweet_state(SYNTHETIC_VIDEO_TWEET_ID) == "ok"


def test_feature_examples(x_world: World) -> None:
    rows = x_world.feature_examples()
    assert len(rows) > 50
    assert x_world.feature_ids("ref:retweeted") and x_world.feature_ids("media:video")
    for tid in x_world.feature_ids("ref:quoted"):
        assert any(r["type"] == "quoted" for r in x_world.tweets[tid]["referenced_tweets"])


@given(st.integers(min_value=1, max_value=2**63 - 1))
def test_pagination_token_round_trip(n: int) -> None:
    token = encode_token(str(n))
    assert decode_token(token) == str(n)
    assert oa.check_value("pagination_token", token, {"type": "string", "minLength": 1}) == []


@settings(max_examples=50)
@given(st.text(max_size=30))
def test_foreign_tokens_are_refused(text: str) -> None:
    assert decode_token(text) is None or text == encode_token(str(decode_token(text)))


def test_field_filtering_keeps_defaults_only(x_world: World) -> None:
    r = Renderer(x_world, lambda u: u, {})
    tweet = r.tweet(x_world.tweets[SYNTHETIC_NOTE_TWEET_ID])
    assert set(tweet) == {"id", "text", "edit_history_tweet_ids"}
    r = Renderer(x_world, lambda u: u, {"tweet.fields": "note_tweet,author_id"})
    assert "note_tweet" in r.tweet(x_world.tweets[SYNTHETIC_NOTE_TWEET_ID])


# -- OpenAPI validation --------------------------------------------------------------------------


@pytest.mark.parametrize("meta", META_FILES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_every_recorded_request_is_valid(meta: Path) -> None:
    url = json.loads(meta.read_text())["request"]["url"]
    parts = urlsplit(url)
    assert oa.validate_request("GET", parts.path, parse_qsl(parts.query, keep_blank_values=True)) == []


INVALID = [
    ("/2/users/12/tweets", {"max_results": "500"}, "maximum"),
    ("/2/users/12/tweets", {"max_results": "4"}, "minimum"),
    ("/2/users/12/tweets", {"max_results": "ten"}, "integer"),
    ("/2/users/12/tweets", {"count": "10"}, "unknown"),
    ("/2/users/12/tweets", {"since_id": "abc"}, "does not match"),
    ("/2/users/12/tweets", {"pagination_token": ""}, "shorter"),
    ("/2/users/12/tweets", {"exclude": "replies,likes"}, "allowed values"),
    ("/2/users/12/tweets", {"tweet.fields": "id,full_text"}, "allowed values"),
    ("/2/users/12/tweets", {"tweet.fields": "id,id"}, "unique"),
    ("/2/users/12/tweets", {"expansions": "author"}, "allowed values"),
    ("/2/users/12/tweets", {"media.fields": "url,bitrate"}, "allowed values"),
    ("/2/users/12/tweets", {"user.fields": "screen_name"}, "allowed values"),
    ("/2/users/12/tweets", {"poll.fields": "votes"}, "allowed values"),
    ("/2/users/12/tweets", {"place.fields": "city"}, "allowed values"),
    ("/2/users/12/tweets", {"start_time": "yesterday"}, "date-time"),
    ("/2/users/abc/tweets", {}, "does not match"),
    ("/2/tweets", {}, "required"),
    ("/2/tweets", {"ids": ",".join(str(i) for i in range(1, 102))}, "at most 100"),
    ("/2/tweets", {"ids": "12,x"}, "does not match"),
    ("/2/tweets/12345678901234567890", {}, "does not match"),
    ("/2/users/by/username/way_too_long_username", {}, "does not match"),
    ("/2/users/by/username/bad-name", {}, "does not match"),
    ("/2/users/by", {"usernames": "ok,not ok"}, "does not match"),
    ("/2/users", {"ids": ""}, "does not match"),
    ("/2/nowhere", {}, "no such operation"),
]


@pytest.mark.parametrize(("path", "query", "needle"), INVALID)
def test_invalid_requests_are_caught(path: str, query: dict[str, str], needle: str) -> None:
    problems = oa.validate_request("GET", path, query)
    assert problems, f"{path} {query} passed"
    assert any(needle in p for p in problems), problems


def test_repeated_parameter_is_a_violation() -> None:
    problems = oa.validate_request("GET", "/2/tweets", [("ids", "1"), ("ids", "2")])
    assert any("more than once" in p for p in problems)


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/2/users/by", "/2/users/by"),
        ("/2/users/by/username/jack", "/2/users/by/username/{username}"),
        ("/2/users/12", "/2/users/{id}"),
        ("/2/users/12/tweets", "/2/users/{id}/tweets"),
        ("/2/users/me", "/2/users/me"),
        ("/2/tweets/search/recent", "/2/tweets/search/recent"),
        ("/2/tweets/12", "/2/tweets/{id}"),
        ("/2/tweets", "/2/tweets"),
    ],
)
def test_templates_prefer_literal_segments(path: str, template: str) -> None:
    assert oa.endpoint_template("GET", path) == template


def test_synthetic_users_for_benchmarks(x_world: World) -> None:
    names = x_world.add_synthetic_users(50, tweets_each=4)
    assert len(set(names)) == 50 and all(
        oa.check_value("u", n, {"pattern": "^[A-Za-z0-9_]{1,15}$"}) == [] for n in names
    )
    user = x_world.user_by_username(names[-1].upper())
    assert user is not None and len(x_world.timeline(user["id"])) == 4
    assert x_world.add_synthetic_users(50, tweets_each=4) == names  # deterministic, no duplicates
    assert len(x_world.timeline(user["id"])) == 4


def test_rename_in_place_is_still_found(x_world: World) -> None:
    assert x_world.user_by_username("PhillyNEFL") is not None
    x_world.users[PHILLY_USER_ID]["username"] = "PhillyRenamed"
    assert x_world.user_by_username("phillyrenamed") == x_world.users[PHILLY_USER_ID]
    assert x_world.user_by_username("PhillyNEFL") is None
