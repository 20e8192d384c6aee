"""File-name layer: round-trips, and names that must never be confused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nostrweet.cache import layout
from nostrweet.errors import InputError

usernames = st.from_regex(r"[A-Za-z0-9_]{1,15}", fullmatch=True)
tweet_ids = st.integers(min_value=0, max_value=layout.MAX_NAME_ID)
moments = st.datetimes(
    min_value=datetime(2006, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=0))


@given(moments, usernames, tweet_ids)
def test_tweet_name_round_trips(moment: datetime, username: str, tweet_id: int) -> None:
    name = layout.tweet_filename(moment, username, tweet_id)
    parsed = layout.parse_tweet_filename(name)
    assert parsed == layout.TweetName(moment, username.lower(), tweet_id)
    assert layout.parse_profile_filename(name) is None
    assert layout.parse_media_filename(name) is None


@given(moments, usernames)
def test_profile_name_is_never_a_tweet(moment: datetime, username: str) -> None:
    name = layout.profile_filename(moment, username)
    assert layout.parse_tweet_filename(name) is None
    assert layout.parse_profile_filename(name) == layout.ProfileName(moment, username.lower())


@given(usernames, tweet_ids, st.integers(0, 999), st.sampled_from(["jpg", "png", "mp4", "gif", "webp"]))
def test_media_name_round_trips(username: str, tweet_id: int, index: int, ext: str) -> None:
    name = layout.media_filename(username, tweet_id, index, ext)
    assert layout.parse_media_filename(name) == layout.MediaName(username.lower(), tweet_id, index, ext)
    assert layout.parse_tweet_filename(name) is None


@given(usernames, usernames, tweet_ids)
def test_prefix_usernames_are_not_confused(a: str, b: str, tweet_id: int) -> None:
    moment = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    longer = (a + "_" + b)[:15]
    parsed = layout.parse_tweet_filename(layout.tweet_filename(moment, longer, tweet_id))
    assert parsed is not None and parsed.username == longer.lower()


def test_foo_and_foo_bar() -> None:
    moment = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    foo = layout.parse_tweet_filename(layout.tweet_filename(moment, "foo", 123))
    foo_bar = layout.parse_tweet_filename(layout.tweet_filename(moment, "foo_bar", 123))
    assert foo is not None and foo.username == "foo"
    assert foo_bar is not None and foo_bar.username == "foo_bar"
    assert layout.tweet_filename(moment, "FooBar", 1) == "20240102_030405_foobar_1.json"


@pytest.mark.parametrize(
    "raw", ["../x", "", "a" * 16, "foo bar", "foo/bar", "..", "@", "foo.json", "ünï", "@@foo", "foo\n"]
)
def test_bad_usernames_are_refused(raw: str) -> None:
    with pytest.raises(InputError):
        layout.normalize_username(raw)


@pytest.mark.parametrize(("raw", "expected"), [("@Jack", "jack"), ("foo_BAR", "foo_bar"), ("_", "_")])
def test_usernames_are_normalized(raw: str, expected: str) -> None:
    assert layout.normalize_username(raw) == expected


@given(st.text(max_size=80))
def test_parsers_never_raise(name: str) -> None:
    for parse in (
        layout.parse_tweet_filename,
        layout.parse_profile_filename,
        layout.parse_media_filename,
        layout.parse_not_found_filename,
        layout.parse_event_filename,
    ):
        parse(name)


def test_event_names() -> None:
    event_id = "ab" * 32
    name = layout.event_filename(event_id, layout.EventSubject.TWEET, 42)
    assert name == f"event_{event_id}_tweet_42.json"
    assert layout.parse_event_filename(name) == layout.EventName(event_id, layout.EventSubject.TWEET, 42)
    assert layout.parse_not_found_filename(layout.not_found_filename(7)) == 7


@given(
    st.one_of(
        st.text(max_size=60),
        st.builds(lambda m, u, i: layout.tweet_filename(m, u, i), moments, usernames, tweet_ids),
    )
)
def test_fast_tweet_key_agrees_with_the_full_parser(name: str) -> None:
    parsed = layout.parse_tweet_filename(name)
    key = layout.tweet_name_key(name)
    if parsed is not None:
        assert key == (parsed.username, parsed.tweet_id)
    elif key is not None:
        # Only a stamp that is not a real date (say, month 13) separates the two.
        with pytest.raises(ValueError):
            datetime.strptime(name[:15], "%Y%m%d_%H%M%S")


def test_fast_tweet_key_cases() -> None:
    assert layout.tweet_name_key("20240102_030405_foo_bar_123.json") == ("foo_bar", 123)
    assert layout.tweet_name_key("20240102_030405_foo_profile.json") is None
    assert layout.tweet_name_key("foo_123_0.jpg") is None
    assert layout.tweet_name_key("20241302_030405_foo_1.json") == ("foo", 1)
    assert layout.parse_tweet_filename("20241302_030405_foo_1.json") is None


def test_event_name_key_matches_the_parser() -> None:
    name = layout.event_filename("cd" * 32, layout.EventSubject.RELAYS, 42, pending=True)
    assert layout.event_name_key(name) == ("cd" * 32, layout.EventSubject.RELAYS, 42, True)
    assert layout.event_name_key(name.replace(".pending", "")) == (
        "cd" * 32,
        layout.EventSubject.RELAYS,
        42,
        False,
    )
    assert layout.event_name_key("event_zz_tweet_1.json") is None


@given(moments, usernames, tweet_ids)
def test_tweet_name_rebuilt_from_its_parts(moment: datetime, username: str, tweet_id: int) -> None:
    name = layout.tweet_filename(moment, username, tweet_id)
    stamp = layout.tweet_stamp_number(name)
    assert stamp is not None and stamp < 2**47
    assert layout.tweet_name_of(stamp, username.lower(), tweet_id) == name
    assert layout.tweet_stamp_number("20240102_030405_foo_profile.json") is None


def test_settled_tweet_event_name_from_bytes() -> None:
    event_id = bytes(range(32))
    name = layout.settled_tweet_event_name(event_id, 42)
    assert name == layout.event_filename(event_id.hex(), layout.EventSubject.TWEET, 42)
