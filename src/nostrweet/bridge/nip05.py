"""NIP-05 names of the mirror identities: the domain, the ``nip05`` field, and ``/.well-known/nostr.json``.

Pure: no I/O. A mirror's name is its lower-case X username (X allows ``A-Za-z0-9_``, all inside NIP-05's
``a-z0-9-_.``). :func:`nip05_document` builds the JSON document for every mirror, or for the one name a
``?name=`` lookup asks for; :func:`nip05_answer` is the whole HTTP answer (status, headers with the CORS
header NIP-05 requires, body), so a web server only has to call it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

import msgspec

NIP05_PATH = "/.well-known/nostr.json"
NIP05_HEADERS: Mapping[str, str] = {
    "Content-Type": "application/json",
    "Access-Control-Allow-Origin": "*",  # NIP-05: browser clients must be able to read the answer
}

_NAME = re.compile(r"[a-z0-9._-]+")
_PUBKEY = re.compile(r"[0-9a-f]{64}")


def nip05_name(username: str) -> str:
    """The NIP-05 local part of a mirror: its lower-case username; ValueError if NIP-05 does not allow it."""
    name = username.strip().lower()
    if not _NAME.fullmatch(name):
        raise ValueError(f"not a NIP-05 name: {username!r}")
    return name


def is_nip05_name(username: str) -> bool:
    """True when the lower-case ``username`` is a valid NIP-05 local part."""
    return _NAME.fullmatch(username.strip().lower()) is not None


def nip05_identifier(username: str, domain: str) -> str:
    """``<username>@<domain>``, the ``nip05`` field of a mirror's kind 0."""
    return f"{nip05_name(username)}@{domain}"


def nip05_document(
    pubkeys: Mapping[str, str],
    relays: Sequence[str] = (),
    *,
    relays_of: Mapping[str, Sequence[str]] | None = None,
    name: str | None = None,
) -> dict[str, dict[str, object]]:
    """The NIP-05 document ``{"names": {name: pubkey}, "relays": {pubkey: [url, ...]}}``.

    ``pubkeys`` maps usernames (any case) to hex pubkeys; ``relays`` are every mirror's relays, unless
    ``relays_of`` gives a name its own. ``relays`` is left out when no mirror has any. With ``name`` (a
    ``?name=`` lookup, case-insensitive), only that entry is in the document; an unknown name gives empty
    ``names``.
    """
    entries = {nip05_name(user): pubkey.lower() for user, pubkey in pubkeys.items()}
    for user, pubkey in entries.items():
        if not _PUBKEY.fullmatch(pubkey):
            raise ValueError(f"not a hex pubkey for {user!r}: {pubkey!r}")
    own = {nip05_name(user): list(urls) for user, urls in (relays_of or {}).items()}
    if name is not None:
        wanted = name.strip().lower()
        entries = {wanted: entries[wanted]} if wanted in entries else {}
    names = dict(sorted(entries.items()))
    relay_map: dict[str, object] = {}
    for user, pubkey in names.items():
        urls = list(dict.fromkeys(own.get(user, relays)))
        if urls:
            relay_map[pubkey] = urls
    document: dict[str, dict[str, object]] = {"names": dict(names)}
    if relay_map:
        document["relays"] = relay_map
    return document


def render_nip05_document(document: Mapping[str, object]) -> bytes:
    """The document as UTF-8 JSON, indented, ending with a newline."""
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()


class Nip05Answer(msgspec.Struct, frozen=True):
    """An HTTP answer to ``GET /.well-known/nostr.json``."""

    status: int
    headers: Mapping[str, str]
    body: bytes


def nip05_answer(
    pubkeys: Mapping[str, str],
    relays: Sequence[str] = (),
    *,
    relays_of: Mapping[str, Sequence[str]] | None = None,
    name: str | None = None,
) -> Nip05Answer:
    """The answer to ``GET /.well-known/nostr.json[?name=<name>]``: always 200 (an unknown name has no entry)."""
    document = nip05_document(pubkeys, relays, relays_of=relays_of, name=name)
    return Nip05Answer(200, dict(NIP05_HEADERS), render_nip05_document(document))


class ProfileSnapshot(msgspec.Struct, frozen=True, gc=False):
    """One cached profile: who (the numeric user id), under which username, and when it was fetched."""

    user_id: str
    username: str
    fetched_at: float


def current_names(snapshots: Sequence[ProfileSnapshot]) -> dict[str, str]:
    """Lower-case username -> user id, from each account's newest snapshot.

    A renamed account keeps only its new name; when two accounts claim one name (the name was freed and
    taken), the newer claim wins. A name NIP-05 does not allow is left out.
    """
    newest: dict[str, ProfileSnapshot] = {}
    for snap in snapshots:
        seen = newest.get(snap.user_id)
        if seen is None or snap.fetched_at > seen.fetched_at:
            newest[snap.user_id] = snap
    owners: dict[str, ProfileSnapshot] = {}
    for snap in newest.values():
        name = snap.username.lower()
        held = owners.get(name)
        if held is None or snap.fetched_at > held.fetched_at:
            owners[name] = snap
    return {name: snap.user_id for name, snap in sorted(owners.items()) if is_nip05_name(name)}
