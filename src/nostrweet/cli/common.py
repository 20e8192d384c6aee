"""Option types and small helpers shared by the command modules."""

from __future__ import annotations

from typing import Annotated

import typer

from nostrweet.errors import InputError, OperationalError
from nostrweet.settings import GlobalOptions
from nostrweet.values import parse_blossom_urls, parse_relay_urls

RelayOption = Annotated[
    list[str] | None,
    typer.Option(
        "-r",
        "--relay",
        "--relays",
        envvar="NOSTRWEET_RELAYS",
        show_default=False,
        help="Relay URL (ws:// or wss://); repeat it or give a comma-separated list.",
    ),
]
BlossomOption = Annotated[
    list[str] | None,
    typer.Option(
        "-b",
        "--blossom-server",
        "--blossom-servers",
        envvar="NOSTRWEET_BLOSSOM_SERVERS",
        show_default=False,
        help="Blossom server URL (http:// or https://); repeat it or give a comma-separated list.",
    ),
]
ForceOption = Annotated[bool, typer.Option("-f", "--force", help="Publish again even if already posted.")]
SkipProfilesOption = Annotated[
    bool, typer.Option("--skip-profiles", help="Do not fetch the profiles of referenced users.")
]


def relays_from(options: GlobalOptions, values: list[str] | None, *, required: bool = True) -> list[str]:
    """Relay URLs from the flag/env, else the config file's [nostr] relays; exit 2 if none and required."""
    relays = parse_relay_urls(values) if values else parse_relay_urls(options.config.get("nostr", "relays"))
    if required and not relays:
        raise InputError("no relay given: use -r/--relay URL or NOSTRWEET_RELAYS")
    return relays


def blossom_from(options: GlobalOptions, values: list[str] | None) -> list[str]:
    """Blossom server URLs from the flag/env, else the config file's [nostr] blossom_servers."""
    if values:
        return parse_blossom_urls(values)
    return parse_blossom_urls(options.config.get("nostr", "blossom_servers"))


def not_yet(command: str) -> OperationalError:
    """The error of a command whose implementation has not landed yet."""
    return OperationalError(f"'{command}' is not available in this build yet")
