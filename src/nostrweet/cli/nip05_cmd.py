"""``nip05-export DIR``: write ``DIR/.well-known/nostr.json`` naming every mirror identity (SPEC §10)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nostrweet.bridge.nip05 import (
    NIP05_PATH,
    ProfileSnapshot,
    current_names,
    nip05_document,
    render_nip05_document,
)
from nostrweet.cache.atomic import PUBLIC_FILE_MODE, atomic_write_bytes
from nostrweet.cli.common import RelayOption, command_store, relays_from, summary
from nostrweet.cli.root import app, options_of
from nostrweet.errors import NotFoundError
from nostrweet.nostr.keys import KeyDeriver
from nostrweet.publish.keyring import key_ring
from nostrweet.settings import GlobalOptions
from nostrweet.store import CacheStore


def _snapshots(store: CacheStore) -> list[ProfileSnapshot]:
    out = []
    for name in store.usernames():
        if not store.has_profile(name):
            continue
        user = store.newest_profile(name)
        fetched = store.profile_fetched_at(name)
        if user is not None and fetched is not None:
            out.append(ProfileSnapshot(user.id, user.username, fetched.timestamp()))
    return out


def _pubkeys(options: GlobalOptions, store: CacheStore, names: dict[str, str]) -> dict[str, str]:
    """name -> hex pubkey: the user's ``[users.<name>] key_file`` if set, else the derived key (the
    one key rule of every command, :func:`~nostrweet.publish.keyring.key_ring`)."""
    ring = key_ring(
        store,
        options.config.key_files(),
        lambda: KeyDeriver(options.require_mnemonic(), options.key_derivation),
    )
    out = {}
    for name, user_id in names.items():
        ring.bind(name, user_id)
        out[name] = ring.for_user(user_id).pubkey_hex
    return out


@app.command("nip05-export")
def nip05_export(
    ctx: typer.Context,
    directory: Annotated[
        Path, typer.Argument(metavar="DIR", help="Web root: DIR/.well-known/nostr.json is written.")
    ],
    relay: RelayOption = None,
) -> None:
    """Write DIR/.well-known/nostr.json (NIP-05) naming every mirror identity in the archive.

    Names are the lower-case usernames of the accounts with a cached profile; "relays" lists the configured relays, if any. Serve DIR with any web server, with the header Access-Control-Allow-Origin: *.
    """
    options = options_of(ctx)
    relays = relays_from(options, relay, required=False)
    options.require_mnemonic()
    with command_store(options, read_only=True) as store:
        names = current_names(_snapshots(store))
        if not names:
            raise NotFoundError("no cached profiles: run fetch-profile or user-tweets first")
        relays_of = {
            name: list(o.relays)
            for name, o in options.config.users.items()
            if o.relays is not None and name in names
        }
        document = nip05_document(_pubkeys(options, store, names), relays, relays_of=relays_of)
    target = directory / NIP05_PATH.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)  # for a web server: not private
    atomic_write_bytes(target, render_nip05_document(document), mode=PUBLIC_FILE_MODE)
    summary(options, f"wrote {target}: {len(names)} name(s)")
