"""Text from X and relays shown on a terminal: control, bidi and escape characters are escaped visibly."""

from __future__ import annotations

import json
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nostrweet.textsafe import is_unsafe, json_safe, printable

TABLE = [
    ("plain text, émoji 🎉 and 日本語", "plain text, émoji 🎉 and 日本語"),
    ("two\nlines", "two\\nlines"),
    ("cr\r\nlf", "cr\\r\\nlf"),
    ("tab\there", "tab\\there"),
    ("nul\x00byte", "nul\\x00byte"),
    ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
    ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),
    ("del\x7f", "del\\x7f"),
    ("c1\x85\x9b", "c1\\x85\\x9b"),
    ("\u202etxt.exe", "\\u202etxt.exe"),
    ("a\u202ab\u202bc\u202cd\u202de", "a\\u202ab\\u202bc\\u202cd\\u202de"),
    ("\u2066iso\u2069 \u2067\u2068", "\\u2066iso\\u2069 \\u2067\\u2068"),
    ("lrm\u200e rlm\u200f alm\u061c", "lrm\\u200e rlm\\u200f alm\\u061c"),
    ("line\u2028para\u2029", "line\\u2028para\\u2029"),
    ("zwj family 👨\u200d👩\u200d👧", "zwj family 👨\u200d👩\u200d👧"),  # emoji sequences stay
    ("back\\slash", "back\\slash"),
]


@pytest.mark.parametrize(("raw", "shown"), TABLE)
def test_printable_table(raw: str, shown: str) -> None:
    assert printable(raw) == shown


def test_keep_newlines_keeps_only_newlines() -> None:
    assert printable("a\nb\x1b[2J\r", keep_newlines=True) == "a\nb\\x1b[2J\\r"


_BAD = "\x00\x07\x1b\n\r\t\x7f\x85\x9b\u061c\u200e\u200f\u2028\u2029\u202a\u202e\u2066\u2069"
TEXT = st.text(alphabet=st.one_of(st.characters(), st.sampled_from(_BAD)), max_size=60)


def _clean(text: str, *, newlines: bool = False) -> bool:
    return not any(is_unsafe(c) and not (newlines and c == "\n") for c in text)


@given(TEXT)
def test_printable_leaves_no_control_or_bidi(text: str) -> None:
    out = printable(text)
    assert _clean(out)
    assert all(unicodedata.category(c) != "Cc" for c in out)
    kept = printable(text, keep_newlines=True)
    assert _clean(kept, newlines=True) and kept.count("\n") == text.count("\n")


@given(TEXT)
def test_printable_is_identity_on_safe_text(text: str) -> None:
    if _clean(text):
        assert printable(text) == text


@given(
    st.recursive(
        st.none() | st.integers() | TEXT, lambda inner: st.lists(inner) | st.dictionaries(TEXT, inner)
    )
)
def test_json_safe_keeps_the_value_and_escapes_the_rest(value: object) -> None:
    for indent in (None, 2):
        out = json_safe(json.dumps(value, ensure_ascii=False, indent=indent))
        assert json.loads(out) == value
        assert _clean(out.replace("\n", ""))


def test_text_log_lines_escape_peer_text() -> None:
    import logging

    from nostrweet.logs import TextFormatter

    record = logging.LogRecord(
        "nostrweet.x", logging.WARNING, __file__, 1, "relay said %r", ("a\nb\x1b[2J\u202e",), None
    )
    line = TextFormatter().format(record)
    assert "\n" not in line and "\x1b" not in line and "\u202e" not in line
    assert line.endswith("relay said 'a\\nb\\x1b[2J\\u202e'")
    plain = logging.LogRecord(
        "nostrweet.x", logging.WARNING, __file__, 1, "said %s", ("a\nb\x1b[2J\u202e",), None
    )
    assert TextFormatter().format(plain).endswith("said a\\nb\\x1b[2J\\u202e")


def test_error_line_escapes_peer_text(capsys: pytest.CaptureFixture[str]) -> None:
    from nostrweet.cli import app

    with pytest.raises(SystemExit) as info:
        app._fail("relay said: line one\nforged: \x1b[2J\u202eevil", 1)
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err == "error: relay said: line one\\nforged: \\x1b[2J\\u202eevil\n"
