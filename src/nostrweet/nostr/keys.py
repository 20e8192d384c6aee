"""Mirror keys (SPEC §3): one Nostr identity per numeric X user id, derived from one BIP-39 mnemonic.

Two schemes:

- ``nip06`` (default): BIP-32 under NIP-06's purpose and coin type, on
  ``m/44'/1237'/<id >> 31>'/0/<id & 0x7FFFFFFF>``. One-to-one for every id below 2^62.
- ``legacy``: the earlier tool's keys, so its users keep their npubs: ``account`` = the first 4 bytes of
  SHA-256(user id) AND 0x7FFFFFFF; secret = SHA-256(seed ‖ account as 4 bytes big-endian).

BIP-32 is implemented here with hmac/hashlib and coincurve. PBKDF2 runs once per :class:`KeyDeriver`;
derived account nodes and keys are cached. A secret never appears in a repr, a message or a log.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections import OrderedDict
from functools import cache, lru_cache
from pathlib import Path
from typing import Literal

import coincurve
import msgspec
from mnemonic import Mnemonic

from nostrweet.errors import InputError
from nostrweet.nostr import nip19
from nostrweet.secret import Secret

KeyScheme = Literal["nip06", "legacy"]

HARDENED = 0x80000000
MAX_USER_ID = 1 << 62
NIP06_PURPOSE = 44
NIP06_COIN = 1237
_CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_MNEMONIC_LENGTHS = (12, 15, 18, 21, 24)
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
KEY_CACHE_SIZE = 4096
"""Derived keys a :class:`KeyDeriver` keeps (the oldest is dropped first; deriving again is cheap)."""


class MirrorKey(msgspec.Struct, frozen=True, gc=False):
    """A mirror identity: whose it is, where it comes from, and its keys. The secret never prints."""

    user_id: str
    path: str
    pubkey_hex: str
    npub: str
    secret: Secret

    def __repr__(self) -> str:
        # The secret is left out, as it was from the dataclass repr.
        return (
            f"MirrorKey(user_id={self.user_id!r}, path={self.path!r}, pubkey_hex={self.pubkey_hex!r}, "
            f"npub={self.npub!r})"
        )

    def nsec(self) -> str:
        """The NIP-19 ``nsec1…`` form of the secret key. Never log it."""
        return nip19.nsec_encode(self.secret_bytes())

    def secret_bytes(self) -> bytes:
        """The 32-byte secret key. Never log it."""
        return bytes.fromhex(self.secret.reveal())


def nip06_path(user_id: int) -> str:
    """The BIP-32 path of a user id: ``m/44'/1237'/<id >> 31>'/0/<id & 0x7FFFFFFF>`` (id below 2^62)."""
    if not 0 <= user_id < MAX_USER_ID:
        raise InputError(f"user id {user_id} is out of range: mirror keys exist for ids below 2^62")
    return f"m/{NIP06_PURPOSE}'/{NIP06_COIN}'/{user_id >> 31}'/0/{user_id & 0x7FFFFFFF}"


def parse_user_id(user_id: str | int, *, allow_empty: bool = False) -> str:
    """Check a numeric X user id (below 2^62) and return it as canonical decimal text."""
    if isinstance(user_id, bool):
        raise InputError("user id must be a number")
    if isinstance(user_id, int):
        value = user_id
    else:
        text = user_id.strip()
        if text == "" and allow_empty:
            return ""
        if not text.isascii() or not text.isdigit():
            raise InputError(f"user id {text[:40]!r} is not numeric")
        value = int(text)
    if not 0 <= value < MAX_USER_ID:
        raise InputError(f"user id {value} is out of range: mirror keys exist for ids below 2^62")
    return str(value)


def pubkey_of_secret(secret: bytes) -> str:
    """The BIP-340 x-only public key (hex) of a 32-byte secret key."""
    return str(coincurve.PublicKeyXOnly.from_secret(secret).format().hex())


@lru_cache(maxsize=KEY_CACHE_SIZE)
def npub_of_hex(pubkey_hex: str) -> str:
    """NIP-19 ``npub1…`` of a hex public key (LRU-cached: the same identities recur in many events)."""
    return nip19.npub_encode(pubkey_hex)


def _make_key(user_id: str, path: str, secret: bytes) -> MirrorKey:
    if not 0 < int.from_bytes(secret, "big") < _CURVE_ORDER:
        raise InputError(f"derived secret for {path} is not a valid secp256k1 key")
    pubkey = pubkey_of_secret(secret)
    return MirrorKey(
        user_id=user_id, path=path, pubkey_hex=pubkey, npub=npub_of_hex(pubkey), secret=Secret(secret.hex())
    )


# --- BIP-39 --------------------------------------------------------------------------------------


@cache
def _english() -> Mnemonic:
    return Mnemonic("english")


def normalize_mnemonic(phrase: Secret) -> str:
    """Validate an English BIP-39 mnemonic and return its normalised form (NFKD, lower-case, single spaces).

    The InputError says which position is wrong, or that the checksum fails; it never echoes a word.
    """
    words = unicodedata.normalize("NFKD", phrase.reveal()).lower().split()
    if not words:
        raise InputError("invalid mnemonic: it is blank")
    if len(words) not in _MNEMONIC_LENGTHS:
        raise InputError(f"invalid mnemonic: it has {len(words)} words; BIP-39 uses 12, 15, 18, 21 or 24")
    english = _english()
    known = set(english.wordlist)
    for position, word in enumerate(words, start=1):
        if word not in known:
            raise InputError(
                f"invalid mnemonic: the {_ordinal(position)} of its {len(words)} words is not in the "
                "BIP-39 English wordlist"
            )
    normalized = " ".join(words)
    if not english.check(normalized):
        raise InputError("invalid mnemonic: the checksum fails (a typo, or swapped words)")
    return normalized


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def bip39_seed(normalized: str, passphrase: str = "") -> bytes:
    """The 64-byte BIP-39 seed: PBKDF2-HMAC-SHA512, 2048 rounds, salt ``"mnemonic" + passphrase``."""
    salt = ("mnemonic" + unicodedata.normalize("NFKD", passphrase)).encode()
    return hashlib.pbkdf2_hmac("sha512", normalized.encode(), salt, 2048)


# --- BIP-32 --------------------------------------------------------------------------------------

Node = tuple[bytes, bytes]  # (secret key, chain code)


def bip32_master(seed: bytes) -> Node:
    """The BIP-32 master node of a seed."""
    digest = hmac.digest(b"Bitcoin seed", seed, "sha512")
    return digest[:32], digest[32:]


def bip32_child(node: Node, index: int) -> Node:
    """CKDpriv: the child ``index`` (``>= 2**31`` is hardened) of a private node."""
    key, chain = node
    if index >= HARDENED:
        data = b"\x00" + key + index.to_bytes(4, "big")
    else:
        data = coincurve.PublicKey.from_secret(key).format(compressed=True) + index.to_bytes(4, "big")
    digest = hmac.digest(chain, data, "sha512")
    tweak = int.from_bytes(digest[:32], "big")
    child = (tweak + int.from_bytes(key, "big")) % _CURVE_ORDER
    if tweak >= _CURVE_ORDER or child == 0:  # probability ~2^-127; BIP-32 says skip to the next index
        raise InputError(f"BIP-32 child {index} is invalid for this mnemonic")
    return child.to_bytes(32, "big"), digest[32:]


# --- the deriver ---------------------------------------------------------------------------------


class KeyDeriver:
    """Derives mirror keys from one mnemonic. PBKDF2 runs once here; nodes and keys are cached."""

    def __init__(self, mnemonic: Secret, scheme: KeyScheme = "nip06", passphrase: str = "") -> None:
        if scheme not in ("nip06", "legacy"):
            raise InputError(f"invalid key derivation {scheme!r}: use nip06 or legacy")
        self.scheme: KeyScheme = scheme
        self._seed = bip39_seed(normalize_mnemonic(mnemonic), passphrase)
        self._coin_node: Node | None = None
        self._accounts: dict[int, Node] = {}
        self._keys: OrderedDict[str, MirrorKey] = OrderedDict()  # LRU: derivable, so capped

    def __repr__(self) -> str:
        return f"KeyDeriver(scheme={self.scheme!r})"

    def for_user(self, user_id: str | int) -> MirrorKey:
        """The mirror key of a numeric user id (cached). ``legacy`` also takes ``""`` (its "master key")."""
        key = self._keys.get(user_id) if isinstance(user_id, str) else None
        if key is not None:  # the common case: a canonical id seen before
            return key
        uid = parse_user_id(user_id, allow_empty=self.scheme == "legacy")
        key = self._keys.get(uid)
        if key is None:
            key = self._legacy(uid) if self.scheme == "legacy" else self._nip06(int(uid))
            self._keys[uid] = key
            if len(self._keys) > KEY_CACHE_SIZE:  # mentioned users add up over months
                self._keys.popitem(last=False)
        return key

    def mirror_pubkeys(self, user_id: str | int) -> tuple[str, ...]:
        """Every pubkey (hex) that may have mirrored this user's tweets: the configured scheme's key
        first, then the other scheme's (the earlier tool's legacy key, or the nip06 key). The
        duplicate check trusts events signed by these only (SPEC §4)."""
        own = self.for_user(user_id)
        uid = parse_user_id(user_id, allow_empty=self.scheme == "legacy")
        if not uid:
            return (own.pubkey_hex,)
        other = self._nip06(int(uid)) if self.scheme == "legacy" else self._legacy(uid)
        return (own.pubkey_hex, other.pubkey_hex)

    def _nip06(self, uid: int) -> MirrorKey:
        account = uid >> 31
        node = self._accounts.get(account)
        if node is None:
            if self._coin_node is None:
                purpose = bip32_child(bip32_master(self._seed), HARDENED + NIP06_PURPOSE)
                self._coin_node = bip32_child(purpose, HARDENED + NIP06_COIN)
            node = bip32_child(bip32_child(self._coin_node, HARDENED + account), 0)
            self._accounts[account] = node
        secret, _ = bip32_child(node, uid & 0x7FFFFFFF)
        return _make_key(str(uid), nip06_path(uid), secret)

    def _legacy(self, uid: str) -> MirrorKey:
        account = legacy_account(uid)
        secret = hashlib.sha256(self._seed + account.to_bytes(4, "big")).digest()
        return _make_key(uid, f"legacy:{account}", secret)


def legacy_account(user_id: str) -> int:
    """The earlier tool's account number of a user id: first 4 bytes of SHA-256, big-endian, AND 0x7FFFFFFF."""
    return int.from_bytes(hashlib.sha256(user_id.encode()).digest()[:4], "big") & 0x7FFFFFFF


def parse_secret_key(text: str) -> bytes:
    """A secret key given as ``nsec1…`` or 64 hex digits; InputError (without the text) otherwise."""
    text = text.strip()
    if _HEX64.match(text):
        secret = bytes.fromhex(text)
    elif text.startswith("nsec1"):
        try:
            secret = nip19.nsec_decode(text)
        except nip19.Bech32Error:
            raise InputError("not a valid nsec") from None
    else:
        raise InputError("not a secret key: expected an nsec1… or 64 hex digits")
    if not 0 < int.from_bytes(secret, "big") < _CURVE_ORDER:
        raise InputError("not a valid secp256k1 secret key")
    return secret


def load_key_file(path: Path, user_id: str = "") -> MirrorKey:
    """A fixed mirror key from a file holding an nsec or a 64-hex secret (first non-blank line)."""
    try:
        text = path.expanduser().read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"key file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read key file {path}: {exc.__class__.__name__}") from None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise InputError(f"key file {path} is empty")
    try:
        secret = parse_secret_key(lines[0])
    except InputError as exc:
        raise InputError(f"key file {path}: {exc}") from None
    return _make_key(user_id, f"file:{path}", secret)
