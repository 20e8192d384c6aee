"""``nostrweet utils ...``: tools around the relays."""

from __future__ import annotations

from typing import Annotated

import typer

from nostrweet.cli.app import app
from nostrweet.cli.common import RelayOption, not_yet

utils_app = typer.Typer(help="Tools around the relays.", no_args_is_help=True)
app.add_typer(utils_app, name="utils")


@utils_app.command("query-events")
def query_events(
    ctx: typer.Context,
    relay: RelayOption = None,
    kind: Annotated[int | None, typer.Option("-k", "--kind")] = None,
    author: Annotated[str | None, typer.Option("-a", "--author", help="Hex pubkey or npub.")] = None,
    limit: Annotated[int, typer.Option("-l", "--limit", min=1)] = 10,
    since: Annotated[int | None, typer.Option("--since", help="Unix seconds.")] = None,
    until: Annotated[int | None, typer.Option("--until", help="Unix seconds.")] = None,
    fmt: Annotated[str, typer.Option("-f", "--format", help="pretty or json.")] = "pretty",
    output: Annotated[str | None, typer.Option("--output", help="Write to this file.")] = None,
) -> None:
    """Read events back from relays."""
    raise not_yet("utils query-events")
