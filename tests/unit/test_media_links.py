"""Media links of a note: the MIME type from a URL, and a photo's original-size URL."""

from __future__ import annotations

from urllib.parse import urlsplit

from hypothesis import given
from hypothesis import strategies as st

from nostrweet.bridge.events import _MIME_BY_EXT, _mime_of, _orig_photo_url


def _mime_by_urlsplit(url: str) -> str | None:
    path = urlsplit(url).path
    ext = path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    return _MIME_BY_EXT.get(ext)


segments = st.text("abcXYZ019._-", min_size=0, max_size=8)


@given(
    st.sampled_from(["https://", "http://"]),
    st.sampled_from(["pbs.twimg.com", "video.twimg.com", "127.0.0.1:8080", "blossom.example"]),
    st.lists(segments, max_size=3),
    st.sampled_from(["", ".jpg", ".JPG", ".png", ".mp4", ".webp", ".gif", ".jpeg", ".m3u8", "."]),
    st.sampled_from(["", "?name=orig", "?tag=12&x=a.png", "#f.gif", "?a=1#b"]),
)
def test_mime_agrees_with_a_urlsplit_reading(
    scheme: str, host: str, path: list[str], ext: str, tail: str
) -> None:
    url = f"{scheme}{host}/{'/'.join(path)}{ext}{tail}"
    assert _mime_of(url) == _mime_by_urlsplit(url)


def test_original_photo_url() -> None:
    assert (
        _orig_photo_url("https://pbs.twimg.com/media/A.jpg") == "https://pbs.twimg.com/media/A.jpg?name=orig"
    )
    assert (
        _orig_photo_url("https://pbs.twimg.com/media/A?format=jpg&name=small")
        == "https://pbs.twimg.com/media/A?format=jpg&name=orig"
    )
