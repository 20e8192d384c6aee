"""Which media file to download: original-size photos, best-bitrate mp4 (never m3u8)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from nostrweet.archive.media import MediaChoice, choose_download, original_photo_url, url_extension


def test_photo_original_size() -> None:
    media = {"type": "photo", "media_key": "3_1", "url": "https://pbs.twimg.com/media/Abc.jpg"}
    assert choose_download(media) == MediaChoice("https://pbs.twimg.com/media/Abc.jpg?name=orig", "jpg")
    assert original_photo_url("https://pbs.twimg.com/media/Abc?format=png&name=small") == (
        "https://pbs.twimg.com/media/Abc?format=png&name=orig"
    )
    assert url_extension("https://pbs.twimg.com/media/Abc?format=png&name=small", "jpg") == "png"


def test_video_best_mp4_never_m3u8() -> None:
    media = {
        "type": "video",
        "media_key": "7_1",
        "variants": [
            {"content_type": "application/x-mpegURL", "url": "https://video.twimg.com/a.m3u8"},
            {"content_type": "video/mp4", "bit_rate": 256000, "url": "https://video.twimg.com/low.mp4"},
            {
                "content_type": "video/mp4",
                "bit_rate": 2176000,
                "url": "https://video.twimg.com/high.mp4?tag=12",
            },
            {"content_type": "video/mp4", "bit_rate": 832000, "url": "https://video.twimg.com/mid.mp4"},
        ],
    }
    assert choose_download(media) == MediaChoice("https://video.twimg.com/high.mp4?tag=12", "mp4")
    gif = {
        "type": "animated_gif",
        "media_key": "16_1",
        "variants": [{"content_type": "video/mp4", "bit_rate": 0, "url": "https://video.twimg.com/g.mp4"}],
    }
    assert choose_download(gif) == MediaChoice("https://video.twimg.com/g.mp4", "mp4")
    assert choose_download({"type": "video", "variants": [media["variants"][0]]}) is None  # type: ignore[index]
    assert choose_download({"type": "video"}) is None


@given(
    st.lists(
        st.tuples(st.sampled_from(["video/mp4", "application/x-mpegURL"]), st.integers(0, 10**7)), max_size=8
    )
)
def test_choice_is_max_mp4(variants: list[tuple[str, int]]) -> None:
    raw = [{"content_type": c, "bit_rate": b, "url": f"https://v/{i}.x"} for i, (c, b) in enumerate(variants)]
    choice = choose_download({"type": "video", "variants": raw})
    mp4 = [v for v in raw if v["content_type"] == "video/mp4"]
    if not mp4:
        assert choice is None
    else:
        assert choice is not None
        picked = next(v for v in raw if v["url"] == choice.url)
        assert picked["content_type"] == "video/mp4" and picked["bit_rate"] == max(v["bit_rate"] for v in mp4)
