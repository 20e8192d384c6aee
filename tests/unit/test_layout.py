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


_batch_names = st.lists(
    st.one_of(
        st.text(max_size=40),
        st.builds(lambda m, u, i: layout.tweet_filename(m, u, i), moments, usernames, tweet_ids),
        st.builds(lambda m, u: layout.profile_filename(m, u), moments, usernames),
        st.builds(
            lambda e, s, i, p: layout.event_filename(e, s, i, pending=p),
            st.text("0123456789abcdef", min_size=64, max_size=64),
            st.sampled_from(list(layout.EventSubject)),
            tweet_ids,
            st.booleans(),
        ),
        # nearly a settled record: the id is 64 characters, but some may be upper case, blank or other
        st.builds(
            lambda e, i: f"event_{e}_tweet_{i}.json",
            st.text("0123456789abcdefABF _g\u00e9", min_size=64, max_size=64),
            tweet_ids,
        ),
        st.builds(
            lambda u, i, n, e: f"{u.lower()}_{i}_{n}.{e}",
            usernames,
            tweet_ids,
            st.integers(0, 1200),
            st.sampled_from(["jpg", "json", "jsonx", "mp4", "JPG", "abcdef", "", "a_b"]),
        ),
        st.sampled_from(
            ["relays.json", "a\n20240102_030405_foo_1.json", "event_x_tweet_1.json\n", "x_1_2.png\n"]
        ),
    ),
    max_size=12,
)


@given(_batch_names)
def test_batch_tweet_keys_agree_with_the_per_name_key(names: list[str]) -> None:
    expected = [f"{k[0]}_{k[1]}" if (k := layout.tweet_name_key(n)) else "" for n in names]
    assert layout.tweet_name_keys(names) == expected


@given(_batch_names)
def test_batch_event_split_agrees_with_the_per_name_parser(names: list[str]) -> None:
    settled, rest = layout.split_settled_tweet_events(names)

    def is_settled_tweet(name: str) -> bool:
        key = layout.event_name_key(name)
        return key is not None and key[1] is layout.EventSubject.TWEET and not key[3]

    assert settled == [n for n in names if is_settled_tweet(n)]
    assert rest == [n for n in names if not is_settled_tweet(n)]
    for name in settled:
        parsed = layout.parse_event_filename(name)
        assert parsed is not None and int(name[layout.SETTLED_TWEET_EVENT_ID_AT : -5]) == parsed.subject_id
    again, event_ids, rest_again = layout.settled_tweet_events(names)
    assert (again, rest_again) == (settled, rest)
    expected = b"".join(bytes.fromhex(p.event_id) for n in settled if (p := layout.parse_event_filename(n)))
    assert event_ids == expected


def test_batches_span_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layout, "_BATCH", 3)
    good = layout.event_filename("ab" * 32, layout.EventSubject.TWEET, 7)
    pending = layout.event_filename("ab" * 32, layout.EventSubject.TWEET, 7, pending=True)
    names = [good, good, pending, good, "x", good, good, good]
    assert layout.split_settled_tweet_events(names) == ([good] * 6, [pending, "x"])
    upper = good.replace("ab", "AB", 1)  # the loose run match takes it; the hex check must not
    spaced = good[:10] + " " + good[11:]
    names = [good, upper, good, good, spaced, good]
    settled, event_ids, rest = layout.settled_tweet_events(names)
    assert (settled, rest) == ([good] * 4, [upper, spaced])
    assert event_ids == bytes.fromhex("ab" * 32) * 4
    tweet = "20240102_030405_foo_bar_12.json"
    assert layout.tweet_name_keys([tweet, "x", tweet, tweet]) == [
        "foo_bar_12",
        "",
        "foo_bar_12",
        "foo_bar_12",
    ]


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


@given(_batch_names)
def test_batch_media_split_agrees_with_the_per_name_parser(names: list[str]) -> None:
    media, rest = layout.split_media_names(names)
    assert media == [n for n in names if layout.parse_media_filename(n) is not None]
    assert rest == [n for n in names if layout.parse_media_filename(n) is None]


@given(_batch_names)
def test_batch_tweet_split_agrees_with_the_full_parser(names: list[str]) -> None:
    tweets, keys, rest = layout.split_tweet_names(names)
    assert tweets == [n for n in names if layout.tweet_name_key(n) is not None]
    assert rest == [n for n in names if layout.tweet_name_key(n) is None]
    assert len(keys) == len(tweets)
    for name, key in zip(tweets, keys, strict=True):
        user, _, tweet_id = key.rpartition("_")
        assert (user, int(tweet_id)) == layout.tweet_name_key(name)
        assert int(name[:15]) == layout.tweet_stamp_number(name)
        assert layout.tweet_name_of(int(name[:15]), user, int(tweet_id)) == name


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
