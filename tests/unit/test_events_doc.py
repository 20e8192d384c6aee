"""The examples of docs/EVENTS.md for a tweet's later life are what the code builds.

They are built here from the recorded edit (``twarc-csv/edited_before.json``, ``edited_after.json``)
with the keys of the test mnemonic, at a fixed time; signatures are deterministic, so each example is
reproducible byte for byte. ``python -m tests.unit.test_events_doc`` prints them for the page.
"""

from __future__ import annotations

import json
from pathlib import Path

import msgspec

from nostrweet.bridge.context import BuildContext, needed_users
from nostrweet.bridge.events import build_tweet_event
from nostrweet.bridge.lifecycle import (
    build_handoff_note,
    build_retraction,
    deletion_reason,
    edit_reason,
)
from nostrweet.bridge.profile import build_profile_event
from nostrweet.bridge.tags import tweet_url
from nostrweet.nostr.event import SignedEvent, nevent_of, pubkey_from_npub_or_hex, sign_event
from nostrweet.nostr.keys import KeyDeriver
from nostrweet.settings import Secret
from nostrweet.twitter.models import Includes, Tweet, TweetDocument, User
from tests.data import FIXTURES

DOC = Path(__file__).resolve().parents[2] / "docs" / "EVENTS.md"
MNEMONIC = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
DERIVER = KeyDeriver(Secret(MNEMONIC))
RELAY = "wss://relay.example.com"
AT = 1764547200  # 2025-12-01T00:00:00Z
OWNER_NPUB = "npub1sn0wdenkukak0d9dfczzeacvhkrgz92ak56egt7vdgzn8pv2wfqqhrjdv9"


def _document(name: str) -> TweetDocument:
    raw = json.loads((FIXTURES / "twarc-csv" / name).read_bytes())
    data = raw["data"][0] if isinstance(raw["data"], list) else raw["data"]
    includes = msgspec.convert(raw.get("includes", {}), Includes, strict=False)
    return TweetDocument(data=msgspec.convert(data, Tweet, strict=False), includes=includes)


def examples() -> dict[str, SignedEvent]:
    """Each example event of the page, by its heading."""
    old, new = _document("edited_before.json"), _document("edited_after.json")
    author = old.data.author_id
    assert author is not None
    key = DERIVER.for_user(author)
    ctx = BuildContext(
        pubkeys={u: DERIVER.for_user(u).pubkey_hex for u in needed_users(old) + needed_users(new)},
        first_relay=RELAY,
    )
    old_event = sign_event(build_tweet_event(old, ctx), key)
    new_event = sign_event(build_tweet_event(new, ctx), key)
    deleted = build_retraction(
        key.pubkey_hex, old_event.id, old_event.kind, AT, deletion_reason(tweet_url(old.data.id))
    )
    nevent = nevent_of(new_event.id, [RELAY], new_event.pubkey, new_event.kind)
    edited = build_retraction(key.pubkey_hex, old_event.id, old_event.kind, AT, edit_reason(nevent))
    user = (
        next(u for u in old.includes.users if u.id == author)
        if old.includes
        else User(id=author, username="x")
    )
    owner = pubkey_from_npub_or_hex(OWNER_NPUB)
    note = build_handoff_note(key.pubkey_hex, user.username, OWNER_NPUB, owner, AT, continues=False)
    profile = build_profile_event(user, key.pubkey_hex, AT, None, OWNER_NPUB)
    return {
        "kind 1 (the version later edited)": old_event,
        "kind 5: deleted on X": sign_event(deleted, key),
        "kind 5: edited on X": sign_event(edited, key),
        "kind 1: the hand-off note": sign_event(note, key),
        "kind 0 after the hand-off": sign_event(profile, key),
    }


def block(event: SignedEvent) -> str:
    """How the page shows an event: one JSON object, one field a line (as the page's other examples)."""
    fields = [f"{json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in event.to_dict().items()]
    return "{" + ",\n ".join(fields) + "}"


def test_the_page_shows_what_the_code_builds() -> None:
    page = DOC.read_text(encoding="utf-8")
    for heading, event in examples().items():
        assert block(event) in page, f"docs/EVENTS.md: the example '{heading}' is not what the code builds"


def test_the_examples_are_what_they_say() -> None:
    ex = examples()
    target = ex["kind 1 (the version later edited)"]
    for name in ("kind 5: deleted on X", "kind 5: edited on X"):
        assert ex[name].kind == 5 and ex[name].pubkey == target.pubkey
        assert ("e", target.id) in ex[name].tags and ("k", "1") in ex[name].tags
    assert "nostr:nevent1" in ex["kind 5: edited on X"].content
    assert OWNER_NPUB in ex["kind 1: the hand-off note"].content
    assert OWNER_NPUB in json.loads(ex["kind 0 after the hand-off"].content)["about"]


if __name__ == "__main__":
    for heading, event in examples().items():
        print(f"{heading}:\n\n```json\n{block(event)}\n```\n")
