"""Profiles and lists of a mirror identity: kind 0 (NIP-01/24), kind 10002 (NIP-65), kind 10063 (BUD-03).

Pure: the caller gives ``created_at``. Re-exported by :mod:`nostrweet.bridge.events`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from nostrweet.bridge.content import expanded_link, join_blocks, render_text, tidy
from nostrweet.bridge.nip05 import is_nip05_name, nip05_identifier
from nostrweet.nostr.event import UnsignedEvent
from nostrweet.twitter.models import Entities, User

KIND_METADATA = 0
KIND_RELAY_LIST = 10002
KIND_BLOSSOM_LIST = 10063


def profile_url(username: str) -> str:
    """``https://x.com/<username>``."""
    return f"https://x.com/{username}"


def _expand_description(user: User) -> str:
    text = user.description or ""
    desc = user.entities.description if user.entities else None
    if not text:
        return ""
    rendered = render_text(
        text,
        Entities(urls=desc.urls) if desc else None,
        mention_id=lambda _m: None,
        npub_for=lambda uid: uid,
        url_for=expanded_link,
    )
    return tidy(rendered.text)


def profile_metadata(
    user: User, nip05_domain: str | None = None, handoff_npub: str | None = None
) -> dict[str, object]:
    """The kind 0 content fields of a mirror identity (NIP-01 + NIP-24, and NIP-05 ``nip05`` when a domain
    is given), empty ones left out. ``handoff_npub``: the real person's npub, named in ``about``."""
    notice = f"Mirrored from {profile_url(user.username)} by nostrweet; not run by the account's owner."
    owner = f"The account's owner is on Nostr: nostr:{handoff_npub}" if handoff_npub else ""
    about = join_blocks([_expand_description(user), owner, notice])
    picture = user.profile_image_url
    if picture:
        picture = re.sub(r"_normal(\.[A-Za-z0-9]+)?$", r"\1", picture)
    website = None
    urls = user.entities.url.urls if user.entities and user.entities.url else []
    if urls:
        website = expanded_link(urls[0]) or None
    if not website and user.url and not user.url.startswith(("https://t.co/", "http://t.co/")):
        website = user.url
    fields: dict[str, object] = {
        "name": user.username,
        "display_name": user.name or None,
        "about": about,
        "picture": picture or None,
        "website": website or None,
        "bot": True,
        "nip05": nip05_identifier(user.username, nip05_domain)
        if nip05_domain and is_nip05_name(user.username)
        else None,
    }
    return {k: v for k, v in fields.items() if v is not None}


def build_profile_event(
    user: User,
    pubkey: str,
    created_at: int,
    nip05_domain: str | None = None,
    handoff_npub: str | None = None,
) -> UnsignedEvent:
    """kind 0 of a mirror identity (NIP-01/24, ``bot: true``, NIP-05 ``nip05``) with a NIP-48 proxy tag."""
    content = json.dumps(
        profile_metadata(user, nip05_domain, handoff_npub), ensure_ascii=False, separators=(",", ":")
    )
    return UnsignedEvent(
        pubkey=pubkey,
        created_at=created_at,
        kind=KIND_METADATA,
        tags=(("proxy", profile_url(user.username), "web"),),
        content=content,
    )


def _unique(values: Sequence[str]) -> list[str]:
    out: list[str] = []
    for value in values:
        if value and value not in out:
            out.append(value)
    return out


def build_relay_list_event(pubkey: str, relays: Sequence[str], created_at: int) -> UnsignedEvent:
    """kind 10002 (NIP-65): one ``["r", url]`` per relay (read and write)."""
    tags = tuple(("r", url) for url in _unique(relays))
    return UnsignedEvent(pubkey=pubkey, created_at=created_at, kind=KIND_RELAY_LIST, tags=tags, content="")


def build_blossom_list_event(pubkey: str, servers: Sequence[str], created_at: int) -> UnsignedEvent:
    """kind 10063 (BUD-03): one ``["server", url]`` per Blossom server, most preferred first."""
    tags = tuple(("server", url) for url in _unique(servers))
    return UnsignedEvent(pubkey=pubkey, created_at=created_at, kind=KIND_BLOSSOM_LIST, tags=tags, content="")
