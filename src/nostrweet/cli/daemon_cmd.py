"""The daemon command (SPEC §5): watch accounts and keep their mirror current until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import typer

from nostrweet.cli.common import BlossomOption, Nip05DomainOption, RelayOption
from nostrweet.cli.root import app, options_of

log = logging.getLogger("nostrweet.daemon")


@app.command("daemon")
def daemon(
    ctx: typer.Context,
    user: Annotated[
        list[str] | None,
        typer.Option("-u", "--user", help="Account to watch; repeat it or give a comma-separated list."),
    ] = None,
    relay: RelayOption = None,
    blossom_server: BlossomOption = None,
    poll_interval: Annotated[
        int | None,
        typer.Option(
            "-p", "--poll-interval", min=1, show_default="300", help="Seconds between polls of a user."
        ),
    ] = None,
    max_concurrent: Annotated[
        int | None, typer.Option("--max-concurrent", min=1, show_default="3", help="Users polled at once.")
    ] = None,
    stats_interval: Annotated[
        int | None,
        typer.Option("--stats-interval", min=1, show_default="60", help="Seconds between stats records."),
    ] = None,
    backfill: Annotated[
        int | None,
        typer.Option("--backfill", min=0, show_default="20", help="Tweets fetched on a user's first run."),
    ] = None,
    nip05: Nip05DomainOption = None,
    alert: Annotated[
        list[str] | None,
        typer.Option(
            "--alert",
            envvar="NOSTRWEET_ALERTS",
            metavar="URL",
            help="Apprise URL that gets alerts (SPEC §9); repeat it, or separate URLs with spaces or commas.",
        ),
    ] = None,
    instance_id: Annotated[
        str | None,
        typer.Option(
            "--instance-id",
            envvar="NOSTRWEET_INSTANCE_ID",
            metavar="ID",
            show_default="host name:pid",
            help="Names this instance in logs, leases and the admin API (SPEC §7).",
        ),
    ] = None,
    http: Annotated[
        str | None,
        typer.Option(
            "--http",
            envvar="NOSTRWEET_HTTP",
            metavar="HOST:PORT",
            show_default="none",
            help="Serve /healthz, /readyz, /metrics, the dashboard and the admin API here (e.g. 127.0.0.1:8080).",
        ),
    ] = None,
    admin_token_file: Annotated[
        str | None,
        typer.Option(
            "--admin-token-file",
            envvar="NOSTRWEET_ADMIN_TOKEN_FILE",
            metavar="FILE",
            show_default="none",
            help="File holding the admin API's bearer token; without one, /api/v1 answers 404.",
        ),
    ] = None,
) -> None:
    """Watch accounts and keep their mirror current until SIGINT or SIGTERM (docs/DAEMON.md)."""
    from nostrweet.daemon.config import resolve_daemon_config
    from nostrweet.daemon.service import run_daemon
    from nostrweet.nostr.keys import KeyDeriver, load_key_file

    options = options_of(ctx)
    config = resolve_daemon_config(
        options,
        users=user,
        relays=relay,
        blossom_servers=blossom_server,
        poll_interval=poll_interval,
        max_concurrent=max_concurrent,
        stats_interval=stats_interval,
        backfill=backfill,
        nip05_domain=nip05,
        alerts=alert,
        instance_id=instance_id,
        http=http,
        admin_token_file=admin_token_file,
    )
    options.require_bearer_token()
    for override in config.overrides.values():
        if override.key_file is not None:
            load_key_file(override.key_file)  # a missing or bad key file exits 2 before we start
    admin_token = None
    if config.admin_token_file is not None:  # a missing or empty token file exits 2 before we start
        from nostrweet.http.token import read_admin_token
        from nostrweet.logs import register_secret

        warnings: list[str] = []
        admin_token = read_admin_token(config.admin_token_file, warnings)
        register_secret(admin_token.reveal())
        for warning in warnings:
            log.warning("%s", warning)
        if config.http_listen is None:
            log.warning("--admin-token-file has no effect without --http HOST:PORT")
    keys = KeyDeriver(options.require_mnemonic(), options.key_derivation)  # a bad mnemonic exits 2 here
    starter = None
    if config.http_listen is not None:
        from nostrweet.http.daemon_server import start_daemon_http  # aiohttp loads only with --http

        starter = start_daemon_http
    asyncio.run(run_daemon(options, config, keys, admin_token=admin_token, http=starter))
