"""PURE: an incremental reader of a JSON array of objects, fed chunk by chunk.

An archive part may be hundreds of MB in one file. :func:`iter_array_objects` yields its elements one
at a time, so memory holds one chunk and one element, not the part. It uses the C scanner of the
standard ``json`` module (``raw_decode``) on each element; an element cut by a chunk boundary is
decoded again once the next chunk has come.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

_SKIP = re.compile(r"[\s,]*")
_TAIL = 32  # an error this close to the end of the buffer may only mean "the element goes on"


def iter_array_objects(chunks: Iterable[bytes]) -> Iterator[Any]:
    """The elements (objects or arrays) of the UTF-8 JSON array split over ``chunks``, in order.

    Raises ValueError for text that is not such an array (also for one that is not closed). Commas
    between elements are not checked: they are skipped like white space.
    """
    decoder = json.JSONDecoder()
    utf8 = codecs.getincrementaldecoder("utf-8")()
    source = iter(chunks)
    buf = ""
    pos = 0
    at_end = False

    def more() -> bool:
        nonlocal buf, pos, at_end
        if at_end:
            return False
        chunk = next(source, None)
        if chunk is None:
            at_end = True
            text = utf8.decode(b"", final=True)
        else:
            text = utf8.decode(chunk)
        buf = buf[pos:] + text
        pos = 0
        return True

    def skip(pattern: re.Pattern[str]) -> None:
        nonlocal pos
        while True:
            match = pattern.match(buf, pos)
            assert match is not None
            pos = match.end()
            if pos < len(buf) or not more():
                return

    skip(re.compile(r"\s*"))
    if pos >= len(buf) or buf[pos] != "[":
        raise ValueError("not a JSON array")
    pos += 1
    while True:
        skip(_SKIP)
        if pos >= len(buf):
            raise ValueError("the array is not closed")
        if buf[pos] == "]":
            pos += 1
            break
        if buf[pos] not in "{[":
            raise ValueError(f"an element that is not an object at character {pos}")
        try:
            value, end = decoder.raw_decode(buf, pos)
        except json.JSONDecodeError as exc:
            cut = exc.pos >= len(buf) - _TAIL or exc.msg.startswith("Unterminated string")
            if cut and more():
                continue
            raise ValueError(f"{exc.msg} (character {exc.pos})") from None
        pos = end
        yield value
    skip(re.compile(r"\s*;?\s*"))
    if pos < len(buf):
        raise ValueError("text after the array")
