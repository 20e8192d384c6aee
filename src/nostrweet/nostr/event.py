"""NIP-01 events: serialization, ids, BIP-340 signing and verification, and NIP-19 encodings.

The id is computed here, by our own serialization (``[0,pubkey,created_at,kind,tags,content]`` as
compact UTF-8 JSON with only the escapes NIP-01 asks for), so it never depends on a library's choices.
Signatures are BIP-340 Schnorr through coincurve with all-zero auxiliary randomness: the same key and
event always give the same signature, so a signed event record can be rebuilt byte for byte.
NIP-19 texts come from :mod:`~nostrweet.nostr.nip19`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import coincurve
import msgspec

from nostrweet.errors import InputError, OperationalError
from nostrweet.nostr import nip19
from nostrweet.nostr.keys import npub_of_hex

if TYPE_CHECKING:
    from nostrweet.nostr.keys import MirrorKey

Tags = tuple[tuple[str, ...], ...]

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX128 = re.compile(r"^[0-9a-f]{128}$")
_ZERO_AUX = bytes(32)
_encode = msgspec.json.Encoder().encode


@functools.lru_cache(maxsize=4096)
def _private_key(secret: bytes) -> coincurve.PrivateKey:
    # Building a PrivateKey validates the secret and computes its public key: ~1/3 of a signature's
    # cost. Mirror keys are few and reused for every event (docs/PERFORMANCE.md, B1).
    return coincurve.PrivateKey(secret)


class InvalidEventError(OperationalError):
    """An event (from a record file or a relay) whose fields, id or signature do not check out."""


def _tags_of(raw: Any) -> Tags:
    if not isinstance(raw, list | tuple):
        raise InvalidEventError("event tags must be a list")
    out = []
    for tag in raw:
        if not isinstance(tag, list | tuple) or not all(isinstance(v, str) for v in tag):
            raise InvalidEventError("each event tag must be a list of strings")
        out.append(tuple(tag))
    return tuple(out)


def serialize_event(pubkey: str, created_at: int, kind: int, tags: Tags, content: str) -> bytes:
    """The NIP-01 id preimage: compact UTF-8 JSON of ``[0,pubkey,created_at,kind,tags,content]``."""
    # Both writers escape exactly ", \\ and the control characters (\n \r \t \b \f by name, the rest
    # as \u00XX) and write everything else as raw UTF-8, as NIP-01 asks; the bytes are the same for
    # every code point (tests/unit/test_event.py). msgspec's is ~10x faster than json.dumps, which is
    # kept for what msgspec does not write (a str or int subclass). Tuples are written as JSON arrays:
    # the tags need no copy into lists.
    payload = [0, pubkey, created_at, kind, tags, content]
    try:
        return _encode(payload)
    except TypeError:
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def compute_event_id(pubkey: str, created_at: int, kind: int, tags: Tags, content: str) -> str:
    """The NIP-01 event id (hex sha256 of the serialization)."""
    return hashlib.sha256(serialize_event(pubkey, created_at, kind, tags, content)).hexdigest()


class UnsignedEvent(msgspec.Struct, frozen=True, gc=False):
    """An event before signing. Building one is pure; its id is fixed by its fields.

    A frozen msgspec struct, not a dataclass: one is made per event built, and a frozen dataclass
    takes ten times as long to make (docs/PERFORMANCE.md, B1). It holds only text, numbers and
    tuples of them, so it takes part in no reference cycle (``gc=False``)."""

    pubkey: str
    created_at: int
    kind: int
    tags: Tags
    content: str

    def serialize(self) -> bytes:
        """The NIP-01 serialization ``[0,pubkey,created_at,kind,tags,content]`` (compact UTF-8 JSON)."""
        return serialize_event(self.pubkey, self.created_at, self.kind, self.tags, self.content)

    def event_id(self) -> str:
        """The NIP-01 event id."""
        return hashlib.sha256(self.serialize()).hexdigest()

    def tag_values(self, name: str) -> list[tuple[str, ...]]:
        """Every tag whose first element is ``name``."""
        return [t for t in self.tags if t and t[0] == name]


class SignedEvent(msgspec.Struct, frozen=True, gc=False):
    """A signed NIP-01 event (a frozen msgspec struct, as :class:`UnsignedEvent`)."""

    id: str
    pubkey: str
    created_at: int
    kind: int
    tags: Tags
    content: str
    sig: str

    def to_dict(self) -> dict[str, Any]:
        """The event as the JSON object relays exchange."""
        return {
            "id": self.id,
            "pubkey": self.pubkey,
            "created_at": self.created_at,
            "kind": self.kind,
            "tags": [list(t) for t in self.tags],
            "content": self.content,
            "sig": self.sig,
        }

    def to_json(self) -> str:
        """Compact JSON of :meth:`to_dict` (non-ASCII kept as is)."""
        value = {
            "id": self.id,
            "pubkey": self.pubkey,
            "created_at": self.created_at,
            "kind": self.kind,
            "tags": self.tags,  # tuples are written as arrays
            "content": self.content,
            "sig": self.sig,
        }
        try:  # the same text as json.dumps (see serialize_event), without the copy of the tags
            return _encode(value).decode("utf-8")
        except (TypeError, UnicodeEncodeError):
            return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    def unsigned(self) -> UnsignedEvent:
        """The event without id and signature."""
        return UnsignedEvent(self.pubkey, self.created_at, self.kind, self.tags, self.content)

    def tag_values(self, name: str) -> list[tuple[str, ...]]:
        """Every tag whose first element is ``name``."""
        return [t for t in self.tags if t and t[0] == name]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SignedEvent:
        """Read an event object; InvalidEventError if a field is malformed or the id does not match."""
        try:
            event = cls(
                id=str(data["id"]).lower(),
                pubkey=str(data["pubkey"]).lower(),
                created_at=_int(data["created_at"]),
                kind=_int(data["kind"]),
                tags=_tags_of(data["tags"]),
                content=data["content"],
                sig=str(data["sig"]).lower(),
            )
        except KeyError as exc:
            raise InvalidEventError(f"event lacks the field {exc.args[0]!r}") from None
        if not isinstance(event.content, str):
            raise InvalidEventError("event content must be a string")
        if not (_HEX64.match(event.id) and _HEX64.match(event.pubkey) and _HEX128.match(event.sig)):
            raise InvalidEventError("event id, pubkey or sig is not lower-case hex of the right length")
        if event.unsigned().event_id() != event.id:
            raise InvalidEventError(f"event {event.id[:16]}…: id does not match its content")
        return event

    @classmethod
    def from_json(cls, text: str | bytes) -> SignedEvent:
        """Parse an event from JSON text (see :meth:`from_dict`)."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise InvalidEventError(f"event is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise InvalidEventError("event JSON is not an object")
        return cls.from_dict(data)


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidEventError("event created_at and kind must be integers")
    return value


def sign_event(unsigned: UnsignedEvent, key: MirrorKey) -> SignedEvent:
    """Sign with BIP-340 (deterministic: zero aux randomness). The key must match ``unsigned.pubkey``."""
    if unsigned.pubkey != key.pubkey_hex:
        raise InvalidEventError("the event's pubkey is not the signing key's")
    digest = hashlib.sha256(unsigned.serialize()).digest()
    sig = _private_key(key.secret_bytes()).sign_schnorr(digest, _ZERO_AUX)
    return SignedEvent(
        id=digest.hex(),
        pubkey=unsigned.pubkey,
        created_at=unsigned.created_at,
        kind=unsigned.kind,
        tags=unsigned.tags,
        content=unsigned.content,
        sig=sig.hex(),
    )


def verify_event(event: SignedEvent) -> bool:
    """True when the id matches the fields and the BIP-340 signature is valid for the pubkey."""
    try:
        if event.unsigned().event_id() != event.id:
            return False
        pubkey = coincurve.PublicKeyXOnly(bytes.fromhex(event.pubkey))
        return bool(pubkey.verify(bytes.fromhex(event.sig), bytes.fromhex(event.id)))
    except (ValueError, TypeError):
        return False


# --- NIP-19 --------------------------------------------------------------------------------------


def npub_of(pubkey_hex: str) -> str:
    """``npub1…`` of a hex public key."""
    return npub_of_hex(pubkey_hex)


def nevent_of(event_id: str, relays: Sequence[str], author_hex: str | None, kind: int | None = None) -> str:
    """``nevent1…`` of an event id with relay hints (invalid relay URLs are left out), author and kind."""
    return nip19.nevent_encode(event_id, relays, author_hex, kind)


def pubkey_from_npub_or_hex(text: str) -> str:
    """A hex public key from ``npub1…``, ``nostr:npub1…`` or 64 hex digits; InputError otherwise."""
    value = text.strip()
    if value.startswith("nostr:"):
        value = value[len("nostr:") :]
    if _HEX64.match(value.lower()):
        value = value.lower()
    elif not value.startswith("npub1"):
        raise InputError("not a public key: expected npub1… or 64 hex digits")
    try:
        pubkey = value if len(value) == 64 else nip19.npub_decode(value)
        coincurve.PublicKeyXOnly(bytes.fromhex(pubkey))  # a point on the curve
    except ValueError:  # Bech32Error is one
        raise InputError("not a valid public key: the npub or hex does not decode") from None
    return pubkey
