"""PURE: text from X and from relays made safe to show on a terminal.

Tweet text, usernames and relay messages are written by strangers. Printed raw, a newline can forge a
log line, an ANSI escape can recolour or clear the terminal, and a bidi override can make text read in
another order than it is stored. :func:`printable` escapes all of them visibly (``\\n``, ``\\x1b``,
``\\u202e``); :func:`json_safe` does the same inside serialised JSON with JSON's own ``\\uXXXX`` escapes,
so the text stays exact JSON with the same value.
"""

from __future__ import annotations

__all__ = ["UNSAFE_FORMAT_CHARS", "is_unsafe", "json_safe", "printable"]

UNSAFE_FORMAT_CHARS = frozenset(
    "\u061c\u200e\u200f\u2028\u2029"  # Arabic letter mark, LRM, RLM, line and paragraph separators
    "\u202a\u202b\u202c\u202d\u202e"  # bidi embeddings and overrides
    "\u2066\u2067\u2068\u2069"  # bidi isolates
)
"""Characters that are not controls but change how a terminal lays text out."""

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def is_unsafe(char: str) -> bool:
    """A C0 or C1 control, DEL, or a character of :data:`UNSAFE_FORMAT_CHARS`."""
    code = ord(char)
    return code < 0x20 or 0x7F <= code <= 0x9F or char in UNSAFE_FORMAT_CHARS


def _escape(char: str) -> str:
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every unsafe character escaped visibly; ``\\n`` kept when ``keep_newlines``."""
    if not any(is_unsafe(c) for c in text):
        return text
    return "".join(c if (c == "\n" and keep_newlines) or not is_unsafe(c) else _escape(c) for c in text)


def json_safe(serialised: str) -> str:
    """Serialised JSON with the unsafe characters that JSON leaves raw (C1, DEL, bidi) as ``\\uXXXX``.

    ``json.dumps(..., ensure_ascii=False)`` already escapes C0 controls; the rest can only stand inside
    strings, where ``\\uXXXX`` means the same character, so the value is unchanged.
    """
    if not any(is_unsafe(c) for c in serialised):
        return serialised
    return "".join(f"\\u{ord(c):04x}" if is_unsafe(c) and c not in "\n\r\t " else c for c in serialised)
