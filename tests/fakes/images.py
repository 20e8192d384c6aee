"""Images for the media tests, made with Pillow: a photo with an EXIF GPS position, an animated GIF,
and a decompression bomb (a PNG whose header claims more pixels than we decode)."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

GPS_IFD = 0x8825


def photo_with_gps(width: int = 2400, height: int = 1600) -> bytes:
    """A noisy JPEG (so it does not compress to nothing) with a GPS position and a camera model."""
    image = Image.effect_noise((width, height), 40).convert("RGB")
    exif = Image.Exif()
    exif[0x0110] = "Test Camera"  # Model
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)})
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=95, exif=exif.tobytes())
    return out.getvalue()


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (64, 64), color) for color in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def png_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A PNG that claims ``width`` × ``height`` pixels with a few bytes of image data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def gps_of(data: bytes) -> dict[int, object]:
    """The GPS IFD of an image ({} when there is none)."""
    with Image.open(io.BytesIO(data)) as image:
        return dict(image.getexif().get_ifd(GPS_IFD))
