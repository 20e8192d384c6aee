"""The sans-I/O NIP-01 client core (nostr.protocol): every relay message shape as a table.

Two events (A then B) await their OK and one subscription ("sub") is open before each frame is read.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nostrweet.nostr.event import SignedEvent
from nostrweet.nostr.protocol import (
    Auth,
    ClientProtocol,
    Closed,
    Eose,
    Event,
    Notice,
    Ok,
    ProtocolError,
    RelayMessage,
)
from tests.fakes.nostr_helpers import make_event, random_key

KEY = random_key()
EV_A = make_event(KEY, "a", created_at=1_700_000_000)
EV_B = make_event(KEY, "b", created_at=1_700_000_001)
A, B = EV_A.id, EV_B.id
MALFORMED = "error: malformed OK from the relay"
NO_ID = "error: the relay answered without an event id"
STORED = make_event(KEY, "stored", created_at=1_600_000_000)
FORGED = dict(STORED.to_dict(), content="changed after signing")
BAD_SIG = dict(STORED.to_dict(), sig="0" * 128)


def ready() -> ClientProtocol:
    proto = ClientProtocol(max_frame_bytes=4096)
    proto.send_event(EV_A)
    proto.send_event(EV_B)
    proto.req("sub", [{"kinds": [1]}])
    return proto


CASES: list[tuple[str, object, RelayMessage | str, list[str]]] = [
    # (name, frame as JSON value or raw text, expected message or "error: <reason prefix>", still waiting)
    ("ok accepted", ["OK", A, True, ""], Ok(A, True, ""), [B]),
    ("ok rejected", ["OK", B, False, "blocked: no"], Ok(B, False, "blocked: no"), [A]),
    ("ok duplicate", ["OK", A, True, "duplicate: have it"], Ok(A, True, "duplicate: have it"), [B]),
    ("ok for an event we forgot", ["OK", "c" * 64, True, ""], Ok("c" * 64, True, ""), [A, B]),
    # the PyPI relay's OK without an id, and the other ways of sending none: the oldest waiting
    ("ok id empty", ["OK", "", False, "invalid: too old"], Ok(A, False, "invalid: too old", True), [B]),
    ("ok id null", ["OK", None, False, "invalid: x"], Ok(A, False, "invalid: x", True), [B]),
    ("ok nothing", ["OK"], Ok(A, False, MALFORMED, True), [B]),
    ("ok id-less accept", ["OK", "", True, ""], Ok(A, True, NO_ID, True), [B]),
    # an id that is there but is not 64 lower-case hex answers nothing
    ("ok id not hex", ["OK", "nothex", True, ""], "error: OK that names no event", [A, B]),
    ("ok id upper", ["OK", A.upper(), True, ""], "error: OK that names no event", [A, B]),
    ("ok id short", ["OK", A[:63], True, ""], "error: OK that names no event", [A, B]),
    ("ok id number", ["OK", 7, True, ""], "error: OK that names no event", [A, B]),
    # a flag that is not a JSON boolean: not accepted, a transient error (retried), not a rejection
    ("ok flag string", ["OK", A, "false", "invalid: x"], Ok(A, False, f"{MALFORMED}: invalid: x"), [B]),
    ("ok flag true string", ["OK", A, "true", ""], Ok(A, False, MALFORMED), [B]),
    ("ok flag number", ["OK", A, 1, ""], Ok(A, False, MALFORMED), [B]),
    ("ok no flag", ["OK", A], Ok(A, False, MALFORMED), [B]),
    # subscriptions
    ("eose", ["EOSE", "sub"], Eose("sub"), [A, B]),
    ("eose unknown", ["EOSE", "other"], "error: EOSE for no open subscription", [A, B]),
    (
        "closed auth",
        ["CLOSED", "sub", "auth-required: log in"],
        Closed("sub", "auth-required: log in"),
        [A, B],
    ),
    ("closed no message", ["CLOSED", "sub"], Closed("sub", ""), [A, B]),
    ("closed unknown", ["CLOSED", "other", "x"], "error: CLOSED for no open subscription", [A, B]),
    ("event", ["EVENT", "sub", STORED.to_dict()], Event("sub", STORED), [A, B]),
    (
        "event unknown sub",
        ["EVENT", "other", STORED.to_dict()],
        "error: EVENT for no open subscription",
        [A, B],
    ),
    ("event forged", ["EVENT", "sub", FORGED], "error: EVENT that does not parse", [A, B]),
    ("event bad sig", ["EVENT", "sub", BAD_SIG], "error: EVENT ", [A, B]),
    ("event not object", ["EVENT", "sub", "x"], "error: EVENT without an event object", [A, B]),
    ("event fields", ["EVENT", "sub", {"id": A}], "error: EVENT that does not parse", [A, B]),
    # AUTH and NOTICE
    ("auth", ["AUTH", "challenge-1"], Auth("challenge-1"), [A, B]),
    ("auth no challenge", ["AUTH"], "error: AUTH without a challenge", [A, B]),
    ("notice", ["NOTICE", "slow down"], Notice("slow down"), [A, B]),
    ("notice odd", ["NOTICE", 5], Notice(""), [A, B]),
    # garbage
    ("unknown", ["COUNT", "sub", {"count": 1}], "error: unknown relay message", [A, B]),
    ("not a list", {"OK": A}, "error: frame is not a relay message", [A, B]),
    ("empty list", [], "error: frame is not a relay message", [A, B]),
    ("head not text", [1, 2], "error: frame is not a relay message", [A, B]),
    ("not json", '["OK", broken', "error: frame is not JSON", [A, B]),
    ("deep", "[" * 2000 + "]" * 2000, "error: frame is not JSON", [A, B]),
    ("oversized", ["NOTICE", "x" * 5000], "error: frame of ", [A, B]),
    ("oversized wide", ["NOTICE", "✓" * 1400], "error: frame of ", [A, B]),
]


@pytest.mark.parametrize(("frame", "expected", "left"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_every_relay_message_shape(frame: object, expected: RelayMessage | str, left: list[str]) -> None:
    proto = ready()
    text = frame if isinstance(frame, str) else json.dumps(frame, ensure_ascii=False)
    got = proto.receive(text)
    if isinstance(expected, str):
        assert isinstance(got, ProtocolError), got
        assert got.reason.startswith(expected.removeprefix("error: ")), got
        assert len(got.reason) < 200
    else:
        assert got == expected
    assert [e for e in (A, B) if proto.waiting(e)] == left


def test_binary_frames_are_read_as_utf8_or_refused() -> None:
    proto = ready()
    assert proto.receive(json.dumps(["EOSE", "sub"]).encode()) == Eose("sub")
    got = proto.receive(b"\xff\xfe")
    assert isinstance(got, ProtocolError) and "UTF-8" in got.reason


def test_closed_ends_the_subscription_and_close_forgets_it() -> None:
    proto = ready()
    assert proto.receive(json.dumps(["CLOSED", "sub", "error: x"])) == Closed("sub", "error: x")
    assert proto.open_subscriptions == []
    assert isinstance(proto.receive(json.dumps(["EOSE", "sub"])), ProtocolError)
    proto.req("s2", [{}])
    assert json.loads(proto.close("s2")) == ["CLOSE", "s2"]
    assert proto.open_subscriptions == []


def test_frames_we_send_are_nip01() -> None:
    proto = ClientProtocol()
    assert json.loads(proto.send_event(EV_A)) == ["EVENT", EV_A.to_dict()]
    assert json.loads(proto.auth(EV_B)) == ["AUTH", EV_B.to_dict()]
    assert json.loads(proto.req("s", [{"kinds": [1]}, {"#r": ["u"]}])) == [
        "REQ",
        "s",
        {"kinds": [1]},
        {"#r": ["u"]},
    ]
    # what a fresh socket gets again: open REQs and EVENTs still waiting, never a stale AUTH
    assert [json.loads(f)[0] for f in proto.resend_frames()] == ["REQ", "EVENT"]
    proto.receive(json.dumps(["OK", A, True, ""]))
    assert [json.loads(f)[0] for f in proto.resend_frames()] == ["REQ"]


def test_an_id_less_ok_with_nothing_waiting_answers_nothing() -> None:
    got = ClientProtocol().receive(json.dumps(["OK", "", False, "invalid: x"]))
    assert isinstance(got, ProtocolError)


def test_tracking_is_bounded() -> None:
    proto = ClientProtocol(max_tracked=3)
    events = [make_event(KEY, f"n{i}", created_at=1_700_000_000 + i) for i in range(5)]
    for event in events:
        proto.send_event(event)
    for n in range(5):
        proto.req(f"s{n}", [{}])
    assert [e.id for e in events if proto.waiting(e.id)] == [e.id for e in events[2:]]
    assert proto.open_subscriptions == ["s2", "s3", "s4"]


@given(st.lists(st.sampled_from(["ok", "empty"]), min_size=1, max_size=20))
def test_oks_are_matched_in_send_order(kinds: list[str]) -> None:
    events = [make_event(KEY, f"o{i}", created_at=1_700_000_000 + i) for i in range(len(kinds))]
    proto = ClientProtocol()
    for event in events:
        proto.send_event(event)
    for event, kind in zip(events, kinds, strict=True):
        event_id = event.id if kind == "ok" else ""
        got = proto.receive(json.dumps(["OK", event_id, kind == "ok", "" if kind == "ok" else "invalid: x"]))
        assert isinstance(got, Ok) and got.event_id == event.id and got.repaired == (kind == "empty")
    assert not any(proto.waiting(e.id) for e in events)


@given(st.one_of(st.text(max_size=300), st.binary(max_size=300)))
def test_hostile_input_never_raises(data: str | bytes) -> None:
    got = ready().receive(data)
    assert isinstance(got, Ok | Eose | Closed | Auth | Notice | Event | ProtocolError)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4),
        max_leaves=12,
    )
)
def test_any_json_never_raises(value: object) -> None:
    for frame in (value, ["OK", value, value, value], ["EVENT", "sub", value], ["CLOSED", value, value]):
        got = ready().receive(json.dumps(frame))
        assert isinstance(got, Ok | Eose | Closed | Auth | Notice | Event | ProtocolError)


def test_signed_event_type_is_ours() -> None:
    got = ready().receive(json.dumps(["EVENT", "sub", STORED.to_dict()]))
    assert isinstance(got, Event) and isinstance(got.event, SignedEvent)
