"""Build X archives in the documented format (SPEC §12), zipped or unpacked, for the import tests.

The entries follow the archive X gives an account owner: ``window.YTD.<name>.part0 = [...]`` parts,
v1.1-like tweets with every number as a string, media as ``data/tweets_media/<tweetid>-<filename>``.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ACCOUNT_ID = "1500000000000000001"
USERNAME = "ArchiveOwner"
OTHER_ID = "783214"
OTHER = "XDevelopers"

# A real tiny JPEG would do as well: the import copies bytes, it never decodes them.
PHOTO_BYTES = b"\xff\xd8\xff\xe0" + b"archive photo bytes" * 10 + b"\xff\xd9"
VIDEO_BYTES = b"\x00\x00\x00\x18ftypmp42" + b"archive video bytes" * 20


def created(day: int, second: int = 0) -> str:
    """A v1.1 ``created_at`` in February 2026."""
    return f"Fri Feb {day:02d} 09:10:{second:02d} +0000 2026"


def tweet(
    tweet_id: str,
    text: str,
    *,
    day: int = 20,
    second: int = 0,
    urls: list[dict[str, Any]] | None = None,
    mentions: list[dict[str, Any]] | None = None,
    hashtags: list[dict[str, Any]] | None = None,
    media: list[dict[str, Any]] | None = None,
    reply_to: tuple[str, str, str] | None = None,
    edit_ids: list[str] | None = None,
) -> dict[str, Any]:
    """One archive tweet entry (``{"tweet": {...}}``) with every number as a string."""
    body: dict[str, Any] = {
        "edit_info": {
            "initial": {
                "editTweetIds": edit_ids or [tweet_id],
                "editableUntil": "2026-02-20T10:10:58.000Z",
                "editsRemaining": "5",
                "isEditEligible": True,
            }
        },
        "retweeted": False,
        "source": '<a href="https://mobile.twitter.com" rel="nofollow">Twitter Web App</a>',
        "entities": {
            "hashtags": hashtags or [],
            "symbols": [],
            "user_mentions": mentions or [],
            "urls": urls or [],
        },
        "display_text_range": ["0", str(len(text))],
        "favorite_count": "3",
        "id_str": tweet_id,
        "truncated": False,
        "retweet_count": "1",
        "id": tweet_id,
        "created_at": created(day, second),
        "favorited": False,
        "full_text": text,
        "lang": "en",
    }
    if media:
        body["entities"]["media"] = [
            dict(m, video_info=None) if m.get("type") == "photo" else m for m in media
        ]
        body["extended_entities"] = {"media": media}
        body["possibly_sensitive"] = False
    if reply_to is not None:
        status, user_id, screen_name = reply_to
        body["in_reply_to_status_id_str"] = status
        body["in_reply_to_status_id"] = status
        body["in_reply_to_user_id_str"] = user_id
        body["in_reply_to_user_id"] = user_id
        body["in_reply_to_screen_name"] = screen_name
    return {"tweet": body}


def url_entity(short: str, expanded: str, start: int) -> dict[str, Any]:
    return {
        "url": short,
        "expanded_url": expanded,
        "display_url": expanded.split("://", 1)[1][:26],
        "indices": [str(start), str(start + len(short))],
    }


def mention(screen_name: str, user_id: str, start: int) -> dict[str, Any]:
    return {
        "name": screen_name,
        "screen_name": screen_name,
        "indices": [str(start), str(start + 1 + len(screen_name))],
        "id_str": user_id,
        "id": user_id,
    }


def photo(tweet_id: str, media_id: str, short: str, start: int, filename: str) -> dict[str, Any]:
    return {
        "expanded_url": f"https://x.com/{USERNAME}/status/{tweet_id}/photo/1",
        "indices": [str(start), str(start + len(short))],
        "url": short,
        "media_url": f"http://pbs.twimg.com/media/{filename}",
        "id_str": media_id,
        "id": media_id,
        "media_url_https": f"https://pbs.twimg.com/media/{filename}",
        "sizes": {"large": {"w": "1200", "h": "800", "resize": "fit"}},
        "type": "photo",
        "display_url": "pic.x.com/abcdef",
    }


def video(tweet_id: str, media_id: str, short: str, start: int, name: str) -> dict[str, Any]:
    return {
        "expanded_url": f"https://x.com/{USERNAME}/status/{tweet_id}/video/1",
        "indices": [str(start), str(start + len(short))],
        "url": short,
        "media_url_https": f"https://pbs.twimg.com/ext_tw_video_thumb/{media_id}/pu/img/thumb.jpg",
        "id_str": media_id,
        "id": media_id,
        "video_info": {
            "aspect_ratio": ["16", "9"],
            "duration_millis": "5005",
            "variants": [
                {
                    "bitrate": "832000",
                    "content_type": "video/mp4",
                    "url": f"https://video.twimg.com/ext_tw_video/{media_id}/pu/vid/640x360/{name}.mp4?tag=12",
                },
                {
                    "content_type": "application/x-mpegURL",
                    "url": f"https://video.twimg.com/ext_tw_video/{media_id}/pu/pl/{name}.m3u8?tag=12",
                },
            ],
        },
        "sizes": {"large": {"w": "1280", "h": "720", "resize": "fit"}},
        "type": "video",
        "display_url": "pic.x.com/ghijkl",
    }


@dataclass
class Archive:
    """The files of an archive by path inside it (``data/...``), bytes or part entries."""

    parts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)

    def part(self, name: str, ytd: str, entries: list[dict[str, Any]]) -> None:
        self.parts[name] = entries
        self.files[name] = f"window.YTD.{ytd} = ".encode() + json.dumps(entries, indent=2).encode()

    def items(self) -> Iterator[tuple[str, bytes]]:
        yield from self.files.items()

    def write_folder(self, root: Path) -> Path:
        for name, data in self.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data)
        return root

    def write_zip(self, path: Path, top: str = "") -> Path:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in self.items():
                z.writestr(top + name, data)
        return path


def account_entries() -> list[dict[str, Any]]:
    return [
        {
            "account": {
                "email": "owner@example.com",
                "createdVia": "web",
                "username": USERNAME,
                "accountId": ACCOUNT_ID,
                "createdAt": "2022-03-01T12:00:00.000Z",
                "accountDisplayName": "Archive Owner",
            }
        }
    ]


def profile_entries() -> list[dict[str, Any]]:
    return [
        {
            "profile": {
                "description": {
                    "bio": "I moved to Nostr.",
                    "website": "https://t.co/site",
                    "location": "Earth",
                },
                "avatarMediaUrl": "https://pbs.twimg.com/profile_images/1/avatar.jpg",
            }
        }
    ]


# The ids of the standard archive, oldest first.
ROOT = "1760000000000000001"  # a plain tweet with a hashtag and a link
REPLY = "1760000000000000002"  # a reply to ROOT (self-thread)
QUOTE = "1760000000000000003"  # quotes ROOT
RETWEET = "1760000000000000004"  # RT @XDevelopers: … (no original in the archive)
LONG = "1760000000000000005"  # a long (note) tweet
PHOTO = "1760000000000000006"  # a photo
VIDEO = "1760000000000000007"  # a video
REPLY_OTHER = "1760000000000000008"  # a reply to someone else's tweet, mentioning them
MISSING = "1760000000000000009"  # a photo whose file is not in the archive
NOTE_TEXT = "This is a long tweet. " * 20 + "The end of it."


def standard_archive(*, older_names: bool = False) -> Archive:
    """The archive the tests use: replies, a quote, a retweet, a long tweet, a photo and a video, in two
    parts (``tweets.js`` and ``tweets-part1.js``; with ``older_names`` ``tweet.js``/``tweet_media``)."""
    base = "tweet" if older_names else "tweets"
    media_dir = "tweet_media" if older_names else "tweets_media"
    arc = Archive()
    arc.part("data/account.js", "account.part0", account_entries())
    arc.part("data/profile.js", "profile.part0", profile_entries())
    root_text = "Hello Nostr &amp; friends #nostr https://t.co/aaaa"
    quote_text = "Quoting myself https://t.co/qqqq"
    long_head = NOTE_TEXT[:250] + "… https://t.co/nnnn"
    photo_text = "A photo https://t.co/pppp"
    video_text = "A video https://t.co/vvvv"
    reply_other_text = "@XDevelopers thanks for the API"
    missing_text = "Lost photo https://t.co/mmmm"
    part0 = [
        tweet(
            VIDEO,
            video_text,
            day=26,
            media=[video(VIDEO, "1760000000000000107", "https://t.co/vvvv", 8, "clip")],
        ),
        tweet(
            PHOTO,
            photo_text,
            day=25,
            media=[photo(PHOTO, "1760000000000000106", "https://t.co/pppp", 8, "GhPhoto1.jpg")],
        ),
        tweet(
            LONG,
            long_head,
            day=24,
            second=7,
            urls=[url_entity("https://t.co/nnnn", f"https://x.com/i/web/status/{LONG}", 252)],
        ),
        tweet(
            RETWEET,
            "RT @XDevelopers: The new API is here and it has many endpoints that you will…",
            day=23,
            mentions=[mention(OTHER, OTHER_ID, 3)],
        ),
        tweet(
            MISSING,
            missing_text,
            day=27,
            media=[photo(MISSING, "1760000000000000109", "https://t.co/mmmm", 11, "NotThere.jpg")],
        ),
    ]
    part1 = [
        tweet(
            QUOTE,
            quote_text,
            day=22,
            urls=[url_entity("https://t.co/qqqq", f"https://twitter.com/{USERNAME}/status/{ROOT}", 15)],
        ),
        tweet(REPLY, "And a reply to myself", day=21, reply_to=(ROOT, ACCOUNT_ID, USERNAME)),
        tweet(
            REPLY_OTHER,
            reply_other_text,
            day=21,
            second=30,
            mentions=[mention(OTHER, OTHER_ID, 0)],
            reply_to=("1759999999999999999", OTHER_ID, OTHER),
        ),
        tweet(
            ROOT,
            root_text,
            day=20,
            hashtags=[{"text": "nostr", "indices": ["26", "32"]}],
            urls=[url_entity("https://t.co/aaaa", "https://example.com/hello", 33)],
        ),
    ]
    arc.part(f"data/{base}.js", f"{base}.part0", part0)
    arc.part(f"data/{base}-part1.js", f"{base}.part1", part1)
    notes = [
        {
            "noteTweet": {
                "noteTweetId": "1760000000000009999",
                "updatedAt": "2026-02-24T09:10:07.000Z",
                "lifecycle": {"value": "", "name": "", "originalName": "", "annotations": {}},
                "createdAt": "2026-02-24T09:10:07.000Z",
                "core": {
                    "styletags": [],
                    "urls": [],
                    "text": NOTE_TEXT,
                    "mentions": [],
                    "cashtags": [],
                    "hashtags": [],
                },
            }
        }
    ]
    arc.part("data/note-tweet.js", "noteTweet.part0", notes)
    arc.part("data/deleted-tweets.js", "deleted_tweets.part0", [tweet("1760000000000000050", "deleted one")])
    arc.files[f"data/{media_dir}/{PHOTO}-GhPhoto1.jpg"] = PHOTO_BYTES
    arc.files[f"data/{media_dir}/{VIDEO}-clip.mp4"] = VIDEO_BYTES
    return arc


def generated_archive(path: Path, count: int, per_part: int = 50_000) -> Path:
    """A zip of ``count`` plain tweets (with a link and a hashtag each) in parts of ``per_part``,
    written part by part so that the generator's own memory stays small."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("data/account.js", "window.YTD.account.part0 = " + json.dumps(account_entries()))
        first = 1_600_000_000_000_000_000
        for p, start in enumerate(range(0, count, per_part)):
            name = "data/tweets.js" if p == 0 else f"data/tweets-part{p}.js"
            with z.open(name, "w") as out:
                out.write(f"window.YTD.tweets.part{p} = [".encode())
                for i in range(start, min(count, start + per_part)):
                    text = f"Tweet number {i} #gen https://t.co/g{i:07d}"
                    entry = tweet(
                        str(first + i),
                        text,
                        day=1 + i % 27,
                        second=i % 60,
                        urls=[
                            url_entity(f"https://t.co/g{i:07d}", f"https://example.com/{i}", len(text) - 25)
                        ],
                        hashtags=[{"text": "gen", "indices": [str(len(text) - 30), str(len(text) - 26)]}],
                    )
                    out.write((b"," if i > start else b"") + json.dumps(entry).encode())
                out.write(b"]")
    return path
