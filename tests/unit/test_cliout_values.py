"""Values that the URL and id parsers cannot take are bad input (InputError, exit 2), never a crash."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nostrweet.errors import InputError
from nostrweet.twitter.refs import parse_tweet_ref
from nostrweet.values import (
    MAX_DAYS,
    MAX_UNIX_SECONDS,
    check_seconds,
    parse_blossom_urls,
    parse_relay_urls,
)


@pytest.mark.parametrize(
    "url", ["wss://[::1", "ws://[::1]:99999", "ws://host:port", "wss://[zz]/", "ws://:0"]
)
def test_unparsable_relay_urls_are_bad_input(url: str) -> None:
    with pytest.raises(InputError, match="invalid relay URL"):
        parse_relay_urls([url])


def test_unparsable_blossom_url_is_bad_input() -> None:
    with pytest.raises(InputError, match="invalid Blossom server URL"):
        parse_blossom_urls("https://[::1")


def test_good_ipv6_relay_still_parses() -> None:
    assert parse_relay_urls("ws://[::1]:7777,wss://relay.example/") == [
        "ws://[::1]:7777",
        "wss://relay.example",
    ]


@given(st.text(max_size=30))
def test_relay_parser_never_crashes(text: str) -> None:
    with contextlib.suppress(InputError):
        parse_relay_urls([text])


@pytest.mark.parametrize(
    "ref", ["9300000000000000000", "9223372036854775808", "https://x.com/a/status/18446744073709551615"]
)
def test_tweet_ids_from_2_to_the_63_are_bad_input(ref: str) -> None:
    with pytest.raises(InputError, match="below 2\\^63"):
        parse_tweet_ref(ref)


def test_largest_x_id_is_accepted() -> None:
    assert parse_tweet_ref(str(2**63 - 1)) == str(2**63 - 1)


def test_bounds_fit_date_arithmetic_and_int64() -> None:
    assert datetime.now(UTC) - timedelta(days=MAX_DAYS) > datetime(1, 1, 2, tzinfo=UTC)
    assert datetime.fromtimestamp(MAX_UNIX_SECONDS, tz=UTC).year == 9999
    assert MAX_UNIX_SECONDS < 2**63


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), 0.0, -1.0, 3600.5, 1e300])
def test_seconds_out_of_range_are_bad_input(value: float) -> None:
    with pytest.raises(InputError, match="invalid --timeout"):
        check_seconds(value, "--timeout")


def test_seconds_in_range_pass() -> None:
    assert check_seconds(0.1, "--timeout") == 0.1
    assert check_seconds(3600.0, "--timeout") == 3600.0
