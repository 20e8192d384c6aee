"""Tweet reference parsing (SPEC §1): numeric ids and status URLs, with or without a query string."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nostrweet.errors import InputError
from nostrweet.twitter.refs import parse_tweet_ref

GOOD = [
    ("1293593516040269825", "1293593516040269825"),
    (" 20 ", "20"),
    ("https://x.com/TwitterDev/status/1293593516040269825", "1293593516040269825"),
    ("https://twitter.com/TwitterDev/status/1293593516040269825", "1293593516040269825"),
    ("https://mobile.twitter.com/TwitterDev/status/1293593516040269825", "1293593516040269825"),
    ("https://www.x.com/a_b/status/1293593516040269825?s=20&t=abc", "1293593516040269825"),
    ("http://twitter.com/foo/status/42?ref_src=twsrc%5Etfw#frag", "42"),
    ("x.com/foo/status/42", "42"),
    ("https://x.com/foo/status/42/photo/1", "42"),
    ("https://x.com/i/web/status/42", "42"),
    ("https://X.COM/foo/statuses/42/", "42"),
]
BAD = [
    "",
    "abc",
    "0",
    "-5",
    "12a",
    "１２３",  # full-width digits
    "123456789012345678901",  # more than 20 digits
    "https://example.com/foo/status/42",
    "https://x.com.evil.org/foo/status/42",
    "https://x.com/foo",
    "https://x.com/foo/status/",
    "https://x.com/foo/status/abc",
    "https://x.com/../x/status/42",
    "https://x.com/this_name_is_too_long/status/42",
    "ftp://x.com/foo/status/42",
    "https://x.com:bad/foo/status/42",
    "nostr:note1abc",
]


@pytest.mark.parametrize(("text", "expected"), GOOD)
def test_good_refs(text: str, expected: str) -> None:
    assert parse_tweet_ref(text) == expected


@pytest.mark.parametrize("text", BAD)
def test_bad_refs(text: str) -> None:
    with pytest.raises(InputError) as info:
        parse_tweet_ref(text)
    assert "\n" not in str(info.value)


@given(
    st.integers(min_value=1, max_value=2**63 - 1),
    st.sampled_from(["x.com", "twitter.com", "mobile.twitter.com"]),
)
def test_url_round_trip(tweet_id: int, host: str) -> None:
    assert parse_tweet_ref(str(tweet_id)) == str(tweet_id)
    assert parse_tweet_ref(f"https://{host}/some_user/status/{tweet_id}?s=20") == str(tweet_id)


@given(st.text(max_size=40))
def test_never_crashes(text: str) -> None:
    try:
        result = parse_tweet_ref(text)
    except InputError:
        return
    assert result.isdigit() and not result.startswith("0")
