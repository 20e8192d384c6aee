"""NIP-05 names of the mirrors (SPEC §10): the domain, the kind 0 ``nip05`` field, the nostr.json document.

The document is also read back by nostr-sdk's own NIP-05 code (``Nip05Profile.from_json`` and
``nip05_verify_from_json``), which no one here wrote.
"""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import nostr_sdk
import pytest

from nostrweet.bridge.nip05 import (
    ProfileSnapshot,
    current_names,
    nip05_answer,
    nip05_document,
    nip05_identifier,
    nip05_name,
    render_nip05_document,
)
from nostrweet.bridge.profile import build_profile_event, profile_metadata
from nostrweet.config import parse_config
from nostrweet.domains import parse_nip05_domain, resolve_nip05_domain
from nostrweet.errors import ConfigError, InputError
from nostrweet.publish.plan import profile_changed
from nostrweet.twitter.models import User

A = "a" * 64
B = "b" * 64
C = "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("given", "domain"),
    [
        ("example.com", "example.com"),
        ("Mirror.Example.COM", "mirror.example.com"),
        ("  nostr.example.org ", "nostr.example.org"),
        ("localhost", "localhost"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("a-b.c1.example", "a-b.c1.example"),
    ],
)
def test_domain_accepted(given: str, domain: str) -> None:
    assert parse_nip05_domain(given) == domain


@pytest.mark.parametrize(
    "given",
    [
        "",
        "   ",
        "https://example.com",
        "example.com/",
        "example.com:8080",
        "alice@example.com",
        "-bad.example",
        "bad-.example",
        "exa_mple.com",
        "example..com",
        ".example.com",
        "example.com.",
        "bücher.example",
        "a" * 64 + ".example",
        ("a" * 60 + ".") * 5 + "com",
    ],
)
def test_domain_rejected_with_one_clear_line(given: str) -> None:
    with pytest.raises(InputError) as err:
        parse_nip05_domain(given)
    assert err.value.exit_code == 2
    assert str(err.value).startswith("--nip05-domain ") and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("flag", "configured", "expected"),
    [
        (None, None, None),
        ("Flag.Example", "file.example", "flag.example"),
        (None, "File.Example", "file.example"),
    ],
)
def test_domain_flag_over_config(flag: str | None, configured: str | None, expected: str | None) -> None:
    assert resolve_nip05_domain(flag, configured) == expected


def test_config_key_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    ok = parse_config('[nostr]\nnip05_domain = "mirror.example"\n', path)
    assert ok.get("nostr", "nip05_domain") == "mirror.example"
    with pytest.raises(ConfigError) as err:
        parse_config('[nostr]\nnip05_domain = "https://mirror.example"\n', path)
    assert "[nostr] nip05_domain must be a hostname" in str(err.value)


@pytest.mark.parametrize(
    ("username", "name"),
    [
        ("Alice", "alice"),
        ("WhoDisTweet", "whodistweet"),
        ("antifascista__1", "antifascista__1"),
        ("a.b-c", "a.b-c"),
    ],
)
def test_names_are_lower_case_usernames(username: str, name: str) -> None:
    assert nip05_name(username) == name
    assert nip05_identifier(username, "m.example") == f"{name}@m.example"


@pytest.mark.parametrize("username", ["", "al ice", "al@ice", "bö"])
def test_names_outside_nip05_are_refused(username: str) -> None:
    with pytest.raises(ValueError):
        nip05_name(username)


# (pubkeys, relays, relays_of, name) -> document
DOCUMENTS = [
    pytest.param({"Alice": A, "bob": B}, (), None, None, {"names": {"alice": A, "bob": B}}, id="no-relays"),
    pytest.param(
        {"bob": B, "Alice": A},
        ("wss://r1.example", "wss://r2.example", "wss://r1.example"),
        None,
        None,
        {
            "names": {"alice": A, "bob": B},
            "relays": {
                A: ["wss://r1.example", "wss://r2.example"],
                B: ["wss://r1.example", "wss://r2.example"],
            },
        },
        id="relays-for-all",
    ),
    pytest.param(
        {"alice": A, "bob": B},
        ("wss://r1.example",),
        {"Bob": ["wss://own.example"]},
        None,
        {"names": {"alice": A, "bob": B}, "relays": {A: ["wss://r1.example"], B: ["wss://own.example"]}},
        id="own-relays",
    ),
    pytest.param(
        {"alice": A, "bob": B},
        (),
        {"bob": ["wss://own.example"]},
        None,
        {"names": {"alice": A, "bob": B}, "relays": {B: ["wss://own.example"]}},
        id="only-one-has-relays",
    ),
    pytest.param(
        {"alice": A, "bob": B},
        ("wss://r1.example",),
        None,
        "bob",
        {"names": {"bob": B}, "relays": {B: ["wss://r1.example"]}},
        id="lookup",
    ),
    pytest.param(
        {"alice": A, "bob": B}, (), None, "BOB", {"names": {"bob": B}}, id="lookup-is-case-insensitive"
    ),
    pytest.param({"alice": A}, ("wss://r1.example",), None, "carol", {"names": {}}, id="unknown-name"),
    pytest.param({"alice": A}, (), None, "", {"names": {}}, id="empty-name"),
    pytest.param({"alice": C.upper()}, (), None, None, {"names": {"alice": C}}, id="hex-lower-cased"),
    pytest.param({}, ("wss://r1.example",), None, None, {"names": {}}, id="no-mirrors"),
]


@pytest.mark.parametrize(("pubkeys", "relays", "relays_of", "name", "expected"), DOCUMENTS)
def test_document(
    pubkeys: dict[str, str],
    relays: tuple[str, ...],
    relays_of: dict[str, list[str]] | None,
    name: str | None,
    expected: dict[str, object],
) -> None:
    assert nip05_document(pubkeys, relays, relays_of=relays_of, name=name) == expected


def test_document_refuses_a_bad_pubkey() -> None:
    with pytest.raises(ValueError):
        nip05_document({"alice": "npub1xyz"})


def test_answer_is_200_json_with_cors_for_known_and_unknown_names() -> None:
    for name, names in (("alice", {"alice": A}), ("nobody", {})):
        answer = nip05_answer({"alice": A}, ["wss://r.example"], name=name)
        assert answer.status == 200
        assert answer.headers["Access-Control-Allow-Origin"] == "*"
        assert answer.headers["Content-Type"] == "application/json"
        assert json.loads(answer.body)["names"] == names


@pytest.mark.parametrize(
    ("snapshots", "expected"),
    [
        ([ProfileSnapshot("1", "Alice", 10)], {"alice": "1"}),
        ([ProfileSnapshot("1", "Alice", 10), ProfileSnapshot("2", "Bob", 5)], {"alice": "1", "bob": "2"}),
        # a renamed account moves its name
        ([ProfileSnapshot("1", "Alice", 10), ProfileSnapshot("1", "Alicia", 20)], {"alicia": "1"}),
        ([ProfileSnapshot("1", "Alicia", 20), ProfileSnapshot("1", "Alice", 10)], {"alicia": "1"}),
        # a freed name taken by another account: the newer claim wins
        (
            [
                ProfileSnapshot("1", "Alice", 10),
                ProfileSnapshot("1", "Alicia", 20),
                ProfileSnapshot("2", "alice", 30),
            ],
            {"alice": "2", "alicia": "1"},
        ),
        ([ProfileSnapshot("1", "ALICE", 10), ProfileSnapshot("2", "alice", 5)], {"alice": "1"}),
        # a name NIP-05 does not allow is left out, not an error
        ([ProfileSnapshot("1", "Alice", 10), ProfileSnapshot("2", "bö b", 5)], {"alice": "1"}),
    ],
)
def test_current_names(snapshots: list[ProfileSnapshot], expected: dict[str, str]) -> None:
    assert current_names(snapshots) == expected


def _user(username: str) -> User:
    return msgspec.convert({"id": "100", "username": username, "name": "Alice A."}, User)


@pytest.mark.parametrize(
    ("domain", "nip05"),
    [(None, None), ("mirror.example", "alice@mirror.example"), ("other.example", "alice@other.example")],
)
def test_kind0_carries_nip05_with_a_domain(domain: str | None, nip05: str | None) -> None:
    assert profile_metadata(_user("Alice"), domain).get("nip05") == nip05
    event = build_profile_event(_user("Alice"), A, 1700000000, domain)
    assert json.loads(event.content).get("nip05") == nip05


def test_kind0_leaves_out_a_name_nip05_does_not_allow() -> None:
    assert "nip05" not in profile_metadata(_user("bö b"), "mirror.example")


def test_a_new_domain_or_a_rename_changes_the_kind0_content() -> None:
    """Kind 0 is republished only when its content changed: these changes are seen as changes."""
    base = build_profile_event(_user("Alice"), A, 1, None).content
    with_domain = build_profile_event(_user("Alice"), A, 1, "mirror.example").content
    other_domain = build_profile_event(_user("Alice"), A, 1, "other.example").content
    renamed = build_profile_event(_user("Alicia"), A, 1, "mirror.example").content
    assert profile_changed(with_domain, base)
    assert profile_changed(other_domain, with_domain)
    assert profile_changed(renamed, with_domain)
    assert json.loads(renamed)["nip05"] == "alicia@mirror.example"
    assert not profile_changed(
        build_profile_event(_user("Alice"), A, 2, "mirror.example").content, with_domain
    )


def test_nostr_sdk_reads_the_document() -> None:
    """nostr-sdk's NIP-05 code (not ours) finds each name's pubkey and relays in the rendered document."""
    keys = {name: nostr_sdk.Keys.generate().public_key() for name in ("alice", "bob_2")}
    pubkeys = {name.capitalize(): pk.to_hex() for name, pk in keys.items()}
    text = render_nip05_document(nip05_document(pubkeys, ["wss://relay.example"])).decode()
    for name, pk in keys.items():
        address = nostr_sdk.Nip05Address.parse(f"{name}@mirror.example")
        assert address.url() == f"https://mirror.example/.well-known/nostr.json?name={name}"
        assert nostr_sdk.nip05_verify_from_json(pk, address, text)
        profile = nostr_sdk.Nip05Profile.from_json(address, text)
        assert profile.public_key().to_hex() == pk.to_hex()
        assert [str(r) for r in profile.relays()] == ["wss://relay.example"]
    stranger = nostr_sdk.Keys.generate().public_key()
    assert not nostr_sdk.nip05_verify_from_json(
        stranger, nostr_sdk.Nip05Address.parse("alice@mirror.example"), text
    )
