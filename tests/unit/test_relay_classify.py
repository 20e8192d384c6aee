"""Pure parts of the relay wrapper: OK classification, answers, filters."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nostrweet.errors import InputError
from nostrweet.nostr.answers import read_ok
from nostrweet.nostr.relays import QueryFilter, RelayAnswer, check_relay_url, classify_ok


@pytest.mark.parametrize(
    ("accepted", "message", "expected"),
    [
        (True, "", "accepted"),
        (True, "stored", "accepted"),
        (True, "duplicate: already have this event", "duplicate"),
        (False, "duplicate: exists", "duplicate"),
        (False, "rate-limited: slow down", "rate_limited"),
        (False, "invalid: 1550000000 is too old", "rejected"),
        (False, "blocked: you are banned", "rejected"),
        (False, "pow: difficulty 20 needed", "rejected"),
        (False, "restricted: not allowed", "rejected"),
        (False, "auth-required: you must auth", "pending"),
        (False, "error: could not connect to the database", "pending"),
        (False, "something odd", "rejected"),
        (False, "", "rejected"),
        (False, "  Rate-Limited: case and space", "rate_limited"),
    ],
)
def test_classify_ok_table(accepted: bool, message: str, expected: str) -> None:
    assert classify_ok(accepted, message) == expected


@given(st.text())
def test_true_is_always_on_the_relay(message: str) -> None:
    assert RelayAnswer("ws://r", classify_ok(True, message)).is_accepted


@given(st.booleans(), st.text())
def test_final_and_accepted_are_consistent(accepted: bool, message: str) -> None:
    answer = RelayAnswer("ws://r", classify_ok(accepted, message), message)
    if answer.is_accepted:
        assert answer.is_final
    assert answer.is_final == (answer.outcome in ("accepted", "duplicate", "rejected"))


def test_answer_properties() -> None:
    assert RelayAnswer("ws://r", "duplicate").is_accepted
    assert not RelayAnswer("ws://r", "rejected").is_accepted
    assert RelayAnswer("ws://r", "rejected").is_final
    assert not RelayAnswer("ws://r", "pending").is_final
    assert not RelayAnswer("ws://r", "rate_limited").is_final


def test_query_filter_json() -> None:
    flt = QueryFilter(
        kinds=[1, 6], authors=["a" * 64], tags={"#r": ["u1"], "t": ["x"]}, since=5, until=9, limit=3
    )
    assert flt.to_dict() == {
        "kinds": [1, 6],
        "authors": ["a" * 64],
        "#r": ["u1"],
        "#t": ["x"],
        "since": 5,
        "until": 9,
        "limit": 3,
    }
    assert QueryFilter().to_dict() == {}
    with pytest.raises(InputError):
        QueryFilter(tags={"rr": ["x"]}).to_dict()


A = "a" * 64


@pytest.mark.parametrize(
    ("flag", "message", "outcome"),
    [
        (True, "", "accepted"),
        (False, "invalid: x", "rejected"),
        (False, "duplicate: have it", "duplicate"),
        ("false", "invalid: x", "pending"),
        ("true", "", "pending"),
        ("true", "duplicate: have it", "pending"),
        (0, "", "pending"),
        (None, "blocked: x", "pending"),
    ],
)
def test_only_a_json_true_accepts_and_a_malformed_flag_is_retried(
    flag: object, message: str, outcome: str
) -> None:
    ok = read_ok(["OK", A, flag, message])
    assert ok is not None
    assert classify_ok(*ok.answer()) == outcome


@pytest.mark.parametrize(
    "url",
    ["ws://127.0.0.1:7777", "wss://relay.damus.io", "wss://relay.example.com/path", "WSS://Relay.Example"],
)
def test_relay_urls_accepted(url: str) -> None:
    assert check_relay_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "",
        "relay.damus.io",
        "https://relay.damus.io",
        "ws://",
        "wss:///path",
        "ws://host:99999",
        "ws://a b",
        "ws://x\n",
    ],
)
def test_bad_relay_urls_are_input_errors(url: str) -> None:
    with pytest.raises(InputError, match="invalid relay URL"):
        check_relay_url(url)
