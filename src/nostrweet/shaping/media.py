"""Media optimisation before a Blossom upload (SPEC §12, ``[media]``): bytes in → bytes and size out.

Pure apart from Pillow's decoding (no file, no network). An image is decoded, turned upright by its
EXIF orientation, shrunk so neither side exceeds ``max_dimension``, and re-encoded (``format``:
``keep`` the image's own JPEG/PNG/WebP, or ``jpeg`` / ``webp``) at ``quality``; with ``strip_metadata``
(the default) nothing of the original's EXIF (GPS position included), XMP or comments is written.

What goes as it is (``Optimized.changed`` False, the original bytes): videos and anything that is not
an image we re-encode (by MIME type); animated images (GIF, WebP, APNG); a file that fails to decode;
and a re-encoding that would be larger while it changes nothing else (no shrink, no format change, no
metadata to drop).

Decompression bombs are refused: :data:`MAX_PIXELS` is set as Pillow's ``Image.MAX_IMAGE_PIXELS``, and
an image above it raises :class:`MediaRefused` before its pixels are decoded (Pillow's warning between
one and two times the limit is turned into the same refusal).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from nostrweet.shaping.media_settings import MediaSettings

__all__ = [
    "MAX_PIXELS",
    "MediaRefused",
    "MediaSettings",
    "Optimized",
    "optimize",
]

MAX_PIXELS = 64_000_000
"""The most pixels an image may have (8000 × 8000; X's largest photos are 4096 × 4096)."""
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

_ENCODERS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
_TARGET = {"jpeg": "JPEG", "webp": "WEBP"}
_IMAGE_MIMES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})
_METADATA_KEYS = ("exif", "xmp", "XML:com.adobe.xmp", "comment", "photoshop")


class MediaRefused(ValueError):
    """An image we will not decode (a decompression bomb); the message says why."""


@dataclass(frozen=True)
class Optimized:
    """What to upload: ``data`` with its ``mime``; ``dim`` (width, height) when it is a decoded image;
    ``changed`` False when ``data`` is the original; ``note`` says why it was left alone."""

    data: bytes
    mime: str
    dim: tuple[int, int] | None = None
    changed: bool = False
    note: str = ""


def _unchanged(data: bytes, mime: str, note: str, dim: tuple[int, int] | None = None) -> Optimized:
    return Optimized(data, mime, dim, False, note)


def _open(data: bytes) -> Image.Image:
    """Decode the whole image, refusing bombs (Pillow's warning becomes an error)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise MediaRefused(f"{width}x{height} is more than {MAX_PIXELS} pixels")
            image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise MediaRefused(f"decompression bomb: {exc}") from None
    return image


def _has_metadata(image: Image.Image) -> bool:
    if any(image.info.get(k) for k in _METADATA_KEYS):
        return True
    return bool(image.getexif())


def optimize(data: bytes, mime: str, settings: MediaSettings) -> Optimized:
    """The bytes to upload for one media file (see the module docstring). Raises MediaRefused."""
    if mime.lower() not in _IMAGE_MIMES:
        return _unchanged(data, mime, "not an image")
    try:
        image = _open(data)
    except MediaRefused:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        return _unchanged(data, mime, f"cannot decode: {exc.__class__.__name__}")
    source_format = image.format or ""
    if getattr(image, "is_animated", False) and getattr(image, "n_frames", 1) > 1:
        return _unchanged(data, mime, "animated", image.size)
    target = _TARGET.get(settings.format) or (source_format if source_format in _ENCODERS else "PNG")
    metadata = _has_metadata(image)
    upright = ImageOps.exif_transpose(image)
    out = upright if upright is not None else image
    limit = settings.max_dimension
    shrink = limit is not None and max(out.size) > limit
    if shrink and limit is not None:
        out = out.copy()
        out.thumbnail((limit, limit), Image.Resampling.LANCZOS)
    out = _for_encoder(out, target)
    encoded = _encode(out, target, settings, image)
    plain = not shrink and target == source_format and not (metadata and settings.strip_metadata)
    if plain and len(encoded) >= len(data):
        return _unchanged(data, mime, "re-encoding is not smaller", image.size)
    return Optimized(encoded, _ENCODERS[target], out.size, True)


def _for_encoder(image: Image.Image, target: str) -> Image.Image:
    """The image in a mode the encoder writes: JPEG has no alpha (flattened on white) and no palette."""
    if target == "JPEG":
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            rgba = image.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
            return flat
        if image.mode not in ("RGB", "L", "CMYK"):
            return image.convert("RGB")
        return image
    if target == "WEBP" and image.mode not in ("RGB", "RGBA"):
        return image.convert("RGBA" if "transparency" in image.info or image.mode in ("LA", "PA") else "RGB")
    return image


def _encode(image: Image.Image, target: str, settings: MediaSettings, source: Image.Image) -> bytes:
    params: dict[str, Any] = {}
    if target == "JPEG":
        params = {"quality": settings.quality, "optimize": True, "progressive": True}
    elif target == "WEBP":
        params = {"quality": settings.quality, "method": 6}
    else:
        params = {"optimize": True}
    icc = source.info.get("icc_profile")
    if icc:
        params["icc_profile"] = icc  # colour, not metadata about the photo
    if not settings.strip_metadata:
        exif = source.getexif()
        if exif:
            exif.pop(0x0112, None)  # the orientation is applied to the pixels
            params["exif"] = exif.tobytes()
    buffer = io.BytesIO()
    image.save(buffer, format=target, **params)
    return buffer.getvalue()
