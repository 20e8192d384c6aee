"""NIP-19 (nostr.nip19) against nostr-sdk, an independent implementation, and on bad input."""

from __future__ import annotations

import nostr_sdk
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nostrweet.nostr import nip19

hex32 = st.binary(min_size=32, max_size=32).map(bytes.hex)
relay_urls = st.sampled_from(
    ["wss://relay.damus.io", "wss://relay.damus.io/", "ws://127.0.0.1:7777", "wss://Relay.Example.com/p?x=1"]
)


@given(hex32)
@settings(max_examples=100, deadline=None)
def test_npub_agrees_with_nostr_sdk(pubkey: str) -> None:
    npub = nip19.npub_encode(pubkey)
    if _on_curve(pubkey):
        assert npub == nostr_sdk.PublicKey.parse(pubkey).to_bech32()
    assert nip19.npub_decode(npub) == pubkey


def _on_curve(pubkey: str) -> bool:
    try:
        nostr_sdk.PublicKey.parse(pubkey)
    except Exception:
        return False
    return True


@given(st.binary(min_size=32, max_size=32))
@settings(max_examples=50, deadline=None)
def test_nsec_round_trip_and_agrees_with_nostr_sdk(secret: bytes) -> None:
    nsec = nip19.nsec_encode(secret)
    assert nip19.nsec_decode(nsec) == secret
    try:
        sdk = nostr_sdk.SecretKey.parse(secret.hex())
    except Exception:  # not a valid secp256k1 secret: nothing to compare with
        return
    assert sdk.to_bech32() == nsec
    assert nostr_sdk.SecretKey.parse(nsec).to_hex() == secret.hex()


@given(
    hex32,
    st.lists(relay_urls, max_size=3),
    st.one_of(st.none(), hex32),
    st.one_of(st.none(), st.integers(0, 65535)),
)
@settings(max_examples=100, deadline=None)
def test_nevent_agrees_with_nostr_sdk(
    event_id: str, relays: list[str], author: str | None, kind: int | None
) -> None:
    if author is not None and not _on_curve(author):
        author = None
    ours = nip19.nevent_encode(event_id, [*relays, "not a relay", "https://x.com"], author, kind)
    sdk_relays = [nostr_sdk.RelayUrl.parse(r) for r in relays]
    sdk_author = nostr_sdk.PublicKey.parse(author) if author else None
    sdk_kind = nostr_sdk.Kind(kind) if kind is not None else None
    theirs = nostr_sdk.Nip19Event(
        nostr_sdk.EventId.parse(event_id), author=sdk_author, kind=sdk_kind, relays=sdk_relays
    )
    assert ours == theirs.to_bech32()
    got_id, got_relays, got_author, got_kind = nip19.nevent_decode(ours)
    assert (got_id, got_author, got_kind) == (event_id, author, kind)
    assert got_relays == [str(r) for r in sdk_relays]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "npub1",
        "npub1qqqqqq",
        "nPub1zutzeysacnf9rru6zqwmxd54mud0k44tst6l70ja5mhv8jjumytsd2x7nu",
        "npub1zutzeysacnf9rru6zqwmxd54mud0k44tst6l70ja5mhv8jjumytsd2x7nv",  # checksum
        "npub1zutzeysacnf9rru6zqwmxd54mud0k44tst6l70ja5mhv8jjumytsd2x7bu",  # 'b' is not bech32
        "nsec1zutzeysacnf9rru6zqwmxd54mud0k44tst6l70ja5mhv8jjumytsd2x7nu",  # other prefix
        "npub1" + "q" * 6000,
    ],
)
def test_bad_bech32_is_refused(text: str) -> None:
    with pytest.raises(nip19.Bech32Error):
        nip19.npub_decode(text)


def test_upper_case_bech32_is_read() -> None:
    npub = "npub1zutzeysacnf9rru6zqwmxd54mud0k44tst6l70ja5mhv8jjumytsd2x7nu"
    assert nip19.npub_decode(npub.upper()) == nip19.npub_decode(npub)
