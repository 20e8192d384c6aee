"""SYNTHETIC objects of the fake X world, for what no recorded fixture covers.

Modelled on the OpenAPI 2.166 schemas (Tweet, NoteTweet, Media/Video/AnimatedGif/Photo). Their ids sit far
above every recorded id, so they never collide and sort newest.
"""

from __future__ import annotations

from typing import Any

Raw = dict[str, Any]

PHILLY_USER_ID = "2351222345"
PHILLY_USERNAME = "PhillyNEFL"

# synthetic: no fixture covers note_tweet, a gif with variants, or a PNG photo; ids live far above
# every recorded id so they never collide and sort newest.
SYNTHETIC_USER_ID = "1690000000000000001"
SYNTHETIC_USERNAME = "nostrweet_synth"
SYNTHETIC_NOTE_TWEET_ID = "1700000000000000001"
SYNTHETIC_VIDEO_TWEET_ID = "1700000000000000002"
SYNTHETIC_GIF_TWEET_ID = "1700000000000000003"
SYNTHETIC_PHOTO_TWEET_ID = "1700000000000000004"
SYNTHETIC_VIDEO_MEDIA_KEY = "7_1700000000000000010"
SYNTHETIC_GIF_MEDIA_KEY = "16_1700000000000000011"
SYNTHETIC_PHOTO_MEDIA_KEY = "3_1700000000000000012"


def _text_entity(text: str, needle: str, **extra: Any) -> Raw:
    start = text.index(needle)
    return {"start": start, "end": start + len(needle), **extra}


def add_synthetic(users: dict[str, Raw], tweets: dict[str, Raw], media: dict[str, Raw]) -> None:
    """SYNTHETIC objects, modelled on the OpenAPI 2.166 schemas (Tweet, Media, Video, AnimatedGif)."""
    # synthetic: no fixture covers a user whose timeline holds note_tweet / gif-variant / PNG tweets
    users[SYNTHETIC_USER_ID] = {
        "id": SYNTHETIC_USER_ID,
        "username": SYNTHETIC_USERNAME,
        "name": "Synthetic Test Account",
        "created_at": "2023-07-01T00:00:00.000Z",
        "description": "Synthetic account of the nostrweet fake X API (not a real user).",
        "profile_image_url": "https://pbs.twimg.com/profile_images/1690000000000000001/synth_normal.png",
        "protected": False,
        "verified": False,
        "public_metrics": {"followers_count": 1, "following_count": 0, "tweet_count": 4, "listed_count": 0},
    }
    base = {
        "author_id": SYNTHETIC_USER_ID,
        "lang": "en",
        "reply_settings": "everyone",
        "possibly_sensitive": False,
    }

    # synthetic: no fixture covers note_tweet (long text with its own entities)
    long_text = (
        "This is a synthetic long post for the nostrweet tests. It mentions @PhillyNEFL, links "
        "https://t.co/synthNote1 and carries the tag #nostrweet. "
        + "It keeps going so that the text is longer than 280 characters. " * 4
        + "The end."
    )
    short = long_text[:270] + "…"
    tweets[SYNTHETIC_NOTE_TWEET_ID] = {
        **base,
        "id": SYNTHETIC_NOTE_TWEET_ID,
        "text": short,
        "created_at": "2023-09-01T10:00:00.000Z",
        "conversation_id": SYNTHETIC_NOTE_TWEET_ID,
        "edit_history_tweet_ids": [SYNTHETIC_NOTE_TWEET_ID],
        "entities": {
            "mentions": [_text_entity(short, "@PhillyNEFL", username=PHILLY_USERNAME, id=PHILLY_USER_ID)],
        },
        "note_tweet": {
            "text": long_text,
            "entities": {
                "mentions": [
                    _text_entity(long_text, "@PhillyNEFL", username=PHILLY_USERNAME, id=PHILLY_USER_ID)
                ],
                "urls": [
                    _text_entity(
                        long_text,
                        "https://t.co/synthNote1",
                        url="https://t.co/synthNote1",
                        expanded_url="https://example.com/nostrweet/long-post",
                        display_url="example.com/nostrweet/long…",
                    )
                ],
                "hashtags": [_text_entity(long_text, "#nostrweet", tag="nostrweet")],
            },
        },
        "public_metrics": {"retweet_count": 0, "reply_count": 0, "like_count": 1, "quote_count": 0},
    }

    def media_tweet(tweet_id: str, key: str, kind: str, created: str, label: str) -> Raw:
        link = f"https://t.co/synth{kind.capitalize()}1"
        text = f"Synthetic {label} tweet {link}"
        return {
            **base,
            "id": tweet_id,
            "text": text,
            "created_at": created,
            "conversation_id": tweet_id,
            "edit_history_tweet_ids": [tweet_id],
            "attachments": {"media_keys": [key]},
            "entities": {
                "urls": [
                    _text_entity(
                        text,
                        link,
                        url=link,
                        expanded_url=f"https://twitter.com/{SYNTHETIC_USERNAME}/status/{tweet_id}/{kind}/1",
                        display_url=f"pic.twitter.com/synth{kind}1",
                        media_key=key,
                    )
                ]
            },
            "public_metrics": {"retweet_count": 0, "reply_count": 0, "like_count": 0, "quote_count": 0},
        }

    # synthetic: no fixture covers a video with an m3u8 variant plus several mp4 bit rates in our own world
    tweets[SYNTHETIC_VIDEO_TWEET_ID] = media_tweet(
        SYNTHETIC_VIDEO_TWEET_ID, SYNTHETIC_VIDEO_MEDIA_KEY, "video", "2023-09-02T10:00:00.000Z", "video"
    )
    vid = "https://video.twimg.com/ext_tw_video/1700000000000000010/pu"
    media[SYNTHETIC_VIDEO_MEDIA_KEY] = {
        "media_key": SYNTHETIC_VIDEO_MEDIA_KEY,
        "type": "video",
        "duration_ms": 12345,
        "width": 1280,
        "height": 720,
        "preview_image_url": "https://pbs.twimg.com/ext_tw_video_thumb/1700000000000000010/pu/img/synthThumb.jpg",
        "public_metrics": {"view_count": 42},
        "variants": [
            {
                "bit_rate": 256000,
                "content_type": "video/mp4",
                "url": f"{vid}/vid/480x270/synthLow.mp4?tag=12",
            },
            {"content_type": "application/x-mpegURL", "url": f"{vid}/pl/synthPlaylist.m3u8?tag=12"},
            {
                "bit_rate": 2176000,
                "content_type": "video/mp4",
                "url": f"{vid}/vid/1280x720/synthHigh.mp4?tag=12",
            },
            {
                "bit_rate": 832000,
                "content_type": "video/mp4",
                "url": f"{vid}/vid/640x360/synthMid.mp4?tag=12",
            },
        ],
    }
    # synthetic: no fixture covers an animated_gif with its variant (recorded gifs lack `variants`)
    tweets[SYNTHETIC_GIF_TWEET_ID] = media_tweet(
        SYNTHETIC_GIF_TWEET_ID, SYNTHETIC_GIF_MEDIA_KEY, "photo", "2023-09-03T10:00:00.000Z", "gif"
    )
    media[SYNTHETIC_GIF_MEDIA_KEY] = {
        "media_key": SYNTHETIC_GIF_MEDIA_KEY,
        "type": "animated_gif",
        "width": 320,
        "height": 240,
        "preview_image_url": "https://pbs.twimg.com/tweet_video_thumb/SynthGif.jpg",
        "variants": [
            {
                "bit_rate": 0,
                "content_type": "video/mp4",
                "url": "https://video.twimg.com/tweet_video/SynthGif.mp4",
            }
        ],
    }
    # synthetic: no fixture covers a PNG photo; this one also carries alt_text
    tweets[SYNTHETIC_PHOTO_TWEET_ID] = media_tweet(
        SYNTHETIC_PHOTO_TWEET_ID, SYNTHETIC_PHOTO_MEDIA_KEY, "photo", "2023-09-04T10:00:00.000Z", "photo"
    )
    media[SYNTHETIC_PHOTO_MEDIA_KEY] = {
        "media_key": SYNTHETIC_PHOTO_MEDIA_KEY,
        "type": "photo",
        "width": 800,
        "height": 600,
        "url": "https://pbs.twimg.com/media/SynthPhoto.png",
        "alt_text": "A synthetic test picture: a grey square.",
    }
