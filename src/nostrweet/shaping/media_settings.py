"""The ``[media]`` settings (SPEC §12) as a value; kept apart from :mod:`.media` so that reading the
config does not load Pillow."""

from __future__ import annotations

from typing import Literal

import msgspec

Format = Literal["keep", "jpeg", "webp"]
MEDIA_FORMATS: dict[str, Format] = {"keep": "keep", "jpeg": "jpeg", "webp": "webp"}
"""The values ``[media] format`` accepts."""


class MediaSettings(msgspec.Struct, frozen=True, gc=False):
    """The ``[media]`` table: the longest side allowed, the output format, the encoder's quality, and
    whether the original's metadata (EXIF with GPS, XMP, comments) is dropped."""

    max_dimension: int | None = None
    format: Format = "keep"
    quality: int = 85
    strip_metadata: bool = True
