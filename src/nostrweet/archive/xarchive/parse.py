"""PURE: archive tweets → cache documents (docs/IMPORT.md; the archive's files are decoded by ``schema``).

Archive tweets look like API v1.1 objects with numbers as strings; :func:`convert_tweet` turns one into a tweet
document of the API v2 shape (docs/CACHE.md), so the rest of nostrweet treats it like a fetched one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from nostrweet.archive.xarchive.schema import (
    Account,
    AMedia,
    ArchiveTweet,
    AVariant,
    AVideoInfo,
    Note,
    NoteCore,
    Profile,
)

DOCUMENT_FORMAT = 1
SOURCE = "x-archive"
SKIP_RETWEET = "retweet without original"
SKIP_EDITED = "older version of an edited tweet"
SKIP_NO_DATE = "unreadable date"

_STATUS_RE = re.compile(
    r"^https?://(?:www\.|mobile\.)?(?:twitter|x)\.com/(?:[A-Za-z0-9_]{1,15}|i(?:/web)?)/status(?:es)?/([0-9]{1,19})(/.*)?$"
)
_MEDIA_KEY_PREFIX = {"photo": "3", "video": "7", "animated_gif": "16"}


def rfc3339(created_at: str) -> str:
    """``Fri Feb 20 09:10:58 +0000 2026`` → ``2026-02-20T09:10:58.000Z`` (the API v2 form, UTC)."""
    try:
        moment = datetime.strptime(created_at, "%a %b %d %H:%M:%S %z %Y")
    except ValueError:
        moment = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def is_retweet(tweet: ArchiveTweet) -> bool:
    """A retweet shows in the archive only as its truncated ``RT @user: …`` text."""
    return tweet.full_text.startswith("RT @")


def superseded(tweet: ArchiveTweet) -> bool:
    """True for an older version of an edited tweet (the newest version is imported instead)."""
    info = tweet.edit_info
    ids = (info.initial or info.edit) if info is not None else None
    if ids is None or not ids.editTweetIds:
        return False
    newest = max(ids.editTweetIds, key=int)
    return newest != tweet.id_str and tweet.id_str in ids.editTweetIds


def status_id(url: str | None) -> str | None:
    """The tweet id of an X status URL (not of its /photo/ or /video/ links), else None."""
    match = _STATUS_RE.match(url or "")
    if match is None or (match.group(2) and match.group(2).strip("/")):
        return None
    return match.group(1)


def media_key(media: AMedia) -> str:
    """The API v2 media key of an archive media item (``3_<id>`` photo, ``7_`` video, ``16_`` GIF)."""
    return f"{_MEDIA_KEY_PREFIX.get(media.type, '3')}_{media.id_str}"


def _span(indices: list[int]) -> tuple[int, int]:
    return (indices[0], indices[1]) if len(indices) >= 2 else (0, 0)


def note_key(created_at: str) -> str:
    """The second a tweet or note was created, as the key that pairs a long tweet with its note."""
    return rfc3339(created_at)[:19]


def _plain(text: str) -> str:
    text = re.sub(r"\s*https://t\.co/\S+\s*$", "", text).rstrip("…").rstrip()
    return " ".join(text.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").split())


def note_matches(tweet: ArchiveTweet, note: Note) -> bool:
    """Whether a note is the full text of this (truncated) tweet: same second, and the tweet's text
    (without its trailing link and ellipsis) begins the note's."""
    head = _plain(tweet.full_text)
    return note_key(tweet.created_at) == note_key(note.createdAt) and _plain(note.core.text).startswith(head)


@dataclass(frozen=True, slots=True)
class MediaItem:
    """Media ``n`` of a tweet: its key and the archive file names that may hold it, best first."""

    n: int
    key: str
    candidates: tuple[str, ...]


@dataclass(slots=True)
class Converted:
    """An archive tweet as a cache document, the media files to copy for it, and its references."""

    document: dict[str, Any]
    media: list[MediaItem] = field(default_factory=list)
    references: list[str] = field(default_factory=list)


def _media_candidates(tweet_id: str, media: AMedia) -> tuple[str, ...]:
    names: list[str] = []
    urls = [v.url for v in sorted((media.video_info.variants if media.video_info else []), key=_rate)]
    for url in [*reversed(urls), media.media_url_https]:
        base = url.split("?", 1)[0].rsplit("/", 1)[-1]
        if base and f"{tweet_id}-{base}" not in names:
            names.append(f"{tweet_id}-{base}")
    return tuple(names)


def _rate(variant: AVariant) -> int:
    return (variant.bitrate or 0) if variant.content_type == "video/mp4" else -1


def _media_object(media: AMedia) -> dict[str, Any]:
    out: dict[str, Any] = {"media_key": media_key(media), "type": media.type}
    size = media.sizes.large if media.sizes else None
    if size is not None and size.w and size.h:
        out["width"], out["height"] = size.w, size.h
    if media.type == "photo":
        out["url"] = media.media_url_https
    else:
        out["preview_image_url"] = media.media_url_https
        info = media.video_info or AVideoInfo()
        out["variants"] = [
            {"content_type": v.content_type, "url": v.url, **({"bit_rate": v.bitrate} if v.bitrate else {})}
            for v in info.variants
        ]
        if info.duration_millis:
            out["duration_ms"] = info.duration_millis
    if media.ext_alt_text:
        out["alt_text"] = media.ext_alt_text
    return out


def account_user(account: Account, profile: Profile | None = None) -> dict[str, Any]:
    """The account as an API v2 user object (never the archive's e-mail or other private fields)."""
    user: dict[str, Any] = {"id": account.accountId, "username": account.username}
    user["name"] = account.accountDisplayName or account.username
    if account.createdAt:
        user["created_at"] = rfc3339(account.createdAt) if " " in account.createdAt else account.createdAt
    desc = profile.description if profile is not None else None
    if desc is not None:
        if desc.bio is not None:
            user["description"] = desc.bio
        if desc.location:
            user["location"] = desc.location
        if desc.website:
            user["url"] = desc.website
    if profile is not None and profile.avatarMediaUrl:
        user["profile_image_url"] = profile.avatarMediaUrl
    return user


def _note_entities(core: NoteCore) -> dict[str, Any]:
    return {
        "urls": [
            {"start": u.fromIndex, "end": u.toIndex, "url": u.shortUrl, "expanded_url": u.expandedUrl}
            | ({"display_url": u.displayUrl} if u.displayUrl else {})
            for u in core.urls
        ],
        "mentions": [
            {"start": m.fromIndex, "end": m.toIndex, "username": m.screenName} for m in core.mentions
        ],
        "hashtags": [{"start": h.fromIndex, "end": h.toIndex, "tag": h.text} for h in core.hashtags],
        "cashtags": [{"start": h.fromIndex, "end": h.toIndex, "tag": h.text} for h in core.cashtags],
    }


def convert_tweet(
    tweet: ArchiveTweet, user: dict[str, Any], fetched_at: str, note: Note | None = None
) -> Converted:
    """An archive tweet (not a retweet) as a cache document of the API v2 shape (docs/CACHE.md).

    ``user`` is the account (:func:`account_user`); ``note`` its long text from ``note-tweet.js``.
    Positions stay the archive's (v1.1 ``indices`` become v2 ``start``/``end``); URLs keep their
    ``expanded_url``; media get API v2 media keys; a reply and a quote of an X status URL become
    ``referenced_tweets``. The referenced tweets themselves are added later (:func:`link_reference`).
    """
    tid = tweet.id_str
    media_list = (tweet.extended_entities.media if tweet.extended_entities else None) or tweet.entities.media
    ents = tweet.entities
    urls: list[dict[str, Any]] = []
    for u in ents.urls:
        start, end = _span(u.indices)
        entity: dict[str, Any] = {
            "start": start,
            "end": end,
            "url": u.url,
            "expanded_url": u.expanded_url or u.url,
        }
        if u.display_url:
            entity["display_url"] = u.display_url
        urls.append(entity)
    media_urls: set[str] = set()
    for m in media_list:
        if m.url and m.url not in media_urls:
            media_urls.add(m.url)
            start, end = _span(m.indices)
            urls.append(
                {
                    "start": start,
                    "end": end,
                    "url": m.url,
                    "expanded_url": m.expanded_url or m.url,
                    "display_url": m.display_url or m.url,
                    "media_key": media_key(m),
                }
            )
    urls.sort(key=lambda e: (e["start"], e["end"]))
    mentions = [
        {"start": s, "end": e, "username": m.screen_name}
        | ({"id": m.id_str} if (m.id_str or "").isdigit() else {})
        for m in ents.user_mentions
        for s, e in [_span(m.indices)]
    ]
    hashtags = [{"start": s, "end": e, "tag": h.text} for h in ents.hashtags for s, e in [_span(h.indices)]]
    cashtags = [{"start": s, "end": e, "tag": h.text} for h in ents.symbols for s, e in [_span(h.indices)]]
    entities: dict[str, Any] = {}
    for key, value in (
        ("urls", urls),
        ("mentions", mentions),
        ("hashtags", hashtags),
        ("cashtags", cashtags),
    ):
        if value:
            entities[key] = value

    data: dict[str, Any] = {
        "id": tid,
        "text": tweet.full_text,
        "created_at": rfc3339(tweet.created_at),
        "author_id": user["id"],
    }
    if entities:
        data["entities"] = entities
    references: list[dict[str, str]] = []
    parent = tweet.in_reply_to_status_id_str
    if parent and parent.isdigit():
        references.append({"type": "replied_to", "id": parent})
    if tweet.in_reply_to_user_id_str and tweet.in_reply_to_user_id_str.isdigit():
        data["in_reply_to_user_id"] = tweet.in_reply_to_user_id_str
    quoted = next(
        (q for u in urls if "media_key" not in u and (q := status_id(u["expanded_url"])) and q != tid), None
    )
    if quoted is not None:
        references.append({"type": "quoted", "id": quoted})
    if references:
        data["referenced_tweets"] = references
    keys = list(dict.fromkeys(media_key(m) for m in media_list))
    if keys:
        data["attachments"] = {"media_keys": keys}
    if tweet.display_text_range is not None:
        data["display_text_range"] = tweet.display_text_range
    if tweet.lang:
        data["lang"] = tweet.lang
    if tweet.possibly_sensitive is not None:
        data["possibly_sensitive"] = tweet.possibly_sensitive
    if note is not None and note.core.text:
        data["note_tweet"] = {"text": note.core.text, "entities": _note_entities(note.core)}

    users = [user]
    for mention in mentions:
        uid = mention.get("id")
        if uid and uid != user["id"] and all(u["id"] != uid for u in users):
            users.append({"id": uid, "username": mention["username"]})
    seen_media: dict[str, AMedia] = {}
    for m in media_list:
        seen_media.setdefault(media_key(m), m)
    document = {
        "data": data,
        "includes": {"users": users, "media": [_media_object(m) for m in seen_media.values()]},
        "nostrweet": {"format": DOCUMENT_FORMAT, "fetched_at": fetched_at, "source": SOURCE},
    }
    items = [MediaItem(n, k, _media_candidates(tid, seen_media[k])) for n, k in enumerate(keys)]
    return Converted(document, items, [r["id"] for r in references])


def drop_media(document: dict[str, Any], keys: set[str]) -> dict[str, Any]:
    """The document without these media (missing from the archive): keys, objects and their URL entities."""
    if not keys:
        return document
    data = document["data"]
    left = [k for k in data.get("attachments", {}).get("media_keys", []) if k not in keys]
    if left:
        data["attachments"] = {"media_keys": left}
    else:
        data.pop("attachments", None)
    document["includes"]["media"] = [m for m in document["includes"]["media"] if m["media_key"] not in keys]
    for url in data.get("entities", {}).get("urls", []):
        if url.get("media_key") in keys:
            del url["media_key"]  # the link stays: to the photo's page on X
    return document


def link_reference(child: dict[str, Any], parent: dict[str, Any]) -> bool:
    """Add a referenced tweet's document (its ``data``, media and author) to a child document's
    includes, as enrichment does for a fetched tweet. False if it is there already."""
    tweets: list[dict[str, Any]] = child["includes"].setdefault("tweets", [])
    pid = str(parent["data"]["id"])
    if any(str(t.get("id")) == pid for t in tweets):
        return False
    tweets.append(parent["data"])
    includes = parent.get("includes", {})
    author = str(parent["data"].get("author_id"))
    users: list[dict[str, Any]] = child["includes"].setdefault("users", [])
    for user in includes.get("users", []):
        if str(user.get("id")) == author and all(str(u.get("id")) != author for u in users):
            users.append(user)
    media: list[dict[str, Any]] = child["includes"].setdefault("media", [])
    wanted = (parent["data"].get("attachments") or {}).get("media_keys") or []
    have = {m.get("media_key") for m in media}
    media.extend(
        m
        for m in includes.get("media", [])
        if m.get("media_key") in wanted and m.get("media_key") not in have
    )
    return True
