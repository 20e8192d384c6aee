"""Mirror keys (SPEC §3): NIP-06 vectors, an independent BIP-32, the legacy vectors, mnemonic errors."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import re

import nostr_sdk
import pytest
from ecdsa import SECP256k1
from hypothesis import given, settings
from hypothesis import strategies as st
from mnemonic import Mnemonic

from nostrweet.errors import InputError
from nostrweet.nostr.keys import (
    MAX_USER_ID,
    KeyDeriver,
    bip39_seed,
    legacy_account,
    load_key_file,
    nip06_path,
    normalize_mnemonic,
    parse_secret_key,
)
from nostrweet.settings import Secret
from tests.conftest import REFERENCE_CASES

# The two test vectors of NIP-06 (path m/44'/1237'/0'/0/0).
NIP06_VECTORS = [
    (
        "leader monkey parrot ring guide accident before fence cannon height naive bean",
        "7f7ff03d123792d6ac594bfa67bf6d0c0ab55b6b1fdb6249303fe861f1ccba9a",
        "nsec10allq0gjx7fddtzef0ax00mdps9t2kmtrldkyjfs8l5xruwvh2dq0lhhkp",
        "17162c921dc4d2518f9a101db33695df1afb56ab82f5ff3e5da6eec3ca5cd917",
        "npub1zutzeysacnf9rru6zqwmxd54mud0k44tst6l70ja5mhv8jjumytsd2x7nu",
    ),
    (
        "what bleak badge arrange retreat wolf trade produce cricket blur garlic valid proud rude strong "
        "choose busy staff weather area salt hollow arm fade",
        "c15d739894c81a2fcfd3a2df85a0d2c0dbc47a280d092799f144d73d7ae78add",
        "nsec1c9wh8xy5eqdzln7n5t0ctgxjcrdug73gp5yj0x03gntn67h83twssdfhel",
        "d41b22899549e1f3d335a31002cfd382174006e166d3e658e3a5eecdb6463573",
        "npub16sdj9zv4f8sl85e45vgq9n7nsgt5qphpvmf7vk8r5hhvmdjxx4es8rq74h",
    ),
]
MNEMONIC = NIP06_VECTORS[0][0]
ENGLISH = set(Mnemonic("english").wordlist)


def _compressed_point(secret: int) -> bytes:
    point = secret * SECP256k1.generator
    return (b"\x03" if point.y() & 1 else b"\x02") + point.x().to_bytes(32, "big")


def reference_bip32_secret(seed: bytes, path: str) -> str:
    """BIP-32 private derivation as the BIP writes it (hmac-sha512, python-ecdsa's secp256k1), kept
    apart from src/ and from coincurve, so that it checks them."""
    digest = hmac.new(b"Bitcoin seed", seed, hashlib.sha512).digest()
    key, chain = int.from_bytes(digest[:32], "big"), digest[32:]
    for part in path.split("/")[1:]:
        hardened = part.endswith("'")
        index = int(part.rstrip("'")) + (2**31 if hardened else 0)
        data = b"\x00" + key.to_bytes(32, "big") if hardened else _compressed_point(key)
        digest = hmac.new(chain, data + index.to_bytes(4, "big"), hashlib.sha512).digest()
        tweak = int.from_bytes(digest[:32], "big")
        assert tweak < SECP256k1.order  # the BIP's "invalid key" case, which no vector here reaches
        key, chain = (tweak + key) % SECP256k1.order, digest[32:]
        assert key != 0
    return key.to_bytes(32, "big").hex()


@pytest.fixture(scope="module")
def deriver() -> KeyDeriver:
    return KeyDeriver(Secret(MNEMONIC))


@pytest.mark.parametrize(("phrase", "sec", "nsec", "pub", "npub"), NIP06_VECTORS)
def test_nip06_vectors(phrase: str, sec: str, nsec: str, pub: str, npub: str) -> None:
    key = KeyDeriver(Secret(phrase)).for_user(0)
    assert key.path == "m/44'/1237'/0'/0/0"
    assert key.secret.reveal() == sec
    assert key.nsec() == nsec
    assert key.pubkey_hex == pub
    assert key.npub == npub
    assert nostr_sdk.Keys(nostr_sdk.SecretKey.parse(sec)).public_key().to_hex() == pub


def test_independent_bip32_agrees_on_1000_random_ids(deriver: KeyDeriver) -> None:
    rng = random.Random(20260101)
    ids = (
        [rng.randrange(MAX_USER_ID) for _ in range(980)]
        + list(range(10))
        + [MAX_USER_ID - 1 - i for i in range(10)]
    )
    seed = Mnemonic.to_seed(MNEMONIC)  # the mnemonic library, not src/
    for uid in ids:
        key = deriver.for_user(uid)
        path = nip06_path(uid)
        assert key.path == path
        expected = reference_bip32_secret(seed, path)
        assert key.secret.reveal() == expected, uid
        # nostr-sdk's own NIP-06 derivation reaches the same path through (account, type, index).
        sdk = nostr_sdk.Keys.from_mnemonic(MNEMONIC, None, uid >> 31, 0, uid & 0x7FFFFFFF)
        assert sdk.public_key().to_hex() == key.pubkey_hex, uid


def test_small_ids_land_on_account_zero() -> None:
    assert nip06_path(0) == "m/44'/1237'/0'/0/0"
    assert nip06_path(3916631) == "m/44'/1237'/0'/0/3916631"
    assert nip06_path(2**31 - 1) == "m/44'/1237'/0'/0/2147483647"
    assert nip06_path(2**31) == "m/44'/1237'/1'/0/0"
    assert nip06_path(2**62 - 1) == "m/44'/1237'/2147483647'/0/2147483647"


def _path_to_id(path: str) -> int:
    match = re.fullmatch(r"m/44'/1237'/(\d+)'/0/(\d+)", path)
    assert match is not None
    account, index = int(match.group(1)), int(match.group(2))
    assert account < 2**31 and index < 2**31
    return (account << 31) | index


@given(st.integers(0, MAX_USER_ID - 1), st.integers(0, MAX_USER_ID - 1))
def test_no_two_ids_share_a_path(a: int, b: int) -> None:
    assert _path_to_id(nip06_path(a)) == a
    assert (nip06_path(a) == nip06_path(b)) == (a == b)


@given(st.integers(MAX_USER_ID, 2**64))
@settings(max_examples=50)
def test_ids_from_2_62_are_refused(uid: int) -> None:
    with pytest.raises(InputError, match="below 2\\^62"):
        nip06_path(uid)
    with pytest.raises(InputError):
        KeyDeriver.for_user(_DERIVER, uid)
    with pytest.raises(InputError):
        KeyDeriver.for_user(_DERIVER, str(uid))


_DERIVER = KeyDeriver(Secret(MNEMONIC))


@pytest.mark.parametrize("bad", ["", "abc", "-1", "12a", "1.5", "١٢"])
def test_non_numeric_ids_are_refused(deriver: KeyDeriver, bad: str) -> None:
    with pytest.raises(InputError):
        deriver.for_user(bad)


def test_keys_are_cached_and_id_forms_agree(deriver: KeyDeriver) -> None:
    assert deriver.for_user(783214) is deriver.for_user("783214")
    assert deriver.for_user("00783214").pubkey_hex == deriver.for_user(783214).pubkey_hex


def test_passphrase_changes_keys() -> None:
    plain = KeyDeriver(Secret(MNEMONIC)).for_user(1)
    salted = KeyDeriver(Secret(MNEMONIC), passphrase="TREZOR").for_user(1)
    assert plain.pubkey_hex != salted.pubkey_hex
    assert salted.secret.reveal() == reference_bip32_secret(
        Mnemonic.to_seed(MNEMONIC, "TREZOR"), "m/44'/1237'/0'/0/1"
    )


def test_legacy_vectors() -> None:
    cases = json.loads((REFERENCE_CASES / "key-derivation-vectors.json").read_text())
    deriver = KeyDeriver(Secret(cases["mnemonic"]), "legacy")
    assert bip39_seed(cases["mnemonic"]).hex() == cases["bip39_seed_hex"]
    assert len(cases["vectors"]) >= 5
    for vector in cases["vectors"]:
        key = deriver.for_user(vector["user_id"])
        assert legacy_account(vector["user_id"]) == vector["account"]
        assert key.path == f"legacy:{vector['account']}"
        assert key.secret.reveal() == vector["seckey_hex"]
        assert key.pubkey_hex == vector["pubkey_hex"]
        assert key.npub == vector["npub"]
        assert key.nsec() == vector["nsec"]


def test_legacy_is_not_nip06() -> None:
    legacy = KeyDeriver(Secret(MNEMONIC), "legacy").for_user(0)
    assert legacy.pubkey_hex != NIP06_VECTORS[0][3]
    expected = hashlib.sha256(bip39_seed(MNEMONIC) + legacy_account("0").to_bytes(4, "big")).hexdigest()
    assert legacy.secret.reveal() == expected


def test_nip06_refuses_the_empty_id() -> None:
    with pytest.raises(InputError):
        KeyDeriver(Secret(MNEMONIC)).for_user("")


# --- mnemonic errors -----------------------------------------------------------------------------


def _tokens(message: str) -> set[str]:
    return set(re.findall(r"[a-z]+", message.lower()))


def _assert_no_word_leaks(message: str, phrase: str) -> None:
    tokens = _tokens(message)
    for word in phrase.lower().split():
        assert word not in tokens, (word, message)
    # Stronger: the message uses no BIP-39 word at all, so no phrase can ever leak through it.
    assert not tokens & ENGLISH, tokens & ENGLISH


def test_unknown_word_is_named_by_position() -> None:
    words = MNEMONIC.split()
    words[2] = "parrrot"
    phrase = " ".join(words)
    with pytest.raises(InputError) as info:
        KeyDeriver(Secret(phrase))
    message = str(info.value)
    assert "3rd" in message and "12" in message
    assert "parrrot" not in message
    _assert_no_word_leaks(message, phrase)


def test_bad_checksum_is_reported_without_the_phrase() -> None:
    words = MNEMONIC.split()
    words[0], words[1] = words[1], words[0]
    phrase = " ".join(words)
    with pytest.raises(InputError, match="checksum") as info:
        KeyDeriver(Secret(phrase))
    _assert_no_word_leaks(str(info.value), phrase)


@pytest.mark.parametrize("count", [1, 11, 13, 25])
def test_wrong_word_count(count: int) -> None:
    phrase = " ".join(["abandon"] * count)
    with pytest.raises(InputError, match=f"has {count} words") as info:
        KeyDeriver(Secret(phrase))
    _assert_no_word_leaks(str(info.value), phrase)


@given(st.lists(st.sampled_from(sorted(ENGLISH)), min_size=12, max_size=12), st.integers(0, 11))
@settings(max_examples=60)
def test_no_error_ever_echoes_a_word(words: list[str], typo_at: int) -> None:
    words = list(words)
    words[typo_at] = words[typo_at] + "x"
    phrase = " ".join(words)
    with pytest.raises(InputError) as info:
        normalize_mnemonic(Secret(phrase))
    assert f"{typo_at + 1}" in str(info.value)
    _assert_no_word_leaks(str(info.value), phrase)


def test_mnemonic_is_normalized() -> None:
    messy = "  " + MNEMONIC.upper().replace(" ", " \n\t") + " "
    assert KeyDeriver(Secret(messy)).for_user(0).pubkey_hex == NIP06_VECTORS[0][3]


def test_key_repr_hides_the_secret(deriver: KeyDeriver) -> None:
    key = deriver.for_user(42)
    text = repr(key) + str(key) + repr(deriver)
    assert key.secret.reveal() not in text
    assert key.nsec() not in text
    assert "nsec" not in text


# --- key files -----------------------------------------------------------------------------------


def test_key_file_nsec_and_hex(tmp_path, deriver: KeyDeriver) -> None:  # type: ignore[no-untyped-def]
    key = deriver.for_user(7)
    nsec_file = tmp_path / "k1"
    nsec_file.write_text("\n" + key.nsec() + "\n")
    hex_file = tmp_path / "k2"
    hex_file.write_text(key.secret.reveal().upper())
    for path in (nsec_file, hex_file):
        loaded = load_key_file(path, "7")
        assert loaded.pubkey_hex == key.pubkey_hex
        assert loaded.path == f"file:{path}"
        assert loaded.user_id == "7"


@pytest.mark.parametrize("content", ["", "hello", "ab" * 31, "00" * 32, "ff" * 32, "nsec1qqqq"])
def test_bad_key_files(tmp_path, content: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "key"
    path.write_text(content)
    with pytest.raises(InputError) as info:
        load_key_file(path)
    if len(content) > 4:
        assert content not in str(info.value).replace(str(path), "")


def test_missing_key_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match="not found"):
        load_key_file(tmp_path / "nope")


def test_parse_secret_key_roundtrip(deriver: KeyDeriver) -> None:
    key = deriver.for_user(99)
    assert parse_secret_key(key.nsec()).hex() == key.secret.reveal()
