"""PURE: the X archive's files as typed values: strip a part's ``window.YTD.<name>.partN =`` prefix (never
evaluate it) and decode the JSON after it with msgspec into structs that keep only what the import reads.

Numbers in the archive are strings; decoding with ``strict=False`` turns them into ints where a struct
says so. Field names are the archive's own (camelCase in ``account.js``, ``profile.js``, ``note-tweet.js``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from types import GenericAlias
from typing import Any

import msgspec

from nostrweet.archive.xarchive.stream import iter_array_objects
from nostrweet.errors import InputError

_PREFIX_RE = re.compile(rb"\A\s*window\.YTD\.[A-Za-z0-9_]+\.part[0-9]+\s*=\s*")


class _A(msgspec.Struct, kw_only=True, forbid_unknown_fields=False):
    pass


class AUrl(_A):
    url: str = ""
    expanded_url: str | None = None
    display_url: str | None = None
    indices: list[int] = []


class AMention(_A):
    screen_name: str = ""
    name: str = ""
    id_str: str | None = None
    indices: list[int] = []


class AHashtag(_A):
    text: str = ""
    indices: list[int] = []


class AVariant(_A):
    content_type: str = ""
    url: str = ""
    bitrate: int | None = None


class AVideoInfo(_A):
    variants: list[AVariant] = []
    duration_millis: int | None = None


class ASize(_A):
    w: int | None = None
    h: int | None = None


class ASizes(_A):
    large: ASize | None = None


class AMedia(_A):
    id_str: str = ""
    type: str = "photo"
    media_url_https: str = ""
    url: str = ""
    expanded_url: str | None = None
    display_url: str | None = None
    indices: list[int] = []
    sizes: ASizes | None = None
    video_info: AVideoInfo | None = None
    ext_alt_text: str | None = None


class AEntities(_A):
    urls: list[AUrl] = []
    user_mentions: list[AMention] = []
    hashtags: list[AHashtag] = []
    symbols: list[AHashtag] = []
    media: list[AMedia] = []


class AExtended(_A):
    media: list[AMedia] = []


class AEditIds(_A):
    editTweetIds: list[str] = []


class AEditInfo(_A):
    initial: AEditIds | None = None
    edit: AEditIds | None = None


class ArchiveTweet(_A):
    """One tweet of ``tweets.js`` (only the fields the import reads; the rest is ignored)."""

    id_str: str
    full_text: str = ""
    created_at: str = ""
    entities: AEntities = msgspec.field(default_factory=AEntities)
    extended_entities: AExtended | None = None
    in_reply_to_status_id_str: str | None = None
    in_reply_to_user_id_str: str | None = None
    in_reply_to_screen_name: str | None = None
    display_text_range: list[int] | None = None
    lang: str | None = None
    possibly_sensitive: bool | None = None
    edit_info: AEditInfo | None = None


class _TweetEntry(_A):
    tweet: ArchiveTweet


class Account(_A):
    accountId: str
    username: str
    accountDisplayName: str = ""
    createdAt: str | None = None


class _AccountEntry(_A):
    account: Account


class ProfileDescription(_A):
    bio: str | None = None
    website: str | None = None
    location: str | None = None


class Profile(_A):
    description: ProfileDescription | None = None
    avatarMediaUrl: str | None = None


class _ProfileEntry(_A):
    profile: Profile


class NoteUrl(_A):
    shortUrl: str = ""
    expandedUrl: str | None = None
    displayUrl: str | None = None
    fromIndex: int = 0
    toIndex: int = 0


class NoteMention(_A):
    screenName: str = ""
    fromIndex: int = 0
    toIndex: int = 0


class NoteTag(_A):
    text: str = ""
    fromIndex: int = 0
    toIndex: int = 0


class NoteCore(_A):
    text: str = ""
    urls: list[NoteUrl] = []
    mentions: list[NoteMention] = []
    hashtags: list[NoteTag] = []
    cashtags: list[NoteTag] = []


class Note(_A):
    """One long tweet of ``note-tweet.js``: its full text, matched to its tweet by time and text."""

    noteTweetId: str = ""
    createdAt: str = ""
    core: NoteCore = msgspec.field(default_factory=NoteCore)


class _NoteEntry(_A):
    noteTweet: Note


def strip_prefix(data: bytes, name: str) -> bytes:
    """The JSON after a part's ``window.YTD.<name>.partN =`` prefix; InputError naming the file if absent."""
    match = _PREFIX_RE.match(data)
    if match is None:
        raise InputError(f"bad archive part {name}: no 'window.YTD.<name>.partN = ' prefix")
    return data[match.end() :]


def _decode(data: bytes, name: str, entry: type[Any]) -> list[Any]:
    body = strip_prefix(data, name)
    try:
        decoded: list[Any] = msgspec.json.decode(body, type=GenericAlias(list, (entry,)), strict=False)
    except msgspec.DecodeError as exc:
        raise InputError(f"bad archive part {name}: not JSON after its prefix ({exc})") from None
    return decoded


def decode_tweets(data: bytes, name: str) -> list[ArchiveTweet]:
    """The tweets of one ``tweets.js`` part (``[{"tweet": {...}}, ...]``)."""
    return [e.tweet for e in _decode(data, name, _TweetEntry)]


def decode_account(data: bytes, name: str) -> Account:
    """The account of ``account.js``."""
    entries = _decode(data, name, _AccountEntry)
    if not entries:
        raise InputError(f"bad archive part {name}: no account in it")
    account: Account = entries[0].account
    return account


def decode_profile(data: bytes, name: str) -> Profile | None:
    """The profile of ``profile.js`` (None if it is empty)."""
    entries = _decode(data, name, _ProfileEntry)
    return entries[0].profile if entries else None


def decode_notes(data: bytes, name: str) -> list[Note]:
    """The long tweets of ``note-tweet.js``."""
    return [e.noteTweet for e in _decode(data, name, _NoteEntry)]


def iter_tweets(chunks: Iterable[bytes], name: str) -> Iterator[ArchiveTweet]:
    """The tweets of one ``tweets.js`` part read chunk by chunk (:func:`iter_array_objects`): memory
    holds one chunk and one tweet, whatever the part's size. InputError naming the file when the part
    has no prefix or is not JSON after it; the tweets before the bad place have been yielded."""
    source = iter(chunks)
    head = b""
    for chunk in source:  # the prefix is a few dozen bytes at the start
        head += chunk
        if len(head) >= 256:
            break
    body = strip_prefix(head, name)
    try:
        for raw in iter_array_objects(_chain(body, source)):
            yield msgspec.convert(raw, _TweetEntry, strict=False).tweet
    except (ValueError, msgspec.ValidationError) as exc:
        raise InputError(f"bad archive part {name}: not JSON after its prefix ({exc})") from None


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest
