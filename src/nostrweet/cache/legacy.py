"""The earlier Rust nostrweet's data directory, as pure functions (SPEC §11).

The earlier tool wrote, directly in its data directory::

    YYYYMMDD_HHMMSS_<username>_<tweetid>.json   a tweet in its own model (username in its real case)
    YYYYMMDDHHMMSS_<username>_<userid>.json     a profile snapshot (the user object)
    <username>_<media key suffix>.<jpg|mp4>      a media file (the media key after its first "_")
    <tweetid>.not_found                          an empty marker: the tweet does not exist
    nostr/<tweetid>.json                         "posted" record of post-tweet-to-nostr
    nostr_events/<eventid>.json                  every event it signed (the daemon writes only these)

Its tweet model differs from our document (docs/CACHE.md): the author is flattened into the tweet
(``author``), a referenced tweet is nested in its entry (``referenced_tweets[].data``, as deep as the
chain went), media sit in the tweet's own ``includes.media``, and there is no ``data`` wrapper.
:func:`document_from_legacy` reads it into our document form, in memory; the file stays as it is.

Nothing here touches the disk: names are recognised from strings and shapes from parsed JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec

from nostrweet.cache import layout

POSTED_DIR = "nostr"
"""The earlier tool's "posted" records: ``nostr/<tweet_id>.json``."""
EVENTS_DIR = "nostr_events"
"""Where the earlier tool kept every event it signed: ``nostr_events/<event_id>.json``."""
SOURCE = "nostrweet-rust"
"""``nostrweet.source`` of a document read from the earlier tool's file."""
MEDIA_EXTENSIONS = ("jpg", "mp4")
"""The extensions the earlier tool stored media with (photo and others: jpg; video and GIF: mp4)."""

_ID = r"([1-9][0-9]{0,18})"
_TWEET_RE = re.compile(rf"^(\d{{8}})_(\d{{6}})_([A-Za-z0-9_]{{1,15}})_{_ID}\.json$")
_PROFILE_RE = re.compile(r"^(\d{14})_([A-Za-z0-9_]{1,15})_([1-9][0-9]{0,19})\.json$")
_NOT_FOUND_RE = re.compile(rf"^{_ID}\.not_found$")
_MEDIA_RE = re.compile(r"^([A-Za-z0-9_]{1,15})_([0-9]{1,20})\.(jpg|mp4)$")
_POSTED_RE = re.compile(rf"^{_ID}\.json$")
_EVENT_RE = re.compile(r"^([0-9a-f]{64})\.json$")
_STATUS_RE = re.compile(r"^https://twitter\.com/i/status/([1-9][0-9]{0,18})$")


class ProfileName(msgspec.Struct, frozen=True, gc=False):
    """A parsed profile file name of the earlier tool."""

    fetched_at: datetime
    username: str
    """Lower case."""
    user_id: str
    stamp: int
    """``YYYYMMDDHHMMSS`` as a number (the ``profiles`` table's stamp)."""


def _stamp(day: str, time: str) -> datetime | None:
    try:
        return datetime(
            int(day[:4]),
            int(day[4:6]),
            int(day[6:]),
            int(time[:2]),
            int(time[2:4]),
            int(time[4:]),
            tzinfo=UTC,
        )
    except ValueError:
        return None


def parse_tweet_name(name: str) -> layout.TweetName | None:
    """A tweet file name of the earlier tool (its username in any case), username lower-cased; None
    if ``name`` is not one. Every name of ours is also one of these (ours are lower case)."""
    m = _TWEET_RE.fullmatch(name)
    if m is None:
        return None
    when = _stamp(m.group(1), m.group(2))
    if when is None:
        return None
    return layout.TweetName(when, m.group(3).lower(), int(m.group(4)))


def tweet_stamp(name: str) -> int | None:
    """The stamp ``YYYYMMDDHHMMSS`` of a tweet file name of the earlier tool, as a number."""
    m = _TWEET_RE.fullmatch(name)
    return int(m.group(1) + m.group(2)) if m else None


def parse_profile_name(name: str) -> ProfileName | None:
    """A profile file name of the earlier tool (``YYYYMMDDHHMMSS_<username>_<userid>.json``), or None."""
    m = _PROFILE_RE.fullmatch(name)
    if m is None:
        return None
    stamp = m.group(1)
    when = _stamp(stamp[:8], stamp[8:])
    if when is None:
        return None
    return ProfileName(when, m.group(2).lower(), m.group(3), int(stamp))


def parse_not_found_name(name: str) -> int | None:
    """The tweet id of the earlier tool's ``<id>.not_found`` marker, or None."""
    m = _NOT_FOUND_RE.fullmatch(name)
    return int(m.group(1)) if m else None


def parse_media_name(name: str) -> tuple[str, str, str] | None:
    """``(username, media key suffix, ext)`` of a media file name of the earlier tool, or None."""
    m = _MEDIA_RE.fullmatch(name)
    if m is None or layout.parse_media_filename(name) is not None:  # ours: <user>_<tweetid>_<n>.<ext>
        return None
    return m.group(1), m.group(2), m.group(3)


def media_names(username: str, media_key: str) -> list[str]:
    """The names the earlier tool gave a media item of ``username`` (one per extension it used)."""
    suffix = media_key.split("_", 1)[1] if "_" in media_key else media_key
    return [
        f"{username}_{suffix}.{ext}"
        for ext in MEDIA_EXTENSIONS
        if _MEDIA_RE.fullmatch(f"{username}_{suffix}.{ext}")
    ]


def parse_posted_name(name: str) -> int | None:
    """The tweet id of a ``nostr/<tweet_id>.json`` record name, or None."""
    m = _POSTED_RE.fullmatch(name)
    return int(m.group(1)) if m else None


def parse_event_name(name: str) -> str | None:
    """The event id of a ``nostr_events/<event_id>.json`` name of the earlier tool, or None."""
    m = _EVENT_RE.fullmatch(name)
    return m.group(1) if m else None


# -- shapes ------------------------------------------------------------------------------------


def is_legacy_tweet(raw: object) -> bool:
    """Whether parsed JSON is a tweet in the earlier tool's model: an object with ``id``, ``text`` and
    ``created_at`` at the top (ours wraps the tweet in ``data``)."""
    return (
        isinstance(raw, dict)
        and "data" not in raw
        and isinstance(raw.get("id"), str)
        and raw["id"].isdigit()
        and isinstance(raw.get("text"), str)
        and isinstance(raw.get("created_at"), str)
    )


def is_legacy_profile(raw: object) -> bool:
    """Whether parsed JSON is a user object (the earlier tool's profile files and ours alike)."""
    return isinstance(raw, dict) and isinstance(raw.get("id"), str) and isinstance(raw.get("username"), str)


def _clean(value: Any) -> Any:
    """``value`` without the ``null`` members the earlier tool wrote for absent values."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_clean(v) for v in value if v is not None]
    return value


def _user(raw: object) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        return None
    user: dict[str, Any] = _clean(raw)
    if not (isinstance(user.get("id"), str) and user["id"] and isinstance(user.get("username"), str)):
        return None
    if not user["username"]:
        return None
    return user


_TWEET_FIELDS = ("id", "text", "author_id", "created_at", "entities", "note_tweet")


def _walk(raw: Mapping[str, Any], depth: int) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """The tweet and the tweets nested in its references, with their depth (0 = the tweet)."""
    yield depth, raw
    for ref in raw.get("referenced_tweets") or []:
        if isinstance(ref, dict) and isinstance(ref.get("data"), dict) and is_legacy_tweet(ref["data"]):
            yield from _walk(ref["data"], depth + 1)


def _own_media_keys(raw: Mapping[str, Any]) -> list[str]:
    """A legacy tweet's own media keys: ``attachments.media_keys``; without them (the earlier tool
    dropped them for nested tweets), the keys of its ``includes.media`` that none of its nested
    references claims."""
    attachments = raw.get("attachments")
    if isinstance(attachments, dict) and isinstance(attachments.get("media_keys"), list):
        return [str(k) for k in attachments["media_keys"]]
    claimed: set[str] = set()
    for _, nested in list(_walk(raw, 0))[1:]:
        nested_attachments = nested.get("attachments")
        if isinstance(nested_attachments, dict):
            claimed.update(str(k) for k in nested_attachments.get("media_keys") or [])
    media = (raw.get("includes") or {}).get("media") or []
    return [
        str(m["media_key"])
        for m in media
        if isinstance(m, dict) and "media_key" in m and m["media_key"] not in claimed
    ]


def _tweet(raw: Mapping[str, Any]) -> dict[str, Any]:
    """One legacy tweet as an API tweet object (what our document keeps under ``data``)."""
    tweet: dict[str, Any] = {k: _clean(raw[k]) for k in _TWEET_FIELDS if raw.get(k) is not None}
    author = raw.get("author")
    if "author_id" not in tweet and isinstance(author, dict) and author.get("id"):
        tweet["author_id"] = str(author["id"])
    refs = [
        {"type": str(r["type"]), "id": str(r["id"])}
        for r in raw.get("referenced_tweets") or []
        if isinstance(r, dict) and r.get("type") and r.get("id")
    ]
    if refs:
        tweet["referenced_tweets"] = refs
    keys = _own_media_keys(raw)
    if keys:
        tweet["attachments"] = {"media_keys": keys}
    return tweet


def document_from_legacy(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Our tweet document (docs/CACHE.md) from a tweet in the earlier tool's model.

    ``data`` is the tweet; ``includes.tweets`` every tweet nested in its references (and the earlier
    tool's own ``includes.tweets``), ``includes.users`` the flattened authors (and ``includes.users``),
    ``includes.media`` every media object met, each once. References the earlier tool could not fetch
    stay references without a tweet, as for an unavailable one. ``nostrweet.source`` says where the
    document came from.
    """
    users: dict[str, dict[str, Any]] = {}
    tweets: dict[str, dict[str, Any]] = {}
    media: dict[str, dict[str, Any]] = {}
    root = _tweet(raw)
    for depth, node in _walk(raw, 0):
        if depth > 0 and str(node["id"]) not in tweets and node["id"] != root["id"]:
            tweets[str(node["id"])] = _tweet(node)
        for user in (node.get("author"), *((node.get("includes") or {}).get("users") or [])):
            parsed = _user(user)
            if parsed is not None:
                users.setdefault(parsed["id"], parsed)
        includes = node.get("includes") or {}
        for item in includes.get("media") or []:
            if (
                isinstance(item, dict)
                and isinstance(item.get("media_key"), str)
                and isinstance(item.get("type"), str)
            ):
                media.setdefault(item["media_key"], _clean(item))
        for extra in includes.get("tweets") or []:
            if is_legacy_tweet(extra) and extra["id"] != root["id"]:
                tweets.setdefault(str(extra["id"]), _tweet(extra))
    document: dict[str, Any] = {"data": root, "includes": {}, "nostrweet": {"format": 1, "source": SOURCE}}
    for key, values in (("users", users), ("tweets", tweets), ("media", media)):
        if values:
            document["includes"][key] = list(values.values())
    return document


def unfilled_references(document: Mapping[str, Any]) -> list[str]:
    """Ids the main tweet of a converted document references without the tweet in ``includes.tweets``."""
    have = {str(t.get("id")) for t in (document.get("includes") or {}).get("tweets") or []}
    refs = document["data"].get("referenced_tweets") or []
    return [str(r["id"]) for r in refs if str(r["id"]) not in have and str(r["id"]) != document["data"]["id"]]


def add_reference(document: dict[str, Any], referenced: Mapping[str, Any]) -> None:
    """Put a referenced tweet's own cached document (its tweet, users, media and tweets) into a converted
    document's ``includes``, each once, as the earlier tool did when it found a reference cached."""
    includes = document.setdefault("includes", {})
    other = referenced.get("includes") or {}
    for key, ident, extra in (
        ("tweets", "id", [referenced["data"], *(other.get("tweets") or [])]),
        ("users", "id", other.get("users") or []),
        ("media", "media_key", other.get("media") or []),
    ):
        present = {str(v.get(ident)) for v in includes.get(key) or []}
        for value in extra:
            if isinstance(value, dict) and str(value.get(ident)) not in present:
                if key == "tweets" and value.get("id") == document["data"]["id"]:
                    continue
                includes.setdefault(key, []).append(value)
                present.add(str(value.get(ident)))


def missing_references(raw: Mapping[str, Any]) -> list[str]:
    """Ids of the tweets a legacy tweet references without their data (the earlier tool could not, or
    did not, fetch them), in order, each once."""
    out: list[str] = []
    for _, node in _walk(raw, 0):
        for ref in node.get("referenced_tweets") or []:
            if (
                isinstance(ref, dict)
                and str(ref.get("id", "")).isdigit()
                and not isinstance(ref.get("data"), dict)
                and str(ref["id"]) not in out
            ):
                out.append(str(ref["id"]))
    return out


def media_files_of(document: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """``(media key, author username)`` of every media item in a converted document, with the author of
    the tweet that owns it: the earlier tool named a media file after that author."""
    includes = document.get("includes") or {}
    usernames = {str(u["id"]): str(u["username"]) for u in includes.get("users") or []}
    for tweet in (document["data"], *(includes.get("tweets") or [])):
        username = usernames.get(str(tweet.get("author_id")))
        if username is None:
            continue
        for key in (tweet.get("attachments") or {}).get("media_keys") or []:
            yield str(key), username


# -- posted records --------------------------------------------------------------------------


class PostedRecord(msgspec.Struct, frozen=True):
    """An event the earlier tool posted for a tweet (``nostr/<tweet_id>.json`` or ``nostr_events/``)."""

    tweet_id: str
    event: dict[str, Any]
    relays: tuple[str, ...]


_EVENT_KEYS = ("id", "pubkey", "created_at", "kind", "tags", "content", "sig")


def _event(raw: object) -> dict[str, Any] | None:
    if not isinstance(raw, dict) or any(k not in raw for k in _EVENT_KEYS):
        return None
    if not (isinstance(raw["id"], str) and re.fullmatch(r"[0-9a-f]{64}", raw["id"])):
        return None
    if not isinstance(raw["kind"], int) or not isinstance(raw["created_at"], int):
        return None
    return {k: raw[k] for k in _EVENT_KEYS}


def posted_record(raw: object, tweet_id: int) -> PostedRecord | None:
    """A ``nostr/<tweet_id>.json`` record (its ``event_json`` is a string holding the event), or None
    when it is not one."""
    if not isinstance(raw, dict) or str(raw.get("tweet_id")) != str(tweet_id):
        return None
    text = raw.get("event_json")
    try:
        event = _event(json.loads(text)) if isinstance(text, str) else None
    except ValueError:
        event = None
    if event is None:
        return None
    relays = raw.get("relays")
    listed = tuple(str(r) for r in relays if isinstance(r, str)) if isinstance(relays, list) else ()
    return PostedRecord(str(tweet_id), event, listed)


def tweet_of_event(raw: object) -> PostedRecord | None:
    """A ``nostr_events/<id>.json`` event as a tweet's posted event: a kind 1 with the earlier tool's
    ``r`` tag ``https://twitter.com/i/status/<id>``; None for anything else (profiles, strangers)."""
    event = _event(raw)
    if event is None or event["kind"] != 1 or not isinstance(event["tags"], list):
        return None
    for tag in event["tags"]:
        if isinstance(tag, list) and len(tag) >= 2 and tag[0] == "r" and isinstance(tag[1], str):
            m = _STATUS_RE.fullmatch(tag[1])
            if m:
                return PostedRecord(m.group(1), event, ())
    return None


def recognised(names: Iterable[str]) -> dict[str, list[str]]:
    """The names of a data dir listing that are the earlier tool's, by kind (``tweets``, ``profiles``,
    ``not_found``, ``media``); tweet names of ours are included with ``tweets`` (the same form)."""
    out: dict[str, list[str]] = {"tweets": [], "profiles": [], "not_found": [], "media": []}
    for name in names:
        if _TWEET_RE.fullmatch(name):
            out["tweets"].append(name)
        elif _PROFILE_RE.fullmatch(name):
            out["profiles"].append(name)
        elif _NOT_FOUND_RE.fullmatch(name):
            out["not_found"].append(name)
        elif parse_media_name(name) is not None:
            out["media"].append(name)
    return out
