"""The keys command: show a mirror identity (SPEC §3)."""

from __future__ import annotations

from typing import Annotated

import typer

from nostrweet.cli.app import app
from nostrweet.cli.common import not_yet


@app.command("keys")
def keys(
    ctx: typer.Context,
    who: Annotated[str, typer.Argument(metavar="USERNAME_OR_ID")],
    show_secret: Annotated[bool, typer.Option("--show-secret", help="Also print the nsec.")] = False,
) -> None:
    """Print a mirror identity: user id, derivation path, npub, hex pubkey."""
    raise not_yet("keys")
