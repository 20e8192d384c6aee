"""The one media choice (bridge/media.py): what to download, what a note links, which Blossom copy."""

from __future__ import annotations

from urllib.parse import urlsplit

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nostrweet.bridge.media import (
    _LINK_MIME,
    MediaChoice,
    MediaLink,
    best_mp4,
    choose_download,
    choose_link,
    hashed_link,
    link_mime,
    mime_of,
    original_media_link,
    original_photo_url,
    url_extension,
)
from nostrweet.twitter.models import Media, Variant


def media(raw: dict[str, object]) -> Media:
    return msgspec.convert({"media_key": "3_1", **raw}, Media, strict=False)


M3U8 = {"content_type": "application/x-mpegURL", "url": "https://video.twimg.com/a.m3u8"}
LOW = {"content_type": "video/mp4", "bit_rate": 256000, "url": "https://video.twimg.com/low.mp4"}
HIGH = {"content_type": "video/mp4", "bit_rate": 2176000, "url": "https://video.twimg.com/high.mp4?tag=12"}
MID = {"content_type": "video/mp4", "bit_rate": 832000, "url": "https://video.twimg.com/mid.mp4"}
NO_RATE = {"content_type": "video/mp4", "url": "https://video.twimg.com/norate.mp4"}
PREVIEW = "https://pbs.twimg.com/ext_tw_video_thumb/1/pu/img/p.jpg"

# (media object, what is downloaded, the link a note carries without an upload: url, mime, dim)
TABLE: list[tuple[dict[str, object], MediaChoice | None, tuple[str, str | None, tuple[int, int] | None]]] = [
    (
        {"type": "photo", "url": "https://pbs.twimg.com/media/Abc.jpg", "width": 1200, "height": 800},
        MediaChoice("https://pbs.twimg.com/media/Abc.jpg?name=orig", "jpg"),
        ("https://pbs.twimg.com/media/Abc.jpg?name=orig", "image/jpeg", (1200, 800)),
    ),
    (
        {"type": "photo", "url": "https://pbs.twimg.com/media/Abc?format=png&name=small"},
        MediaChoice("https://pbs.twimg.com/media/Abc?format=png&name=orig", "png"),
        ("https://pbs.twimg.com/media/Abc?format=png&name=orig", None, None),
    ),
    (  # another host (the fake API's own origin): downloaded at name=orig, linked as it is
        {"type": "photo", "url": "http://127.0.0.1:8080/media/p.png"},
        MediaChoice("http://127.0.0.1:8080/media/p.png?name=orig", "png"),
        ("http://127.0.0.1:8080/media/p.png", "image/png", None),
    ),
    ({"type": "photo"}, None, ("", None, None)),
    (
        {"type": "video", "variants": [M3U8, LOW, HIGH, MID], "preview_image_url": PREVIEW},
        MediaChoice("https://video.twimg.com/high.mp4?tag=12", "mp4"),
        ("https://video.twimg.com/high.mp4?tag=12", "video/mp4", None),
    ),
    (  # equal bit rates: the first; no bit rate counts as 0
        {"type": "video", "variants": [NO_RATE, {**LOW, "bit_rate": 0}]},
        MediaChoice("https://video.twimg.com/norate.mp4", "mp4"),
        ("https://video.twimg.com/norate.mp4", "video/mp4", None),
    ),
    (
        {
            "type": "animated_gif",
            "variants": [{**LOW, "bit_rate": 0, "url": "https://video.twimg.com/g.mp4"}],
        },
        MediaChoice("https://video.twimg.com/g.mp4", "mp4"),
        ("https://video.twimg.com/g.mp4", "video/mp4", None),
    ),
    (  # only an m3u8: nothing downloaded, the note links the preview image
        {"type": "video", "variants": [M3U8], "preview_image_url": PREVIEW, "width": 640, "height": 360},
        None,
        (PREVIEW, "image/jpeg", (640, 360)),
    ),
    ({"type": "video"}, None, ("", None, None)),
    (
        {"type": "poll-ish", "url": "https://pbs.twimg.com/media/x.gif"},
        None,
        ("https://pbs.twimg.com/media/x.gif", "image/gif", None),
    ),
]


@pytest.mark.parametrize(("raw", "download", "link"), TABLE)
def test_media_table(
    raw: dict[str, object],
    download: MediaChoice | None,
    link: tuple[str, str | None, tuple[int, int] | None],
) -> None:
    item = media(raw)
    assert choose_download(item) == download
    got = original_media_link(item)
    assert (got.url, got.mime, got.dim) == link
    if download is not None and item.type != "photo":
        assert got.url == download.url  # the video a note links is the one that was downloaded


def test_alt_text_and_sizes_on_the_link() -> None:
    got = original_media_link(
        media({"type": "photo", "url": "https://pbs.twimg.com/media/A.jpg", "alt_text": ""})
    )
    assert got.alt is None and got.dim is None
    got = original_media_link(
        media({"type": "photo", "url": "https://pbs.twimg.com/media/A.jpg", "alt_text": "a cat", "width": 0})
    )
    assert got.alt == "a cat" and got.dim is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://pbs.twimg.com/media/A.jpg", "https://pbs.twimg.com/media/A.jpg?name=orig"),
        (
            "https://pbs.twimg.com/media/A?format=jpg&name=small",
            "https://pbs.twimg.com/media/A?format=jpg&name=orig",
        ),
        (
            "https://pbs.twimg.com/media/A?name=large&format=png",
            "https://pbs.twimg.com/media/A?format=png&name=orig",
        ),
        ("https://pbs.twimg.com/media/A.jpg#frag", "https://pbs.twimg.com/media/A.jpg?name=orig"),
    ],
)
def test_original_photo_url(url: str, expected: str) -> None:
    assert original_photo_url(url) == expected


@pytest.mark.parametrize(
    ("url", "ext"),
    [
        ("https://pbs.twimg.com/media/Abc?format=png&name=small", "png"),
        ("https://pbs.twimg.com/media/A.JPEG", "jpg"),
        ("https://pbs.twimg.com/media/A.webp?name=orig", "webp"),
        ("https://video.twimg.com/v.m3u8", "bin"),
        ("https://pbs.twimg.com/media/A", "bin"),
    ],
)
def test_url_extension(url: str, ext: str) -> None:
    assert url_extension(url, "bin") == ext


@pytest.mark.parametrize(
    ("ext", "mime"),
    [
        ("jpg", "image/jpeg"),
        (".PNG", "image/png"),
        ("mov", "video/quicktime"),
        ("webm", "video/webm"),
        ("m4v", "application/octet-stream"),
    ],
)
def test_file_mime(ext: str, mime: str) -> None:
    assert mime_of(ext) == mime


ORIGINAL = MediaLink(
    url="https://pbs.twimg.com/media/A.jpg?name=orig", mime="image/jpeg", dim=(2, 1), alt="x"
)


@pytest.mark.parametrize(
    ("servers", "uploaded", "url", "fallbacks"),
    [
        (
            ["https://b1", "https://b2"],
            {"https://b1": "https://b1/h.jpg", "https://b2": "https://b2/h.jpg"},
            "https://b1/h.jpg",
            ("https://b2/h.jpg", ORIGINAL.url),
        ),
        (
            ["https://b1", "https://b2"],
            {"https://b2": "https://b2/h.jpg"},
            "https://b2/h.jpg",
            (ORIGINAL.url,),
        ),
        (["https://b1"], {"https://elsewhere": "https://elsewhere/h.jpg"}, None, ()),
        ([], {}, None, ()),
    ],
)
def test_blossom_copy_table(
    servers: list[str], uploaded: dict[str, str], url: str | None, fallbacks: tuple[str, ...]
) -> None:
    got = choose_link(servers, uploaded, ORIGINAL, sha256="ab" * 32, mime="image/png")
    if url is None:
        assert got is None
        return
    assert got == MediaLink(
        url=url, mime="image/png", sha256="ab" * 32, dim=(2, 1), alt="x", fallbacks=fallbacks
    )


def test_hashed_link_keeps_the_original() -> None:
    assert hashed_link(ORIGINAL, "cd" * 32) == MediaLink(
        url=ORIGINAL.url, mime="image/jpeg", sha256="cd" * 32, dim=(2, 1), alt="x"
    )


@given(
    st.lists(
        st.tuples(st.sampled_from(["video/mp4", "application/x-mpegURL"]), st.integers(0, 10**7)), max_size=8
    )
)
def test_best_is_a_max_mp4(variants: list[tuple[str, int]]) -> None:
    items = [Variant(content_type=c, bit_rate=b, url=f"https://v/{i}.x") for i, (c, b) in enumerate(variants)]
    best = best_mp4(items)
    mp4 = [v for v in items if v.content_type == "video/mp4"]
    if not mp4:
        assert best is None
    else:
        assert best is not None and best.content_type == "video/mp4"
        assert best.bit_rate == max(v.bit_rate or 0 for v in mp4)
        assert best is next(v for v in mp4 if v.bit_rate == best.bit_rate)  # the first of equals


def _mime_by_urlsplit(url: str) -> str | None:
    path = urlsplit(url).path
    ext = path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    return _LINK_MIME.get(ext)


segments = st.text("abcXYZ019._-", min_size=0, max_size=8)


@given(
    st.sampled_from(["https://", "http://"]),
    st.sampled_from(["pbs.twimg.com", "video.twimg.com", "127.0.0.1:8080", "blossom.example"]),
    st.lists(segments, max_size=3),
    st.sampled_from(["", ".jpg", ".JPG", ".png", ".mp4", ".webp", ".gif", ".jpeg", ".m3u8", "."]),
    st.sampled_from(["", "?name=orig", "?tag=12&x=a.png", "#f.gif", "?a=1#b"]),
)
def test_link_mime_agrees_with_a_urlsplit_reading(
    scheme: str, host: str, path: list[str], ext: str, tail: str
) -> None:
    url = f"{scheme}{host}/{'/'.join(path)}{ext}{tail}"
    assert link_mime(url) == _mime_by_urlsplit(url)
