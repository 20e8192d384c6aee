"""HTML entities in tweet text (bridge/content.py): the shortcut for texts with only &amp; &lt; &gt;
decodes as the one pattern does."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from nostrweet.bridge.content import decode_html_entities

_ENTITY = re.compile(r"&(amp|lt|gt|quot|apos|#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6});")
_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}


def pattern_decode(text: str) -> str:
    """The rule, as one left-to-right pass of the pattern."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name[0] != "#":
            return _NAMED[name]
        code = int(name[2:], 16) if name[1] in "xX" else int(name[1:])
        if code == 0 or 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
            return match.group(0)
        return chr(code)

    return _ENTITY.sub(one, text)


PIECES = ["&", ";", "amp", "lt", "gt", "quot", "apos", "#", "x", "39", "1F600", "a", " ", "&amp;", "&lt;"]


@settings(max_examples=200)
@given(st.lists(st.sampled_from(PIECES), max_size=12).map("".join))
def test_decoding_is_the_pattern_pass(text: str) -> None:
    assert decode_html_entities(text) == pattern_decode(text)


def test_examples() -> None:
    assert decode_html_entities("a &amp; b &lt;3 &gt;") == "a & b <3 >"
    assert decode_html_entities("&amp;lt; &amp;amp;") == "&lt; &amp;"
    assert decode_html_entities("&amp;#39; &#39; &quot;x&quot;") == '&#39; \' "x"'
    assert decode_html_entities("no entity & here;") == "no entity & here;"
