"""A data directory as the earlier Rust nostrweet left it, built from its own files (SPEC §11).

The tweets are the ``tweet`` objects of the reference cases in ``reference-cases/`` (copied verbatim
from the reference notes on the earlier tool, see README.md): the earlier tool's stored tweet model,
with its flattened ``author`` and nested ``referenced_tweets[].data``. Everything else follows the
names and shapes those notes document (its §2.10 media names, §3 layout, §3.5 posted records), written
here by hand rather than by our code, so the tests compare our reader against the documented format:

- each tweet as ``YYYYMMDD_HHMMSS_<author.username>_<id>.json``, pretty-printed with 2 spaces; the
  referenced tweets the earlier tool fetched are saved as files of their own too (its §2.5 step 4);
- one synthetic tweet of ``CamelCase`` (an upper-case username in the file name, as the earlier tool
  wrote it), made here;
- media ``<author.username>_<media key after its first "_">.<jpg|mp4>`` for each media item of a tweet
  and of each referenced tweet, under the username of the tweet that owns it (fake bytes);
- the profile of case ``profile-01-full`` as ``YYYYMMDDHHMMSS_douglaz_3916631.json``;
- ``<id>.not_found`` (empty) for the unavailable parent of case 07;
- "posted" records ``nostr/<id>.json`` and ``nostr_events/<event id>.json`` for two tweets, and one event
  in ``nostr_events/`` only (as the earlier daemon left it), each signed with the earlier tool's key of
  the author and tagged ``["r", "https://twitter.com/i/status/<id>"]``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from nostrweet.nostr.event import SignedEvent, UnsignedEvent, sign_event
from nostrweet.nostr.keys import KeyDeriver
from nostrweet.settings import Secret
from tests.data import REFERENCE_CASES

MNEMONIC = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
"""The mnemonic of every reference case."""
RELAY_PLACEHOLDER = "wss://relay.example.com"
"""The relay the earlier tool's records name."""

CASES = (
    "03-simple-retweet",
    "04-reply-with-data",
    "05-quote-with-data",
    "07-reply-without-data-unresolved-mentions",
    "08-reply-url-expansion",
    "09-reply-planet-apes",
    "10-simple-retweet-of-note-tweet-with-video",
    "11-reply-to-tweet-with-photo",
    "12-photo-inline-reply-without-data",
    "13-reply-to-tweet-with-video-entity-fallback",
    "14-simple-retweet-with-video",
    "22-html-entities",
    "26-two-photos-one-tco",
)
SAVED_REFERENCES = ("04-reply-with-data", "05-quote-with-data", "11-reply-to-tweet-with-photo")
"""Cases whose referenced tweet the earlier tool also saved as a file of its own."""
POSTED_WITH_RECORD = ("1000000000000000001", "1000000000000000003")
"""Tweets (cases 22, 26) with a ``nostr/<id>.json`` record and a ``nostr_events/`` event."""
POSTED_BY_DAEMON = ("1929221881929843016",)
"""A tweet (case 09) whose event is only in ``nostr_events/``, as the earlier daemon wrote it."""
NOT_FOUND = "1929036772777787461"
"""The parent of case 07, which the earlier tool marked ``<id>.not_found``."""
DOUGLAZ_ID = "3916631"

CAMEL = {
    "id": "1500000000000000001",
    "text": "Hello from a name with capitals",
    "author": {"id": "44196397", "name": "Camel", "username": "CamelCase"},
    "referenced_tweets": None,
    "attachments": None,
    "created_at": "2024-02-02T10:00:00.000Z",
    "entities": None,
    "includes": None,
    "author_id": "44196397",
}


@dataclass
class LegacyDir:
    """What :func:`build_legacy_dir` wrote."""

    path: Path
    tweets: dict[str, str] = field(default_factory=dict)
    """Tweet id -> file name of every tweet file."""
    media: list[str] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)
    posted: dict[str, SignedEvent] = field(default_factory=dict)
    """Tweet id -> the event the earlier tool posted for it."""
    owners: dict[str, str] = field(default_factory=dict)
    """Tweet id -> author id of every tweet file."""


def case_tweet(name: str) -> dict[str, Any]:
    """The stored tweet of a reference case."""
    data: dict[str, Any] = json.loads((REFERENCE_CASES / f"{name}.json").read_text())["tweet"]
    return data


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False))


def _tweet_name(tweet: dict[str, Any]) -> str:
    when = datetime.fromisoformat(tweet["created_at"].replace("Z", "+00:00"))
    return f"{when:%Y%m%d_%H%M%S}_{tweet['author']['username']}_{tweet['id']}.json"


def _media(tweet: dict[str, Any]) -> list[str]:
    owner = (tweet.get("author") or {}).get("username") or ""
    names = []
    for item in (tweet.get("includes") or {}).get("media") or []:
        ext = "mp4" if item["type"] in ("video", "animated_gif") else "jpg"
        names.append(f"{owner}_{item['media_key'].split('_', 1)[1]}.{ext}")
    return names


def legacy_event(tweet: dict[str, Any], mnemonic: str = MNEMONIC) -> SignedEvent:
    """The kind 1 the earlier tool posted for a tweet: its header and text, its ``r`` tag, signed with
    its key of the author (its content details do not matter here)."""
    key = KeyDeriver(Secret(mnemonic), "legacy").for_user(tweet["author"]["id"])
    created = int(datetime.fromisoformat(tweet["created_at"].replace("Z", "+00:00")).timestamp())
    status = f"https://twitter.com/i/status/{tweet['id']}"
    content = f"🐦 @{tweet['author']['username']}: {tweet['text']}\n\n\nOriginal tweet: {status}"
    tags = [["r", status], ["client", "nostrweet"]]
    return sign_event(UnsignedEvent(key.pubkey_hex, created, 1, tags, content), key)


def _pretty_event(event: SignedEvent) -> str:
    raw = event.to_dict()
    return json.dumps(
        {k: raw[k] for k in ("id", "pubkey", "created_at", "kind", "tags", "content", "sig")}, indent=2
    )


def build_legacy_dir(path: Path, mnemonic: str = MNEMONIC) -> LegacyDir:
    """Write the earlier tool's data directory at ``path`` (see the module docstring)."""
    path.mkdir(parents=True, exist_ok=True)
    out = LegacyDir(path)
    tweets = [case_tweet(c) for c in CASES] + [CAMEL]
    for case in SAVED_REFERENCES:
        tweets += [r["data"] for r in case_tweet(case)["referenced_tweets"] if "data" in r]
    by_id: dict[str, dict[str, Any]] = {}
    for tweet in tweets:
        by_id.setdefault(tweet["id"], tweet)
        name = _tweet_name(tweet)
        _write_json(path / name, tweet)
        out.tweets[tweet["id"]] = name
        out.owners[tweet["id"]] = tweet["author"]["id"]
        nested = [r["data"] for r in tweet.get("referenced_tweets") or [] if "data" in r]
        for owner in (tweet, *nested):
            for media in _media(owner):
                if media not in out.media:
                    (path / media).write_bytes(
                        b"\xff\xd8\xff legacy " + hashlib.sha256(media.encode()).digest()
                    )
                    out.media.append(media)
    profile = json.loads((REFERENCE_CASES / "profile-01-full.json").read_text())["stored_profile"]
    profile_name = f"20250901120000_{profile['username']}_{profile['id']}.json"
    _write_json(path / profile_name, profile)
    out.profiles.append(profile_name)
    (path / f"{NOT_FOUND}.not_found").write_bytes(b"")
    out.not_found.append(f"{NOT_FOUND}.not_found")
    (path / "nostr").mkdir()
    (path / "nostr_events").mkdir()
    for tweet_id in (*POSTED_WITH_RECORD, *POSTED_BY_DAEMON):
        event = legacy_event(by_id[tweet_id], mnemonic)
        out.posted[tweet_id] = event
        (path / "nostr_events" / f"{event.id}.json").write_text(_pretty_event(event))
        if tweet_id in POSTED_WITH_RECORD:
            record = {
                "tweet_id": tweet_id,
                "event_id": event.id,
                "pubkey": event.pubkey,
                "created_at": event.created_at,
                "media_urls": [],
                "relays": [RELAY_PLACEHOLDER],
                "event_json": _pretty_event(event),
            }
            _write_json(path / "nostr" / f"{tweet_id}.json", record)
    return out


def tree_digest(path: Path, *, ignore: tuple[str, ...] = ()) -> dict[str, str]:
    """Every entry under ``path`` (relative name -> SHA-256 of a file, ``dir`` for a directory), to show
    that nothing was renamed, changed, created or deleted."""
    out: dict[str, str] = {}
    for entry in sorted(path.rglob("*")):
        rel = str(entry.relative_to(path))
        if rel.startswith(ignore):
            continue
        out[rel] = "dir" if entry.is_dir() else hashlib.sha256(entry.read_bytes()).hexdigest()
    return out
