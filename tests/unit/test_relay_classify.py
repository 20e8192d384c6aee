"""Pure parts of the relay wrapper: OK classification, answers, filters."""

from __future__ import annotations

import json
from collections import OrderedDict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nostrweet.errors import InputError
from nostrweet.nostr.answers import read_ok
from nostrweet.nostr.relays import QueryFilter, RelayAnswer, classify_ok
from nostrweet.nostr.transport import repair_ok


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


# --- repairing OKs without event id (nostrweet.nostr.transport.repair_ok) ---------------------------

A, B = "a" * 64, "b" * 64


MALFORMED = "error: malformed OK from the relay"


@pytest.mark.parametrize(
    ("frame", "handed_on", "answered", "repaired", "left"),
    [
        # well-formed: handed on as they are
        (["OK", A, True, ""], ["OK", A, True, ""], A, False, [B]),
        (["OK", B, False, "blocked: no"], ["OK", B, False, "blocked: no"], B, False, [A]),
        # no id at all (PyPI nostr-relay's "" and the other ways of sending none): the oldest waiting
        (["OK", "", False, "invalid: 1 is too old"], ["OK", A, False, "invalid: 1 is too old"], A, True, [B]),
        (["OK", None, False, "invalid: x"], ["OK", A, False, "invalid: x"], A, True, [B]),
        (["OK"], ["OK", A, False, MALFORMED], A, True, [B]),
        (
            ["OK", "", True, ""],
            ["OK", A, True, "error: the relay answered without an event id"],
            A,
            True,
            [B],
        ),
        # an id that is there but is not 64 lower-case hex: matched to nothing, not handed on
        (["OK", "nothex", False, "invalid: x"], None, None, False, [A, B]),
        (["OK", "nothex", True, ""], None, None, False, [A, B]),
        (["OK", A.upper(), True, ""], None, None, False, [A, B]),
        (["OK", A[:63], True, ""], None, None, False, [A, B]),
        (["OK", 7, True, ""], None, None, False, [A, B]),
        # a flag that is not a JSON boolean: not accepted, a transient error (retried), not a rejection
        (["OK", A, "false", "invalid: x"], ["OK", A, False, f"{MALFORMED}: invalid: x"], A, False, [B]),
        (["OK", A, "true", ""], ["OK", A, False, MALFORMED], A, False, [B]),
        (["OK", A, 1, ""], ["OK", A, False, MALFORMED], A, False, [B]),
        (["OK", A, None, ""], ["OK", A, False, MALFORMED], A, False, [B]),
        (["OK", A], ["OK", A, False, MALFORMED], A, False, [B]),
        (["OK", "", "false", "invalid: x"], ["OK", A, False, f"{MALFORMED}: invalid: x"], A, True, [B]),
        # not OKs
        (["EOSE", "sub"], ["EOSE", "sub"], None, False, [A, B]),
    ],
)
def test_repair_ok_table(
    frame: list[object], handed_on: list[object] | None, answered: str | None, repaired: bool, left: list[str]
) -> None:
    waiting: OrderedDict[str, None] = OrderedDict.fromkeys([A, B])
    out, got, fixed = repair_ok(json.dumps(frame), waiting)
    assert (got, fixed) == (answered, repaired)
    assert list(waiting) == left
    assert (json.loads(out) if out is not None else None) == handed_on


def test_repair_ok_unparsable_text_passes_through() -> None:
    waiting: OrderedDict[str, None] = OrderedDict.fromkeys([A, B])
    assert repair_ok('["OK", broken', waiting) == ('["OK", broken', None, False)
    assert list(waiting) == [A, B]


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


def test_repair_ok_with_nothing_waiting_drops_an_id_less_ok() -> None:
    frame = json.dumps(["OK", "", False, "invalid: x"])
    assert repair_ok(frame, OrderedDict()) == (None, None, False)


@given(st.lists(st.sampled_from(["ok", "empty"]), min_size=1, max_size=20))
def test_repair_ok_answers_in_send_order(kinds: list[str]) -> None:
    ids = [f"{i:064x}" for i in range(len(kinds))]
    waiting: OrderedDict[str, None] = OrderedDict.fromkeys(ids)
    for event_id, kind in zip(ids, kinds, strict=True):
        frame = json.dumps(
            ["OK", event_id if kind == "ok" else "", kind == "ok", "" if kind == "ok" else "invalid: x"]
        )
        _, got, fixed = repair_ok(frame, waiting)
        assert got == event_id and fixed == (kind == "empty")
    assert not waiting
