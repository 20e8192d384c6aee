"""PURE: NIP-19 bech32 entities: ``npub``, ``nsec`` and ``nevent`` (with its TLV relay hints).

Bech32 itself (BIP-173) is a few lines, written out here: NIP-19 strings are longer than the 90
characters BIP-173 allows and the bech32 packages on PyPI enforce, and ``nevent`` needs TLV on top.
Tests check every encoding against nostr-sdk, an independent implementation.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
MAX_LENGTH = 5000
"""The longest bech32 text decoded (an ``nevent`` with a few relay hints is a few hundred)."""

TLV_SPECIAL, TLV_RELAY, TLV_AUTHOR, TLV_KIND = 0, 1, 2, 3


class Bech32Error(ValueError):
    """Text that is not valid bech32 of the expected kind."""


def _polymod(values: Sequence[int]) -> int:
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            chk ^= _GENERATOR[i] if (top >> i) & 1 else 0
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert_bits(data: Sequence[int], from_bits: int, to_bits: int, *, pad: bool) -> list[int]:
    acc = bits = 0
    out: list[int] = []
    max_value = (1 << to_bits) - 1
    for value in data:
        acc = (acc << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((acc >> bits) & max_value)
    if pad:
        if bits:
            out.append((acc << (to_bits - bits)) & max_value)
    elif bits >= from_bits or (acc << (to_bits - bits)) & max_value:
        raise Bech32Error("invalid padding")
    return out


def encode(hrp: str, data: bytes) -> str:
    """Bech32 of ``data`` under the human-readable part ``hrp``."""
    words = _convert_bits(data, 8, 5, pad=True)
    polymod = _polymod([*_hrp_expand(hrp), *words, 0, 0, 0, 0, 0, 0]) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(CHARSET[w] for w in [*words, *checksum])


def decode(text: str) -> tuple[str, bytes]:
    """``(hrp, data)`` of a bech32 text (one case only, checksum checked); Bech32Error otherwise."""
    if len(text) > MAX_LENGTH:
        raise Bech32Error("bech32 text too long")
    if text.lower() != text and text.upper() != text:
        raise Bech32Error("bech32 text of mixed case")
    text = text.lower()
    hrp, sep, rest = text.rpartition("1")
    if not sep or not hrp or len(rest) < 6 or any(not 33 <= ord(c) <= 126 for c in hrp):
        raise Bech32Error("not bech32")
    try:
        words = [CHARSET.index(c) for c in rest]
    except ValueError:
        raise Bech32Error("bech32 text with a character outside its alphabet") from None
    if _polymod([*_hrp_expand(hrp), *words]) != 1:
        raise Bech32Error("bech32 checksum does not match")
    return hrp, bytes(_convert_bits(words[:-6], 5, 8, pad=False))


def _decode_32(text: str, hrp: str) -> bytes:
    got_hrp, data = decode(text)
    if got_hrp != hrp or len(data) != 32:
        raise Bech32Error(f"not an {hrp}")
    return data


def npub_encode(pubkey_hex: str) -> str:
    """``npub1…`` of a 64-hex public key."""
    return encode("npub", bytes.fromhex(pubkey_hex))


def npub_decode(text: str) -> str:
    """The hex public key of an ``npub1…``; Bech32Error otherwise."""
    return _decode_32(text, "npub").hex()


def nsec_encode(secret: bytes) -> str:
    """``nsec1…`` of a 32-byte secret key."""
    return encode("nsec", secret)


def nsec_decode(text: str) -> bytes:
    """The 32-byte secret of an ``nsec1…``; Bech32Error otherwise."""
    return _decode_32(text, "nsec")


def _relay_hint(url: str) -> str | None:
    """A relay hint as written: a ws:// or wss:// URL with a host, scheme and host in lower case;
    None for anything else."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("ws", "wss") or not parts.hostname or not url.isascii():
        return None
    return parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower()).geturl()


def nevent_encode(
    event_id: str, relays: Sequence[str] = (), author_hex: str | None = None, kind: int | None = None
) -> str:
    """``nevent1…``: the event id, the author, the kind, then each valid relay hint (NIP-19 TLV; the
    order nostr-sdk writes, so both give the same text)."""
    tlv = bytearray([TLV_SPECIAL, 32, *bytes.fromhex(event_id)])
    if author_hex:
        tlv += bytes([TLV_AUTHOR, 32]) + bytes.fromhex(author_hex)
    if kind is not None:
        tlv += bytes([TLV_KIND, 4]) + kind.to_bytes(4, "big")
    for relay in relays:
        hint = _relay_hint(relay)
        if hint is not None and len(hint) < 256:
            raw = hint.encode("ascii")
            tlv += bytes([TLV_RELAY, len(raw)]) + raw
    return encode("nevent", bytes(tlv))


def nevent_decode(text: str) -> tuple[str, list[str], str | None, int | None]:
    """``(event id, relays, author, kind)`` of an ``nevent1…``; Bech32Error otherwise."""
    hrp, data = decode(text)
    if hrp != "nevent":
        raise Bech32Error("not an nevent")
    event_id: str | None = None
    relays: list[str] = []
    author: str | None = None
    kind: int | None = None
    at = 0
    while at + 2 <= len(data):
        tag, size = data[at], data[at + 1]
        value = data[at + 2 : at + 2 + size]
        if len(value) != size:
            raise Bech32Error("truncated nevent TLV")
        at += 2 + size
        if tag == TLV_SPECIAL and size == 32:
            event_id = value.hex()
        elif tag == TLV_RELAY:
            relays.append(value.decode("ascii", "replace"))
        elif tag == TLV_AUTHOR and size == 32:
            author = value.hex()
        elif tag == TLV_KIND and size == 4:
            kind = int.from_bytes(value, "big")
    if event_id is None:
        raise Bech32Error("nevent without an event id")
    return event_id, relays, author, kind
