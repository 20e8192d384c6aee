"""Media optimisation (SPEC §12): resize, re-encode and strip metadata; what goes as it is; bombs."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from nostrweet.shaping.media import MAX_PIXELS, MediaRefused, MediaSettings, optimize
from tests.fakes.images import animated_gif, gps_of, photo_with_gps, png_bomb


def size_of(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def test_a_photo_is_shrunk_and_loses_its_gps_position() -> None:
    original = photo_with_gps()
    assert gps_of(original)  # the fixture carries one
    got = optimize(original, "image/jpeg", MediaSettings(max_dimension=1200, quality=80))
    assert got.changed and got.mime == "image/jpeg"
    assert got.dim == (1200, 800) == size_of(got.data)
    assert len(got.data) < len(original)
    assert gps_of(got.data) == {}
    with Image.open(io.BytesIO(got.data)) as image:
        assert not image.getexif() and "exif" not in image.info


def test_strip_metadata_false_keeps_the_exif() -> None:
    got = optimize(photo_with_gps(800, 600), "image/jpeg", MediaSettings(strip_metadata=False, quality=70))
    assert got.changed and gps_of(got.data)


def test_webp_and_jpeg_formats() -> None:
    png = io.BytesIO()
    Image.new("RGBA", (300, 200), (10, 20, 30, 128)).save(png, format="PNG")
    as_webp = optimize(png.getvalue(), "image/png", MediaSettings(format="webp"))
    assert as_webp.mime == "image/webp" and Image.open(io.BytesIO(as_webp.data)).format == "WEBP"
    as_jpeg = optimize(png.getvalue(), "image/png", MediaSettings(format="jpeg"))
    assert as_jpeg.mime == "image/jpeg" and as_jpeg.dim == (300, 200)
    assert Image.open(io.BytesIO(as_jpeg.data)).mode == "RGB"  # alpha flattened


def test_exif_orientation_is_applied_to_the_pixels() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    out = io.BytesIO()
    Image.effect_noise((400, 200), 30).convert("RGB").save(out, format="JPEG", exif=exif.tobytes())
    got = optimize(out.getvalue(), "image/jpeg", MediaSettings())
    assert got.dim == (200, 400) == size_of(got.data)


@pytest.mark.parametrize(
    ("data", "mime", "note"),
    [
        (animated_gif(), "image/gif", "animated"),
        (b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64, "video/mp4", "not an image"),
        (b"not an image at all", "image/jpeg", "cannot decode: UnidentifiedImageError"),
        (photo_with_gps(64, 64)[:300], "image/jpeg", "cannot decode: OSError"),
    ],
)
def test_what_goes_as_it_is(data: bytes, mime: str, note: str) -> None:
    got = optimize(data, mime, MediaSettings(max_dimension=16, format="webp"))
    assert not got.changed and got.data == data and got.mime == mime and got.note == note


def test_a_small_plain_image_is_not_made_larger() -> None:
    out = io.BytesIO()
    Image.new("L", (8, 8), 0).save(out, format="PNG", optimize=True)
    got = optimize(out.getvalue(), "image/png", MediaSettings(max_dimension=100))
    assert got.data == out.getvalue() or len(got.data) < len(out.getvalue())


def test_a_decompression_bomb_is_refused() -> None:
    assert Image.MAX_IMAGE_PIXELS == MAX_PIXELS  # set on purpose, not Pillow's default
    with pytest.raises(MediaRefused, match=r"pixels|bomb"):
        optimize(png_bomb(), "image/png", MediaSettings())
    with pytest.raises(MediaRefused):  # above the limit, below twice it: where Pillow itself only warns
        optimize(png_bomb(9000, 9000), "image/png", MediaSettings())


@settings(max_examples=25, deadline=None)
@given(
    st.integers(1, 300),
    st.integers(1, 300),
    st.integers(8, 400),
    st.sampled_from(["keep", "jpeg", "webp"]),
)
def test_no_side_ends_above_max_dimension(w: int, h: int, limit: int, fmt: str) -> None:
    out = io.BytesIO()
    Image.new("RGB", (w, h), (200, 10, 10)).save(out, format="PNG")
    got = optimize(out.getvalue(), "image/png", MediaSettings(max_dimension=limit, format=fmt))  # type: ignore[arg-type]
    assert got.dim is not None and max(got.dim) <= max(limit, 1)
    assert size_of(got.data) == got.dim


def test_the_media_table() -> None:
    from pathlib import Path

    from nostrweet.config import check_config, parse_config

    assert parse_config("", Path("c.toml")).media_settings() is None  # no table: media go as they are
    got = parse_config('[media]\nmax_dimension = 2048\nformat = "WebP"\n', Path("c.toml")).media_settings()
    assert got == MediaSettings(max_dimension=2048, format="webp", quality=85, strip_metadata=True)
    _config, problems = check_config(
        '[media]\nmax_dimension = 8\nformat = "avif"\nquality = 0\nstrip_metadata = "yes"\nsize = 1\n',
        Path("c.toml"),
    )
    assert problems == [
        "c.toml: [media] max_dimension must be from 16 to 16384",
        "c.toml: [media] format must be one of keep, jpeg, webp",
        "c.toml: [media] quality must be from 1 to 100",
        "c.toml: [media] strip_metadata must be bool, not str",
        "c.toml: unknown key 'size' in [media]",
    ]


def test_imeta_carries_ox_only_for_a_changed_file() -> None:
    from nostrweet.bridge.media import MediaLink
    from nostrweet.bridge.tags import imeta_tag

    changed = MediaLink(url="https://b.example/aa.jpg", sha256="aa" * 32, original_sha256="bb" * 32)
    assert imeta_tag(changed)[1:4] == ("url https://b.example/aa.jpg", "x " + "aa" * 32, "ox " + "bb" * 32)
    same = MediaLink(url="https://b.example/aa.jpg", sha256="aa" * 32, original_sha256="aa" * 32)
    assert not any(f.startswith("ox ") for f in imeta_tag(same))
    assert not any(f.startswith("ox ") for f in imeta_tag(MediaLink(url="u", sha256="aa" * 32)))
