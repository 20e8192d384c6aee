"""The duplicate check's acceptance rule (publish.duplicates): only the tweet's own mirror events count."""

from __future__ import annotations

from typing import Any

import pytest
from mnemonic import Mnemonic

from nostrweet.nostr.event import UnsignedEvent, sign_event
from nostrweet.nostr.keys import KeyDeriver, MirrorKey
from nostrweet.publish.duplicates import judge_found, lookup_filter, mirror_pubkeys, pick_own
from nostrweet.settings import Secret

PHRASE = Mnemonic("english").generate(128)
OURS = KeyDeriver(Secret(PHRASE)).for_user("42")
LEGACY = KeyDeriver(Secret(PHRASE), "legacy").for_user("42")
STRANGER = KeyDeriver(Secret(Mnemonic("english").generate(128))).for_user("42")
TID = "1830000000000000001"
X_URL = f"https://x.com/i/status/{TID}"
OLD_URL = f"https://twitter.com/i/status/{TID}"
PUBKEYS = KeyDeriver(Secret(PHRASE)).mirror_pubkeys("42")


def note(key: MirrorKey, *, r: str = X_URL, kind: int = 1, created_at: int = 1_700_000_000) -> dict[str, Any]:
    return sign_event(UnsignedEvent(key.pubkey_hex, created_at, kind, (("r", r),), "hello"), key).to_dict()


def bad_sig(key: MirrorKey) -> dict[str, Any]:
    event = note(key)
    event["sig"] = note(key, created_at=1)["sig"]  # a valid signature, of another event
    return event


def bad_id(key: MirrorKey) -> dict[str, Any]:
    event = note(key)
    event["content"] = "changed after signing"
    return event


@pytest.mark.parametrize(
    ("name", "raw", "accepted"),
    [
        ("our nip06 key, x.com form", note(OURS), True),
        ("our nip06 key, twitter.com form", note(OURS, r=OLD_URL), True),
        ("the same user's legacy key", note(LEGACY, r=OLD_URL), True),
        ("a repost by our key", note(OURS, kind=6), True),
        ("a stranger's key", note(STRANGER), False),
        ("a stranger's key, twitter.com form", note(STRANGER, r=OLD_URL), False),
        ("our pubkey, a signature of another event", bad_sig(OURS), False),
        ("our pubkey, id does not match the content", bad_id(OURS), False),
        ("our key, another tweet's r", note(OURS, r="https://x.com/i/status/1830000000000000002"), False),
        ("our key, a look-alike r", note(OURS, r=X_URL + "0"), False),
        ("our key, wrong kind", note(OURS, kind=30023), False),
        ("not an event", {"id": "x"}, False),
    ],
)
def test_judge_found_table(name: str, raw: dict[str, Any], accepted: bool) -> None:
    verdict = judge_found(raw, TID, PUBKEYS)
    assert (verdict.event is not None) == accepted, name
    assert bool(verdict.reason) != accepted


def test_mirror_pubkeys_are_the_nip06_and_the_legacy_key_of_that_user() -> None:
    assert (OURS.pubkey_hex, LEGACY.pubkey_hex) == PUBKEYS
    assert KeyDeriver(Secret(PHRASE), "legacy").mirror_pubkeys("42") == (LEGACY.pubkey_hex, OURS.pubkey_hex)


def test_pick_own_ignores_strangers_even_when_they_are_older() -> None:
    stranger = note(STRANGER, created_at=1)
    ours_new = note(OURS, created_at=1_700_000_100)
    ours_old = note(LEGACY, r=OLD_URL, created_at=1_700_000_000)
    ignored: list[tuple[str, str, str]] = []
    found = pick_own([stranger, ours_new, ours_old, bad_sig(OURS)], {TID: PUBKEYS}, ignored=ignored)
    assert found[TID].id == ours_old["id"]
    assert {i[1] for i in ignored} == {stranger["id"], bad_sig(OURS)["id"]}
    assert pick_own([stranger], {TID: PUBKEYS}) == {}


def test_lookup_filter_asks_for_the_mirror_identities_only() -> None:
    flt = lookup_filter([TID], {TID: PUBKEYS}).to_dict()
    assert flt == {
        "kinds": [1, 6],
        "authors": sorted(PUBKEYS),
        "#r": [X_URL, OLD_URL],
        "limit": 4,
    }


def test_mirror_pubkeys_of_a_key_source_without_other_schemes() -> None:
    class Fixed:
        def for_user(self, user_id: str) -> MirrorKey:
            return STRANGER

    assert mirror_pubkeys(Fixed(), "42") == (STRANGER.pubkey_hex,)
    assert mirror_pubkeys(KeyDeriver(Secret(PHRASE)), "42") == PUBKEYS
