"""A reply's NIP-10 root when the conversation's first tweet is gone (SPEC §4 "Reply").

The chain is real: @WhoDisTweet's conversation 1253788283760492544 (first tweet, deleted here with the
fake world's ``delete_tweet``) and its replies 1253792843128283136 → 1253796041020919809 →
1253796880888279046. The fourth reply, 1253798000000000000, is synthetic (labelled): the recordings
stop at the third, whose ``reply_count`` is 1. The events are built as the publisher builds them:
parents first, each with the events of what it references.
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import msgspec
import pytest

from nostrweet.bridge.context import BuildContext, EventRef
from nostrweet.bridge.events import build_tweet_event
from nostrweet.nostr.event import SignedEvent, sign_event
from nostrweet.twitter.models import Includes, Tweet, TweetDocument
from tests.fakes.x_world import World
from tests.unit.test_conversion_fixtures import DERIVER, PUBKEYS

FIRST = "1253788283760492544"
REPLIES = ["1253792843128283136", "1253796041020919809", "1253796880888279046", "1253798000000000000"]
JS_DIR = Path(__file__).resolve().parents[1] / "js"


def world_with_chain(*, delete_first: bool) -> World:
    world = World.from_fixtures()
    third = world.tweets[REPLIES[2]]
    second = world.tweets[REPLIES[1]]
    synthetic = {  # labelled synthetic: the fourth reply, by the second reply's author
        **second,
        "id": REPLIES[3],
        "created_at": "2020-04-24T21:30:00.000Z",
        "text": "@PhillyNEFL Thanks, will do.",
        "entities": {"mentions": [{"start": 0, "end": 11, "username": "PhillyNEFL"}]},
        "referenced_tweets": [{"type": "replied_to", "id": REPLIES[2]}],
        "in_reply_to_user_id": third["author_id"],
    }
    world.add_tweet(synthetic)
    if delete_first:
        world.delete_tweet(FIRST)
    return world


def document(world: World, tweet_id: str) -> TweetDocument:
    """The tweet as a lookup answers it: the replied-to tweet in includes when it is available."""
    raw = world.get_tweet(tweet_id)
    assert raw is not None
    parents = [r["id"] for r in raw.get("referenced_tweets", []) if r["type"] == "replied_to"]
    included = [t for t in (world.get_tweet(p) for p in parents) if t is not None]
    authors = {raw["author_id"], *(t["author_id"] for t in included)}
    includes = {"tweets": included, "users": [world.users[a] for a in authors if a in world.users]}
    return TweetDocument(
        data=msgspec.convert(raw, Tweet, strict=False),
        includes=msgspec.convert(includes, Includes, strict=False),
    )


def build_chain(world: World, ids: list[str]) -> dict[str, SignedEvent]:
    """Events for ``ids`` (oldest first), each built with the events of the tweets before it."""
    refs: dict[str, EventRef] = {}
    events: dict[str, SignedEvent] = {}
    for tid in ids:
        doc = document(world, tid)
        assert doc.data.author_id is not None
        ctx = BuildContext(pubkeys=PUBKEYS, refs=dict(refs))
        event = sign_event(build_tweet_event(doc, ctx), DERIVER.for_user(doc.data.author_id))
        events[tid] = event
        refs[tid] = EventRef(event.id, event.pubkey, event.kind, event.to_json())
    return events


def e_tags(event: SignedEvent) -> list[tuple[str, ...]]:
    return [tuple(t) for t in event.tags if t[0] == "e"]


def test_chain_under_a_deleted_first_tweet_has_one_root() -> None:
    events = build_chain(world_with_chain(delete_first=True), REPLIES)
    a, b, c, d = (events[t] for t in REPLIES)
    root = ("e", a.id, "", "root", a.pubkey)
    # the oldest mirrored ancestor: its parent is gone, so it links the parent's URL and has no e tag
    assert e_tags(a) == []
    assert a.content.startswith("In reply to https://x.com/")
    assert e_tags(b) == [root]  # a direct reply to the root: the "root" marker only
    assert e_tags(c) == [root, ("e", b.id, "", "reply", b.pubkey)]
    assert e_tags(d) == [root, ("e", c.id, "", "reply", c.pubkey)]


def test_chain_under_a_mirrored_first_tweet_roots_at_it() -> None:
    events = build_chain(world_with_chain(delete_first=False), [FIRST, *REPLIES])
    first = events[FIRST]
    root = ("e", first.id, "", "root", first.pubkey)
    assert e_tags(events[REPLIES[0]]) == [root]
    for parent, reply in itertools.pairwise(REPLIES):
        p = events[parent]
        assert e_tags(events[reply]) == [root, ("e", p.id, "", "reply", p.pubkey)]


def test_a_later_reply_finds_the_root_through_its_parent_alone() -> None:
    # the builder sees only the parent's event (as from its record), not the whole chain
    world = world_with_chain(delete_first=True)
    events = build_chain(world, REPLIES)
    c = events[REPLIES[2]]
    doc = document(world, REPLIES[3])
    refs = {REPLIES[2]: EventRef(c.id, c.pubkey, c.kind, c.to_json())}
    d = build_tweet_event(doc, BuildContext(pubkeys=PUBKEYS, refs=refs))
    a = events[REPLIES[0]]
    assert [t for t in d.tags if t[0] == "e"] == [
        ("e", a.id, "", "root", a.pubkey),
        ("e", c.id, "", "reply", c.pubkey),
    ]


def nip10_parse(events: list[SignedEvent]) -> list[dict[str, Any]]:
    """nostr-tools' own ``nip10.parse`` of each event (node and the pinned nostr-tools in tests/js)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("npm/node not found: the nostr-tools check needs them (CI has them)")
    if not (JS_DIR / "node_modules" / "nostr-tools").is_dir():
        subprocess.run(
            [npm, "ci", "--silent", "--no-audit", "--no-fund"], cwd=JS_DIR, check=True, timeout=300
        )
    payload = json.dumps([e.to_dict() for e in events])
    done = subprocess.run(
        [node, str(JS_DIR / "nip10_parse.mjs")],
        input=payload,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    parsed: list[dict[str, Any]] = json.loads(done.stdout)
    return parsed


def test_nostr_tools_shows_one_thread() -> None:
    events = build_chain(world_with_chain(delete_first=True), REPLIES)
    chain = [events[t] for t in REPLIES]
    parsed = nip10_parse(chain[1:])
    roots = {p["root"]["id"] for p in parsed}
    assert roots == {chain[0].id}
    for parent, result in zip(chain, parsed, strict=False):
        assert result["reply"]["id"] == parent.id
