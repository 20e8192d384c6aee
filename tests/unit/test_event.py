"""NIP-01 serialization, ids, BIP-340 signatures, and NIP-19 encodings (nostr/event.py)."""

from __future__ import annotations

import hashlib
import json

import coincurve
import nostr_sdk
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nostrweet.errors import InputError
from nostrweet.nostr.event import (
    InvalidEventError,
    SignedEvent,
    UnsignedEvent,
    nevent_of,
    npub_of,
    pubkey_from_npub_or_hex,
    sign_event,
    verify_event,
)
from nostrweet.nostr.keys import KeyDeriver, MirrorKey
from nostrweet.settings import Secret


def to_sdk_event(event: SignedEvent) -> nostr_sdk.Event:
    return nostr_sdk.Event.from_json(event.to_json())


def from_sdk_event(sdk: nostr_sdk.Event) -> SignedEvent:
    return SignedEvent.from_json(sdk.as_json())


MNEMONIC = "leader monkey parrot ring guide accident before fence cannon height naive bean"
KEY: MirrorKey = KeyDeriver(Secret(MNEMONIC)).for_user(0)
PUB = KEY.pubkey_hex


def test_serialization_is_nip01_exact() -> None:
    content = 'a"b\\c\nd\re\tf\bg\fh\x01i\x7fj é 😀 \u2028'
    event = UnsignedEvent(PUB, 1700000000, 1, (("t", "x"), ("e", "1", "", "root")), content)
    expected = (
        f'[0,"{PUB}",1700000000,1,[["t","x"],["e","1","","root"]],'
        '"a\\"b\\\\c\\nd\\re\\tf\\bg\\fh\\u0001i\x7fj é 😀 \u2028"]'
    ).encode()
    assert event.serialize() == expected
    assert event.event_id() == hashlib.sha256(expected).hexdigest()


def test_serialization_writes_every_code_point_as_json_dumps_does() -> None:
    """The id preimage is the stdlib's compact ``ensure_ascii=False`` JSON, byte for byte, for every
    character a str can hold in UTF-8 (all but the lone surrogates, which neither writer encodes)."""
    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    tags = (("t", every[:5000]), ("e", every[::7]))
    event = UnsignedEvent(PUB, 1700000000, 30023, tags, every)
    payload = [0, PUB, 1700000000, 30023, [list(t) for t in tags], every]
    expected = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    assert event.serialize() == expected


def test_serialization_of_str_subclasses_is_the_same() -> None:
    class Label(str):
        pass

    plain = UnsignedEvent(PUB, 1, 1, (("t", "x"),), "a\nb")
    sub = UnsignedEvent(PUB, 1, 1, ((Label("t"), Label("x")),), Label("a\nb"))
    assert sub.serialize() == plain.serialize()


@settings(max_examples=100)
@given(
    content=st.text(),
    tags=st.lists(st.lists(st.text(max_size=20), min_size=1, max_size=4).map(tuple), max_size=5),
)
def test_serialization_matches_json_dumps(content: str, tags: list[tuple[str, ...]]) -> None:
    event = UnsignedEvent(PUB, 1700000000, 1, tuple(tags), content)
    payload = [0, PUB, 1700000000, 1, [list(t) for t in tags], content]
    try:
        expected = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no UTF-8 for it, so no id either way
        with pytest.raises(UnicodeEncodeError):
            event.serialize()
        return
    assert event.serialize() == expected


@settings(max_examples=100)
@given(
    content=st.text(),
    tags=st.lists(st.lists(st.text(max_size=20), min_size=1, max_size=4).map(tuple), max_size=5),
)
def test_event_json_is_json_dumps_of_the_dict(content: str, tags: list[tuple[str, ...]]) -> None:
    event = SignedEvent("a" * 64, PUB, 1700000000, 1, tuple(tags), content, "b" * 128)
    assert event.to_json() == json.dumps(event.to_dict(), ensure_ascii=False, separators=(",", ":"))


def test_sign_and_verify_independently() -> None:
    event = sign_event(UnsignedEvent(PUB, 1700000000, 1, (("client", "nostrweet"),), "hello ✓"), KEY)
    assert verify_event(event)
    # Verify with coincurve directly, from our own serialization.
    digest = hashlib.sha256(event.unsigned().serialize()).digest()
    assert digest.hex() == event.id
    assert coincurve.PublicKeyXOnly(bytes.fromhex(PUB)).verify(bytes.fromhex(event.sig), digest)
    # And nostr-sdk accepts it.
    sdk = to_sdk_event(event)
    assert sdk.verify()
    assert sdk.id().to_hex() == event.id
    assert from_sdk_event(sdk) == event


def test_signatures_are_deterministic() -> None:
    unsigned = UnsignedEvent(PUB, 1, 1, (), "same")
    assert sign_event(unsigned, KEY) == sign_event(unsigned, KEY)


def test_wrong_key_is_refused() -> None:
    other = KeyDeriver(Secret(MNEMONIC)).for_user(1)
    with pytest.raises(InvalidEventError):
        sign_event(UnsignedEvent(PUB, 1, 1, (), "x"), other)


def test_tampering_is_detected() -> None:
    event = sign_event(UnsignedEvent(PUB, 1700000000, 1, (), "original"), KEY)
    changed = SignedEvent(
        event.id, event.pubkey, event.created_at, event.kind, event.tags, "changed", event.sig
    )
    assert not verify_event(changed)
    bad_sig = event.sig[:-2] + ("00" if event.sig[-2:] != "00" else "01")
    forged = SignedEvent(
        event.id, event.pubkey, event.created_at, event.kind, event.tags, event.content, bad_sig
    )
    assert not verify_event(forged)
    garbage = SignedEvent(event.id, "zz", event.created_at, event.kind, event.tags, event.content, event.sig)
    assert not verify_event(garbage)


def test_from_dict_checks_the_id() -> None:
    event = sign_event(UnsignedEvent(PUB, 1700000000, 1, (("p", PUB),), "x"), KEY)
    data = event.to_dict()
    assert SignedEvent.from_dict(data) == event
    assert SignedEvent.from_json(event.to_json()) == event
    for field, value in [("content", "y"), ("kind", 2), ("id", "0" * 64), ("tags", [["p"], 3])]:
        broken = dict(data, **{field: value})
        with pytest.raises(InvalidEventError):
            SignedEvent.from_dict(broken)
    with pytest.raises(InvalidEventError, match="lacks"):
        SignedEvent.from_dict({k: v for k, v in data.items() if k != "sig"})
    with pytest.raises(InvalidEventError):
        SignedEvent.from_json("[1,2]")


_tag_text = st.text(max_size=20)


@given(
    content=st.text(max_size=200),
    tags=st.lists(st.lists(_tag_text, min_size=1, max_size=4), max_size=5),
    kind=st.integers(0, 65535),
    created_at=st.integers(0, 2**40),
)
@settings(max_examples=150, deadline=None)
def test_ids_agree_with_nostr_sdk(content: str, tags: list[list[str]], kind: int, created_at: int) -> None:
    unsigned = UnsignedEvent(PUB, created_at, kind, tuple(tuple(t) for t in tags), content)
    event = sign_event(unsigned, KEY)
    sdk = nostr_sdk.Event.from_json(event.to_json())
    assert sdk.verify_id() and sdk.verify_signature()
    assert from_sdk_event(sdk) == event


def test_events_signed_by_nostr_sdk_verify_here() -> None:
    tags = [nostr_sdk.Tag.parse(["t", "nostr"]), nostr_sdk.Tag.parse(["r", "https://x.com/i/status/1"])]
    builder = nostr_sdk.EventBuilder(nostr_sdk.Kind(1), 'quote " and \\ and \n newline ✓').tags(tags)
    sdk_event = builder.finalize(nostr_sdk.Keys(nostr_sdk.SecretKey.parse(KEY.secret.reveal())))
    event = from_sdk_event(sdk_event)
    assert verify_event(event)
    assert json.loads(event.to_json())["id"] == sdk_event.id().to_hex()


def test_nip19() -> None:
    assert npub_of(PUB) == "npub1zutzeysacnf9rru6zqwmxd54mud0k44tst6l70ja5mhv8jjumytsd2x7nu"
    assert pubkey_from_npub_or_hex(npub_of(PUB)) == PUB
    assert pubkey_from_npub_or_hex("nostr:" + npub_of(PUB)) == PUB
    assert pubkey_from_npub_or_hex(PUB.upper()) == PUB
    event_id = "ab" * 32
    encoded = nevent_of(event_id, ["wss://relay.example.com", "not a relay"], PUB, 1)
    assert encoded.startswith("nevent1")
    decoded = nostr_sdk.Nip19Event.from_bech32(encoded)
    assert decoded.event_id().to_hex() == event_id
    author = decoded.author()
    assert author is not None and author.to_hex() == PUB
    assert [str(r) for r in decoded.relays()] == ["wss://relay.example.com"]
    assert nevent_of(event_id, [], None).startswith("nevent1")


@pytest.mark.parametrize("junk", ["", "npub1xyz", "zz" * 32, "hello", KEY.nsec(), "nostr:nevent1qq"])
def test_pubkey_junk_is_input_error_without_echo(junk: str) -> None:
    with pytest.raises(InputError) as info:
        pubkey_from_npub_or_hex(junk)
    if junk:
        assert junk not in str(info.value)
