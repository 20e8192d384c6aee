"""Pure Blossom parts: the kind 24242 auth event, the header, descriptor checks, the server's checks."""

from __future__ import annotations

import base64
import json

import pytest

from nostrweet.nostr.blossom import BlossomError, auth_header, build_upload_auth, parse_descriptor, sha256_hex
from nostrweet.nostr.event import verify_event
from tests.fakes.blossom_server import check_upload_auth, decode_auth
from tests.fakes.nostr_helpers import random_key

SHA = sha256_hex(b"blob")


def test_auth_event_shape() -> None:
    key = random_key()
    event = build_upload_auth(key, SHA, now=1_700_000_000, name="photo.jpg")
    assert event.kind == 24242
    assert event.pubkey == key.pubkey_hex
    assert event.created_at == 1_700_000_000
    assert event.tags == (("t", "upload"), ("x", SHA), ("expiration", "1700000300"))
    assert event.content == "Upload photo.jpg"
    assert verify_event(event)
    assert build_upload_auth(key, SHA, now=1_700_000_000, ttl=60).tags[2] == ("expiration", "1700000060")


def test_auth_header_round_trip() -> None:
    event = build_upload_auth(random_key(), SHA, now=1_700_000_000)
    header = auth_header(event)
    assert header.startswith("Nostr ")
    assert json.loads(base64.b64decode(header[6:])) == event.to_dict()
    assert decode_auth(header) == event
    assert decode_auth(header.rstrip("=")) == event  # unpadded is accepted too


def test_server_checks() -> None:
    key = random_key()
    good = build_upload_auth(key, SHA, now=1_700_000_000)
    check_upload_auth(good, SHA, now=1_700_000_100)
    with pytest.raises(ValueError, match="x tag"):
        check_upload_auth(good, sha256_hex(b"other"), now=1_700_000_100)
    with pytest.raises(ValueError, match="expired"):
        check_upload_auth(good, SHA, now=1_700_000_300)
    with pytest.raises(ValueError):
        decode_auth("Bearer abc")


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"url": "http://s/x", "sha256": "0" * 64, "size": 4}, "sha256"),
        ({"url": "http://s/x", "sha256": SHA, "size": 5}, "size"),
        ({"sha256": SHA, "size": 4}, "url"),
        ([], "descriptor"),
    ],
)
def test_descriptor_mismatch_is_an_error(payload: object, reason: str) -> None:
    with pytest.raises(BlossomError, match=reason):
        parse_descriptor("http://s", payload, SHA, 4)


def test_descriptor_ok() -> None:
    url = f"http://s/{SHA}.jpg"
    d = parse_descriptor("http://s", {"url": url, "sha256": SHA, "size": 4, "type": "image/jpeg"}, SHA, 4)
    assert (d.url, d.sha256, d.size, d.type) == (url, SHA, 4, "image/jpeg")
