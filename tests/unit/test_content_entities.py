"""HTML entities in tweet text (bridge/content.py): the shortcut for texts with only &amp; &lt; &gt;
decodes as the one pattern does."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from nostrweet.bridge.content import decode_entities_by_pattern, decode_html_entities

PIECES = ["&", ";", "amp", "lt", "gt", "quot", "apos", "#", "x", "39", "1F600", "a", " ", "&amp;", "&lt;"]


@settings(max_examples=200)
@given(st.lists(st.sampled_from(PIECES), max_size=12).map("".join))
def test_decoding_is_the_pattern_pass(text: str) -> None:
    assert decode_html_entities(text) == decode_entities_by_pattern(text)


def test_examples() -> None:
    assert decode_html_entities("a &amp; b &lt;3 &gt;") == "a & b <3 >"
    assert decode_html_entities("&amp;lt; &amp;amp;") == "&lt; &amp;"
    assert decode_html_entities("&amp;#39; &#39; &quot;x&quot;") == '&#39; \' "x"'
    assert decode_html_entities("no entity & here;") == "no entity & here;"
