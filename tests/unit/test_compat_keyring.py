"""One rule for a user's mirror key: the config's fixed key file, else the derived key."""

from __future__ import annotations

from pathlib import Path

import pytest

from nostrweet.nostr.keys import KeyDeriver, load_key_file
from nostrweet.publish.keyring import KeyRing
from nostrweet.settings import Secret

MNEMONIC = Secret("abandon " * 11 + "about")


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "alice.key"
    path.write_text("22" * 32 + "\n")
    return path


def test_a_key_file_serves_the_users_id_once_the_cache_knows_it(key_file: Path) -> None:
    known: dict[str, str] = {}
    deriver = KeyDeriver(MNEMONIC, "nip06")
    ring = KeyRing(deriver, {"alice": key_file}, known.get)
    fixed = load_key_file(key_file).pubkey_hex
    assert ring.for_user("42").pubkey_hex == deriver.for_user("42").pubkey_hex  # id not known yet
    known["alice"] = "42"
    assert ring.for_user("42").pubkey_hex == fixed
    assert ring.for_user(42).pubkey_hex == fixed
    assert ring.mirror_pubkeys("42") == (fixed,)
    assert ring.for_user("43").pubkey_hex == deriver.for_user("43").pubkey_hex
    assert ring.mirror_pubkeys("43") == deriver.mirror_pubkeys("43")


def test_bind_and_by_username(key_file: Path) -> None:
    ring = KeyRing(lambda: KeyDeriver(MNEMONIC, "nip06"), {"alice": key_file})
    fixed = load_key_file(key_file).pubkey_hex
    unbound = ring.by_username("alice")
    assert unbound is not None and unbound.pubkey_hex == fixed and unbound.user_id == ""
    ring.bind("alice", "7")
    bound = ring.by_username("alice")
    assert bound is not None and bound.user_id == "7"
    assert ring.for_user("7").pubkey_hex == fixed
    assert ring.by_username("bob") is None


def test_the_mnemonic_is_needed_only_for_a_derived_key(key_file: Path) -> None:
    def no_mnemonic() -> KeyDeriver:
        raise AssertionError("the deriver was made")

    ring = KeyRing(no_mnemonic, {"alice": key_file}, {"alice": "7"}.get)
    assert ring.for_user("7").pubkey_hex == load_key_file(key_file).pubkey_hex
    with pytest.raises(AssertionError):
        ring.for_user("8")
