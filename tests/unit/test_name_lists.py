"""Batch name parsing of the scan: each batch form accepts exactly the names its per-name parser does."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nostrweet.cache import layout, name_lists

usernames = st.from_regex(r"[A-Za-z0-9_]{1,15}", fullmatch=True)
tweet_ids = st.integers(min_value=0, max_value=layout.MAX_NAME_ID)
moments = st.datetimes(
    min_value=datetime(2006, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=0))

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
    assert name_lists.tweet_name_keys(names) == expected


@given(_batch_names)
def test_batch_event_split_agrees_with_the_per_name_parser(names: list[str]) -> None:
    settled, rest = name_lists.split_settled_tweet_events(names)

    def is_settled_tweet(name: str) -> bool:
        key = layout.event_name_key(name)
        return key is not None and key[1] is layout.EventSubject.TWEET and not key[3]

    assert settled == [n for n in names if is_settled_tweet(n)]
    assert rest == [n for n in names if not is_settled_tweet(n)]
    at = name_lists.SETTLED_TWEET_EVENT_ID_AT
    for name in settled:
        parsed = layout.parse_event_filename(name)
        assert parsed is not None and int(name[at:-5]) == parsed.subject_id
    again, event_ids, rest_again = name_lists.settled_tweet_events(names)
    assert (again, rest_again) == (settled, rest)
    expected = b"".join(bytes.fromhex(p.event_id) for n in settled if (p := layout.parse_event_filename(n)))
    assert event_ids == expected


def test_batches_span_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(name_lists, "_BATCH", 3)
    good = layout.event_filename("ab" * 32, layout.EventSubject.TWEET, 7)
    pending = layout.event_filename("ab" * 32, layout.EventSubject.TWEET, 7, pending=True)
    names = [good, good, pending, good, "x", good, good, good]
    assert name_lists.split_settled_tweet_events(names) == ([good] * 6, [pending, "x"])
    upper = good.replace("ab", "AB", 1)  # the loose run match takes it; the hex check must not
    spaced = good[:10] + " " + good[11:]
    names = [good, upper, good, good, spaced, good]
    settled, event_ids, rest = name_lists.settled_tweet_events(names)
    assert (settled, rest) == ([good] * 4, [upper, spaced])
    assert event_ids == bytes.fromhex("ab" * 32) * 4
    tweet = "20240102_030405_foo_bar_12.json"
    assert name_lists.tweet_name_keys([tweet, "x", tweet, tweet]) == [
        "foo_bar_12",
        "",
        "foo_bar_12",
        "foo_bar_12",
    ]


@given(_batch_names)
def test_batch_media_split_agrees_with_the_per_name_parser(names: list[str]) -> None:
    media, rest = name_lists.split_media_names(names)
    assert media == [n for n in names if layout.parse_media_filename(n) is not None]
    assert rest == [n for n in names if layout.parse_media_filename(n) is None]


@given(_batch_names)
def test_batch_tweet_split_agrees_with_the_full_parser(names: list[str]) -> None:
    tweets, keys, rest = name_lists.split_tweet_names(names)
    assert tweets == [n for n in names if layout.tweet_name_key(n) is not None]
    assert rest == [n for n in names if layout.tweet_name_key(n) is None]
    assert len(keys) == len(tweets)
    for name, key in zip(tweets, keys, strict=True):
        user, _, tweet_id = key.rpartition("_")
        assert (user, int(tweet_id)) == layout.tweet_name_key(name)
        assert int(name[:15]) == layout.tweet_stamp_number(name)
        assert layout.tweet_name_of(int(name[:15]), user, int(tweet_id)) == name
