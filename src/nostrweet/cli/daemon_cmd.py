"""The daemon command (SPEC §5)."""

from __future__ import annotations

from typing import Annotated

import typer

from nostrweet.cli.app import app
from nostrweet.cli.common import BlossomOption, RelayOption, not_yet


@app.command("daemon")
def daemon(
    ctx: typer.Context,
    user: Annotated[
        list[str] | None, typer.Option("-u", "--user", help="Account to watch; repeat it.")
    ] = None,
    relay: RelayOption = None,
    blossom_server: BlossomOption = None,
    poll_interval: Annotated[
        int | None, typer.Option("-p", "--poll-interval", min=10, show_default="300")
    ] = None,
    max_concurrent: Annotated[int | None, typer.Option("--max-concurrent", min=1, show_default="3")] = None,
    stats_interval: Annotated[int | None, typer.Option("--stats-interval", min=1, show_default="60")] = None,
    backfill: Annotated[int | None, typer.Option("--backfill", min=0, show_default="20")] = None,
) -> None:
    """Watch accounts and keep their mirror current until SIGINT or SIGTERM."""
    raise not_yet("daemon")
