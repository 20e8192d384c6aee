"""Which media URLs may be downloaded, and which Blossom answers are trusted (pure rules, issue 14)."""

from __future__ import annotations

import pytest

from nostrweet.archive.media_fetch import canonical_id
from nostrweet.nostr.blossom import blob_url_ok
from nostrweet.twitter.media_policy import acceptable_content_type, refusal

ROOT = "http://127.0.0.1:8787"
SHA = "a" * 64


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://pbs.twimg.com/media/A.jpg?name=orig", True),
        ("https://video.twimg.com/ext_tw_video/1/pu/vid/1.mp4", True),
        ("https://abs.twimg.com/x.png", True),
        ("https://ton.twimg.com/x.png", True),
        ("https://PBS.twimg.com/media/A.jpg", True),
        ("http://pbs.twimg.com/media/A.jpg", False),  # https only
        ("https://pbs.twimg.com:8443/media/A.jpg", False),
        ("https://evil.twimg.com.example.net/a.jpg", False),
        ("https://twimg.com/a.jpg", False),
        ("https://user@pbs.twimg.com/a.jpg", False),
        ("http://127.0.0.1:8787/media/pbs.twimg.com/A.jpg", True),  # the configured API root's origin
        ("http://127.0.0.1:8788/secret", False),  # another port of the same host
        ("https://127.0.0.1:8787/media/A.jpg", False),  # another scheme
        ("http://localhost:8787/media/A.jpg", False),
        ("ftp://pbs.twimg.com/a.jpg", False),
        ("file:///etc/passwd", False),
        ("gopher://127.0.0.1:8787/", False),
        ("https://pbs.twimg.com:99999/a.jpg", False),
        ("not a url", False),
        ("", False),
    ],
)
def test_media_hosts(url: str, allowed: bool) -> None:
    assert (refusal(url, ROOT) is None) is allowed


def test_default_port_of_the_root() -> None:
    assert refusal("https://api.example.com/media/a.jpg", "https://api.example.com/") is None
    assert refusal("https://api.example.com:443/media/a.jpg", "https://api.example.com") is None


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("image/jpeg", True),
        ("image/png; charset=binary", True),
        ("VIDEO/MP4", True),
        ("application/x-mpegURL", False),
        ("text/html; charset=utf-8", False),
        ("application/octet-stream", False),
        ("image/", False),
        ("", False),
        (None, False),
    ],
)
def test_content_types(value: str | None, ok: bool) -> None:
    assert acceptable_content_type(value) is ok


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        (f"http://127.0.0.1:9000/{SHA}.jpg", True),
        (f"http://127.0.0.1:9000/blobs/{SHA}", True),
        ("https://evil.example.net/tracker.gif", False),
        (f"https://evil.example.net/{SHA}.jpg", False),
        (f"http://127.0.0.1:9001/{SHA}.jpg", False),  # another port
        (f"https://127.0.0.1:9000/{SHA}.jpg", False),  # another scheme
        ("http://127.0.0.1:9000/tracker.gif", False),  # does not name the blob
        (f"http://127.0.0.1:9000/x.gif?h={SHA}", False),  # only in the query
        (f"javascript:alert(1)//{SHA}", False),
        (f"http://127.0.0.1:9000/{SHA}.jpg\nx", False),
    ],
)
def test_blossom_blob_urls(url: str, ok: bool) -> None:
    assert blob_url_ok("http://127.0.0.1:9000", url, SHA) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("1830000000000000099", True),
        ("1", True),
        ("01830000000000000099", False),
        ("0", False),
        ("18300000000000000990", False),
        ("12a", False),
        ("", False),
        (" 12", False),
    ],
)
def test_canonical_tweet_ids(value: str, ok: bool) -> None:
    assert canonical_id(value) is ok
