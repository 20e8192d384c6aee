"""The keys command: show a mirror identity (SPEC §3)."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer

from nostrweet.cache import layout
from nostrweet.cli.common import command_store
from nostrweet.cli.root import app, options_of
from nostrweet.errors import InputError, NotFoundError
from nostrweet.nostr.keys import KeyDeriver, MirrorKey, parse_user_id
from nostrweet.publish.keyring import key_ring
from nostrweet.settings import GlobalOptions
from nostrweet.store import CacheStore


def resolve_user_id(store: CacheStore, who: str) -> str:
    """A numeric id as given, or a username's id from its newest cached profile snapshot."""
    text = who.strip()
    if text.isascii() and text.isdigit():
        return parse_user_id(text)
    username = layout.normalize_username(text)
    profile = store.newest_profile_raw(username)
    user_id = profile.get("id") if isinstance(profile, dict) else None
    if not isinstance(user_id, str | int) or not str(user_id).isdigit():
        raise NotFoundError(
            f"@{username} is not cached: run fetch-profile {username} first, or give a bearer token"
        )
    return parse_user_id(str(user_id))


def resolve_or_fetch_user_id(options: GlobalOptions, store: CacheStore, who: str) -> str:
    """Like :func:`resolve_user_id`; a username that is not cached is looked up on X (and its profile
    cached) when a bearer token is configured."""
    try:
        return resolve_user_id(store, who)
    except NotFoundError:
        if options.bearer_token is None:
            raise
    username = layout.normalize_username(who.strip())

    async def fetch() -> str:
        from nostrweet.cli.archive_cmds import open_archiver

        async with open_archiver(options, skip_profiles=True) as archiver:
            return (await archiver.resolve_user(username)).id

    return parse_user_id(asyncio.run(fetch()))


def _username_of(who: str) -> str | None:
    text = who.strip()
    if text.isascii() and text.isdigit():
        return None
    try:
        return layout.normalize_username(text)
    except InputError:
        return None


def identity_json(key: MirrorKey, username: str | None, *, show_secret: bool) -> dict[str, str | None]:
    """The ``keys --json`` object; the nsec only when asked for."""
    payload: dict[str, str | None] = {
        "user_id": key.user_id or None,
        "username": username,
        "path": key.path,
        "npub": key.npub,
        "pubkey": key.pubkey_hex,
    }
    if show_secret:
        payload["nsec"] = key.nsec()
    return payload


@app.command("keys")
def keys(
    ctx: typer.Context,
    who: Annotated[str, typer.Argument(metavar="USERNAME_OR_ID")],
    show_secret: Annotated[bool, typer.Option("--show-secret", help="Also print the nsec.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Print a mirror identity: user id, derivation path, npub, hex pubkey."""
    options = options_of(ctx)
    with command_store(options, read_only=True) as store:
        ring = key_ring(
            store,
            options.config.key_files(),
            lambda: KeyDeriver(options.require_mnemonic(), options.key_derivation),
        )
        username = _username_of(who)
        key = ring.by_username(username) if username else None  # a fixed key file needs no mnemonic
        if key is None:
            key = ring.for_user(resolve_or_fetch_user_id(options, store, who))
    if as_json:
        typer.echo(json.dumps(identity_json(key, _username_of(who), show_secret=show_secret)))
        return
    typer.echo(f"user id: {key.user_id}")
    typer.echo(f"path:    {key.path}")
    typer.echo(f"npub:    {key.npub}")
    typer.echo(f"pubkey:  {key.pubkey_hex}")
    if show_secret:
        typer.echo(f"nsec:    {key.nsec()}")
