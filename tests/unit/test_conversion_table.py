"""Hand-checked expected outputs (content + tags) for the main shapes of SPEC §4.

Real fixture tweets where the fixtures have the shape; small synthetic documents, clearly labelled,
for note_tweet, video variants, a mention prefix collision and a reply whose parent is unavailable.
"""

from __future__ import annotations

import msgspec
import pytest

from nostrweet.bridge.context import BuildContext, ConversionError, EventRef
from nostrweet.bridge.events import build_tweet_event
from nostrweet.bridge.profile import build_blossom_list_event, build_profile_event, build_relay_list_event
from nostrweet.nostr.event import npub_of
from nostrweet.twitter.models import TweetDocument, User, decode_document
from tests.unit.test_conversion_fixtures import PUBKEYS, WORLD, build_signed, pubkey_for


def fixture(tweet_id: str) -> TweetDocument:
    return next(c.doc for c in WORLD if c.doc.data.id == tweet_id)


def npub(uid: str) -> str:
    return "nostr:" + npub_of(pubkey_for(uid))


def other_tags(tags: tuple[tuple[str, ...], ...]) -> list[tuple[str, ...]]:
    return [t for t in tags if t[0] not in ("proxy", "r", "client")]


def test_urls_mentions_hashtags() -> None:  # real: brexit 1440716656943058945
    doc = fixture("1440716656943058945")
    by_name = {u.username: u.id for u in doc.includes.users}
    retps, efa = by_name["RetPS"], by_name["EFAparty"]
    event = build_signed(doc, {})
    assert event.content == (
        "https://www.nytimes.com/2021/09/22/world/europe/france-submarines-biden.html #UNGA #UNGA2021 #Macron "
        f"#GiletsJaunes #EuropeanCommission #Merkel {npub(retps)} {npub(efa)} "
        "#FutureofEurope #EuropeofAllPeoples #Brexit #BorisJohnson\n\n"
        "The April 2022 French election will be momentous\n\n"
        "https://x.com/TheGlobalSpring/status/1440716656943058945"
    )
    tags = other_tags(event.tags)
    assert tags[:2] == [("p", pubkey_for(retps)), ("p", pubkey_for(efa))]
    assert [t[1] for t in tags[2:]] == [
        "unga", "unga2021", "macron", "giletsjaunes", "europeancommission", "merkel",
        "futureofeurope", "europeofallpeoples", "brexit", "borisjohnson",
    ]  # fmt: skip


def test_poll() -> None:  # real: brexit 1440382212159930371
    event = build_signed(fixture("1440382212159930371"), {})
    assert event.content.endswith(
        "#Brexit #USA #BorisJohnson #Politics\n\nPoll:\n1. Yes I do\n2. No I don’t\n3. Don’t know\n\n"
        "https://x.com/PoliticsPollss/status/1440382212159930371"
    )


def test_html_entities_and_quote() -> None:  # real: brexit 1440715975020584960 (&amp;, emoji, quote)
    doc = fixture("1440715975020584960")
    refs: dict[str, EventRef] = {}
    event = build_signed(doc, refs)
    quoted = refs["1440660748275834882"]
    text, rest = event.content.split(" nostr:nevent1", 1)
    assert (
        text == f"And {npub(doc.data.entities.mentions[0].id or '')} & #NicolaSturgeon blame #Brexit..🤣🤣🤣!"
    )  # type: ignore[union-attr]
    assert rest.endswith("\n\nhttps://x.com/Munku1/status/1440715975020584960")
    assert ("q", quoted.event_id, "", quoted.pubkey) in event.tags
    assert "&amp;" not in event.content


def test_quote_unavailable_keeps_a_plain_link() -> None:
    doc = fixture("1440715975020584960")
    event = build_tweet_event(doc, BuildContext(pubkeys=PUBKEYS))
    assert "https://twitter.com/paulafr68963440/status/1440660748275834882" in event.content
    assert not [t for t in event.tags if t[0] == "q"]


def test_retweet_is_kind_6_of_the_original() -> None:  # real: brexit 1440716856763977732
    doc = fixture("1440716856763977732")
    refs: dict[str, EventRef] = {}
    event = build_signed(doc, refs)
    original = refs["1440713161355583489"]
    assert event.kind == 6
    assert event.content == original.event_json
    assert event.tags == (
        ("e", original.event_id, "wss://relay.example.com"),
        ("p", original.pubkey),
        ("proxy", "https://x.com/i/status/1440716856763977732", "web"),
        ("r", "https://x.com/i/status/1440716856763977732"),
        ("client", "nostrweet"),
    )
    with pytest.raises(ConversionError, match="before its repost"):
        build_tweet_event(doc, BuildContext(pubkeys=PUBKEYS))


def test_reply_with_gif() -> None:  # real: brexit 1440716745577140229, reply to the thread root
    doc = fixture("1440716745577140229")
    refs: dict[str, EventRef] = {}
    event = build_signed(doc, refs)
    parent = refs["1440621713281093641"]
    assert event.content.startswith(
        npub(doc.data.in_reply_to_user_id or "") + " #FuckBrexit #BrexitSucks I wonder"
    )
    assert event.content.endswith(
        "You can always return!… 🇪🇺✊🏻\n\n"
        "https://pbs.twimg.com/tweet_video_thumb/E_50PPpUYAIE3uX.jpg\n\n"
        "https://x.com/calin_a/status/1440716745577140229"
    )
    assert ("e", parent.event_id, "", "root", parent.pubkey) in event.tags
    assert (
        "imeta",
        "url https://pbs.twimg.com/tweet_video_thumb/E_50PPpUYAIE3uX.jpg",
        "m image/jpeg",
        "dim 320x200",
    ) in event.tags


def test_self_thread_root_unknown() -> (
    None
):  # real: brexit 1440714901538803715 (conversation root not cached)
    refs: dict[str, EventRef] = {}
    event = build_signed(fixture("1440714901538803715"), refs)
    parent = refs["1440714041480015878"]
    # the first tweet is not mirrored and neither is the parent's parent: the parent is the oldest
    # mirrored ancestor, so it is the root (a direct reply to the root carries the "root" marker only)
    assert [t for t in event.tags if t[0] == "e"] == [("e", parent.event_id, "", "root", parent.pubkey)]
    assert ("p", parent.pubkey) in event.tags


def test_self_thread_with_root_and_parent() -> None:
    doc = fixture("1440714901538803715")
    refs = {
        "1440714041480015878": EventRef("aa" * 32, "bb" * 32, 1, "{}"),
        "1440709708738748423": EventRef("cc" * 32, "bb" * 32, 1, "{}"),
    }
    event = build_tweet_event(doc, BuildContext(pubkeys=PUBKEYS, refs=refs))
    assert [t for t in event.tags if t[0] == "e"] == [
        ("e", "cc" * 32, "", "root", "bb" * 32),
        ("e", "aa" * 32, "", "reply", "bb" * 32),
    ]


def test_photo() -> None:  # real: cashtags 1611077073803841538
    event = build_signed(fixture("1611077073803841538"), {})
    assert "Via:- http://go.trade-ideas.com/SHHb\n\n#business\n" in event.content
    assert event.content.endswith(
        "$SPX $NIO $ETC $META\n\nhttps://pbs.twimg.com/media/Flux6uuaAAAq9Ap.png?name=orig\n\n"
        "https://x.com/Trading22971312/status/1611077073803841538"
    )
    assert (
        "imeta",
        "url https://pbs.twimg.com/media/Flux6uuaAAAq9Ap.png?name=orig",
        "m image/png",
        "dim 636x350",
    ) in event.tags


def test_video_best_bitrate() -> None:  # real: media_tweet 1558553189766631429
    event = build_signed(fixture("1558553189766631429"), {})
    url = (
        "https://video.twimg.com/ext_tw_video/1558552952549277696/pu/vid/1280x720/WiZrNZKT2lMzK5zA.mp4?tag=12"
    )
    assert (
        event.content
        == f"She's GOING with it! 🐍\n\n{url}\n\nhttps://x.com/IgorBrigadir/status/1558553189766631429"
    )
    assert ("imeta", f"url {url}", "m video/mp4", "dim 1280x720") in event.tags


# --- synthetic documents (modelled on the v2 schema) --------------------------------------------

SYNTH_USERS = [
    {"id": "100", "username": "alice", "name": "Alice"},
    {"id": "200", "username": "bob", "name": "Bob"},
    {"id": "300", "username": "bobby", "name": "Bobby"},
]


def synth(data: dict[str, object], **includes: object) -> TweetDocument:
    base = {"author_id": "100", "created_at": "2024-01-02T03:04:05.000Z", "conversation_id": data["id"]}
    return decode_document({"data": {**base, **data}, "includes": {"users": SYNTH_USERS, **includes}})


CTX = BuildContext(pubkeys=PUBKEYS)


def test_synthetic_note_tweet_long_text() -> None:
    long_text = "Ünïcödé " * 40 + "see https://t.co/LONG and @bob"
    start = long_text.index("https://t.co/LONG")
    doc = synth(
        {
            "id": "1",
            "text": "Ünïcödé Ünïcödé… https://t.co/TRUNC",
            "note_tweet": {
                "text": long_text,
                "entities": {
                    "urls": [
                        {
                            "start": start,
                            "end": start + 17,
                            "url": "https://t.co/LONG",
                            "expanded_url": "https://example.org/long",
                        }
                    ],
                    "mentions": [
                        {"start": len(long_text) - 4, "end": len(long_text), "username": "bob", "id": "200"}
                    ],
                },
            },
        }
    )
    event = build_tweet_event(doc, CTX)
    assert (
        event.content
        == "Ünïcödé " * 40 + f"see https://example.org/long and {npub('200')}\n\nhttps://x.com/alice/status/1"
    )
    assert event.created_at == 1704164645


def test_synthetic_mention_prefix_collision() -> None:
    text = "@bobby and @bob, not @bobcat"
    doc = synth(
        {
            "id": "2",
            "text": text,
            "entities": {
                "mentions": [
                    {"start": 0, "end": 6, "username": "bobby"},
                    {"start": 11, "end": 15, "username": "bob"},
                    {"start": 21, "end": 28, "username": "bobcat"},
                ]
            },
        }
    )
    event = build_tweet_event(doc, CTX)
    assert event.content == f"{npub('300')} and {npub('200')}, not @bobcat\n\nhttps://x.com/alice/status/2"
    assert [t for t in event.tags if t[0] == "p"] == [("p", pubkey_for("300")), ("p", pubkey_for("200"))]


def test_synthetic_reply_to_unavailable_parent_and_entities() -> None:
    doc = synth(
        {
            "id": "3",
            "text": "@bob &lt;3 &amp;amp; &#128512; &#x41; &bogus;",
            "in_reply_to_user_id": "200",
            "referenced_tweets": [{"type": "replied_to", "id": "99"}],
            "entities": {"mentions": [{"start": 0, "end": 4, "username": "bob", "id": "200"}]},
        }
    )
    event = build_tweet_event(doc, CTX)
    assert event.content == (
        "In reply to https://x.com/bob/status/99\n\n"
        f"{npub('200')} <3 &amp; 😀 A &bogus;\n\nhttps://x.com/alice/status/3"
    )
    assert not [t for t in event.tags if t[0] == "e"]
    assert [t for t in event.tags if t[0] == "p"] == [("p", pubkey_for("200"))]


def test_synthetic_non_latin_and_emoji_positions() -> None:
    text = "한국어 🇰🇷 مرحبا https://t.co/AB #태그"
    start = text.index("https://t.co/AB")
    doc = synth(
        {
            "id": "4",
            "text": text,
            "entities": {
                "urls": [
                    {
                        "start": start,
                        "end": start + 15,
                        "url": "https://t.co/AB",
                        "expanded_url": "https://예시.kr/",
                    }
                ],
                "hashtags": [{"start": start + 16, "end": start + 19, "tag": "태그"}],
            },
        }
    )
    event = build_tweet_event(doc, CTX)
    assert event.content == "한국어 🇰🇷 مرحبا https://예시.kr/ #태그\n\nhttps://x.com/alice/status/4"
    assert ("t", "태그") in event.tags


# --- profiles and lists -------------------------------------------------------------------------


def test_profile_event() -> None:
    user = msgspec.convert(
        {
            "id": "100",
            "username": "Alice",
            "name": "Alice A.",
            "description": "I write at https://t.co/XY",
            "profile_image_url": "https://pbs.twimg.com/profile_images/1/a_normal.jpg",
            "url": "https://t.co/W",
            "entities": {
                "url": {
                    "urls": [
                        {
                            "start": 0,
                            "end": 14,
                            "url": "https://t.co/W",
                            "expanded_url": "https://alice.example",
                        }
                    ]
                },
                "description": {
                    "urls": [
                        {
                            "start": 11,
                            "end": 26,
                            "url": "https://t.co/XY",
                            "expanded_url": "https://blog.example",
                        }
                    ]
                },
            },
        },
        User,
    )
    event = build_profile_event(user, pubkey_for("100"), 1700000000)
    assert event.kind == 0
    assert event.tags == (("proxy", "https://x.com/Alice", "web"),)
    assert event.content == (
        '{"name":"Alice","display_name":"Alice A.","about":"I write at https://blog.example\\n\\n'
        "Mirrored from https://x.com/Alice by nostrweet; not run by the account's owner.\","
        '"picture":"https://pbs.twimg.com/profile_images/1/a.jpg","website":"https://alice.example","bot":true}'
    )


def test_relay_and_blossom_lists() -> None:
    pk = pubkey_for("100")
    relays = build_relay_list_event(pk, ["wss://a.example", "wss://b.example", "wss://a.example"], 5)
    assert (relays.kind, relays.tags, relays.content) == (
        10002,
        (("r", "wss://a.example"), ("r", "wss://b.example")),
        "",
    )
    servers = build_blossom_list_event(pk, ["https://b1.example", "https://b2.example"], 5)
    assert (servers.kind, servers.tags) == (
        10063,
        (("server", "https://b1.example"), ("server", "https://b2.example")),
    )
