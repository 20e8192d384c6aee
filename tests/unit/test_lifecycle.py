"""A tweet's later life, pure: lookup answers → fates (from the recorded Problems' shapes), edit
histories → versions, and the kind 5 / hand-off events."""

from __future__ import annotations

import json
from typing import Any

import nostr_sdk
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nostrweet.bridge.lifecycle import (
    KIND_DELETION,
    Fate,
    build_handoff_note,
    build_retraction,
    classify_lookup,
    created_at_of_id,
    deletion_reason,
    edit_reason,
    newest_version,
    superseded_versions,
)
from nostrweet.bridge.profile import profile_metadata
from nostrweet.nostr.event import sign_event, verify_event
from nostrweet.twitter.models import User
from tests.data import FIXTURES
from tests.fakes.nostr_helpers import random_key

Raw = dict[str, Any]


def first_tweet(name: str) -> Raw:
    data = recorded(name)["data"]
    tweet = data[0] if isinstance(data, list) else data
    assert isinstance(tweet, dict)
    return tweet


def recorded(name: str) -> Raw:
    body = json.loads((FIXTURES / "twarc-csv" / name).read_text(encoding="utf-8"))
    assert isinstance(body, dict)
    return body


def problem(name: str, **match: str) -> Raw:
    """The first recorded Problem of fixture ``name`` whose fields match."""
    for p in recorded(name).get("errors") or []:
        if all(p.get(k) == v for k, v in match.items()):
            return dict(p)
    raise AssertionError(f"no such Problem in {name}: {match}")


def as_lookup(p: Raw, tweet_id: str) -> Raw:
    """The same Problem as a ``/2/tweets?ids=`` answer gives it for an asked id."""
    out = {k: v for k, v in p.items() if k != "section"}
    detail = str(p["detail"]).replace(f"{p['parameter']}: [{p['value']}]", f"ids: [{tweet_id}]")
    return {**out, "parameter": "ids", "value": tweet_id, "resource_id": tweet_id, "detail": detail}


NOT_FOUND = problem("withheld_03.json", title="Not Found Error", resource_type="tweet")
NOT_AUTHORIZED = problem("entities_test.json", title="Authorization Error")
SUSPENDED = problem("kpop.json", title="Forbidden")
SUSPENDED_BY_ID = problem("entities_test.json", title="Forbidden")
PINNED_NOT_FOUND = problem("users.json", parameter="pinned_tweet_id", title="Not Found Error")
USER_NOT_FOUND = problem("users.json", resource_type="user", title="Not Found Error")

ID = "1500000000000000001"

CASES: list[tuple[str, dict[str, Raw], list[Raw], Fate]] = [
    ("the tweet is in data", {ID: {"id": ID}}, [], Fate.ALIVE),
    ("alive, even with a Problem about it", {ID: {"id": ID}}, [as_lookup(NOT_FOUND, ID)], Fate.ALIVE),
    ("Not Found Error for the asked id", {}, [as_lookup(NOT_FOUND, ID)], Fate.DELETED),
    ("pinned tweet's Not Found, as a lookup", {}, [as_lookup(PINNED_NOT_FOUND, ID)], Fate.DELETED),
    ("Authorization Error: protected", {}, [as_lookup(NOT_AUTHORIZED, ID)], Fate.GONE),
    ("Forbidden (suspended), even aimed at the id", {}, [as_lookup(SUSPENDED, ID)], Fate.GONE),
    ("Forbidden (suspended user by id)", {}, [as_lookup(SUSPENDED_BY_ID, ID)], Fate.GONE),
    ("a user's Not Found names no tweet", {}, [as_lookup(USER_NOT_FOUND, ID)], Fate.GONE),
    (
        "deleted and not authorized at once",
        {},
        [as_lookup(NOT_FOUND, ID), as_lookup(NOT_AUTHORIZED, ID)],
        Fate.GONE,
    ),
    ("nothing said about it", {}, [], Fate.GONE),
    ("only an expansion's Not Found", {}, [{**NOT_FOUND, "resource_id": ID, "value": ID}], Fate.GONE),
    ("an includes-section Problem", {}, [{**as_lookup(NOT_FOUND, ID), "section": "includes"}], Fate.GONE),
    ("a Not Found of another id", {}, [as_lookup(NOT_FOUND, "1500000000000000002")], Fate.GONE),
]


@pytest.mark.parametrize(("what", "tweets", "problems", "fate"), CASES, ids=[c[0] for c in CASES])
def test_lookup_answer_to_fate(what: str, tweets: dict[str, Raw], problems: list[Raw], fate: Fate) -> None:
    assert classify_lookup([ID], tweets, problems) == {ID: fate}, what


def test_recorded_problems_keep_their_shape() -> None:
    """The table above rests on these recorded titles and types."""
    assert NOT_FOUND["type"].endswith("/resource-not-found")
    assert SUSPENDED["type"].endswith("/resource-not-found") and SUSPENDED["resource_type"] == "user"
    assert NOT_AUTHORIZED["type"].endswith("/not-authorized-for-resource")


@given(st.lists(st.sampled_from([NOT_FOUND, NOT_AUTHORIZED, SUSPENDED, PINNED_NOT_FOUND]), max_size=4))
def test_a_tweet_given_is_alive_whatever_the_problems(recorded_problems: list[Raw]) -> None:
    problems = [as_lookup(p, ID) for p in recorded_problems]
    assert classify_lookup([ID], {ID: {"id": ID}}, problems)[ID] is Fate.ALIVE


@given(st.lists(st.sampled_from([NOT_AUTHORIZED, SUSPENDED, SUSPENDED_BY_ID, USER_NOT_FOUND]), max_size=4))
def test_no_deletion_without_a_not_found_of_the_tweet(recorded_problems: list[Raw]) -> None:
    problems = [as_lookup(p, ID) for p in recorded_problems]
    assert classify_lookup([ID], {}, problems)[ID] is Fate.GONE


def test_every_asked_id_gets_a_fate() -> None:
    other = "1500000000000000002"
    fates = classify_lookup([ID, other], {other: {"id": other}}, [as_lookup(NOT_FOUND, ID)])
    assert fates == {ID: Fate.DELETED, other: Fate.ALIVE}


def test_tweet_ids_carry_their_time() -> None:
    """Every recorded tweet with a snowflake id: the id's time is its created_at (to the second)."""
    from datetime import datetime

    tweets: list[Raw] = []
    for path in sorted(FIXTURES.glob("*/*.json")):
        body = json.loads(path.read_bytes())
        if not isinstance(body, dict) or path.name.endswith(".meta.json"):
            continue
        data = body.get("data")
        tweets += [*(data if isinstance(data, list) else [data] if data else [])]
        tweets += (body.get("includes") or {}).get("tweets") or []
    checked = 0
    for tweet in tweets:
        stamp = tweet.get("created_at") if "text" in tweet else None
        if not stamp or int(tweet["id"]) < 10**15:
            continue
        when = datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
        assert abs(created_at_of_id(int(tweet["id"])) - when) < 1.0, tweet["id"]
        checked += 1
    assert checked > 1000
    assert created_at_of_id(20) == 0.0  # an early, pre-snowflake id


# -- edits (the recorded edit: edited_before / edited_after) ---------------------------------------

OLD, NEW = "1576994746135764992", "1576994789110992896"


def test_recorded_edit_versions() -> None:
    before = first_tweet("edited_before.json")
    after = first_tweet("edited_after.json")
    assert (before["id"], after["id"]) == (OLD, NEW)
    assert newest_version(before) == NEW and newest_version(after) == NEW
    assert superseded_versions(after) == [OLD]
    assert superseded_versions(before) == []  # an old version replaces nothing


def test_a_tweet_never_edited_replaces_nothing() -> None:
    tweet = first_tweet("quoted_edit.json")
    assert superseded_versions(tweet) == [] and newest_version(tweet) == tweet["id"]
    assert superseded_versions({"id": "5"}) == [] and newest_version({"id": "5"}) == "5"


# -- events ----------------------------------------------------------------------------------------


def test_retraction_is_a_valid_nip09_request() -> None:
    key = random_key("12")
    target = "ab" * 32
    unsigned = build_retraction(
        key.pubkey_hex, target, 6, 1_700_000_000, deletion_reason("https://x.com/i/status/1")
    )
    event = sign_event(unsigned, key)
    assert verify_event(event)
    assert event.kind == KIND_DELETION
    assert ("e", target) in event.tags and ("k", "6") in event.tags
    parsed = nostr_sdk.Event.from_json(event.to_json())
    assert parsed.kind().as_u16() == 5
    assert parsed.verify()
    assert [t.to_vec() for t in parsed.tags()][:2] == [["e", target], ["k", "6"]]


def test_edit_reason_names_the_new_event() -> None:
    assert edit_reason("nevent1xyz") == "Edited on X; the new version is nostr:nevent1xyz"


@pytest.mark.parametrize("continues", [False, True])
def test_handoff_note_points_at_the_owner(continues: bool) -> None:
    key, owner = random_key("7"), random_key("8")
    npub = nostr_sdk.PublicKey.parse(owner.pubkey_hex).to_bech32()
    note = build_handoff_note(
        key.pubkey_hex, "jack", npub, owner.pubkey_hex, 1_700_000_000, continues=continues
    )
    assert note.kind == 1 and ("p", owner.pubkey_hex) in note.tags
    assert f"nostr:{npub}" in note.content and "https://x.com/jack" in note.content
    assert ("stops here" in note.content) is not continues


def test_profile_about_names_the_owner_after_a_handoff() -> None:
    user = User(id="7", username="jack", name="Jack")
    plain = profile_metadata(user)
    handed = profile_metadata(user, handoff_npub="npub1owner")
    assert "npub1owner" not in str(plain["about"])
    assert "nostr:npub1owner" in str(handed["about"])
    assert str(handed["about"]).endswith(str(plain["about"]))
