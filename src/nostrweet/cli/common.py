"""Option types and small helpers shared by the command modules."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from nostrweet.domains import resolve_nip05_domain
from nostrweet.errors import InputError, OperationalError
from nostrweet.lookups import NAMES_KEPT
from nostrweet.settings import GlobalOptions
from nostrweet.store import CacheStore
from nostrweet.values import parse_blossom_urls, parse_relay_urls

if TYPE_CHECKING:
    from nostrweet.webhooks.sender import Webhooks

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
Nip05DomainOption = Annotated[
    str | None,
    typer.Option(
        "--nip05-domain",
        envvar="NOSTRWEET_NIP05_DOMAIN",
        metavar="DOMAIN",
        show_default="none",
        help="Give each mirror profile the NIP-05 name <username>@DOMAIN (serve nip05-export's file there).",
    ),
]
ForceOption = Annotated[bool, typer.Option("-f", "--force", help="Publish again even if already posted.")]
SkipProfilesOption = Annotated[
    bool, typer.Option("--skip-profiles", help="Do not fetch the profiles of referenced users.")
]


@contextmanager
def command_store(
    options: GlobalOptions, *, read_only: bool = False, names_kept: int = NAMES_KEPT
) -> Iterator[CacheStore]:
    """The cache of a command with its state (SPEC §7): the one place every command opens and closes it.

    The state is ``--state-url`` (default ``<data-dir>/nostrweet.sqlite3``). A command that writes opens
    it at once (so the first start imports an older cache before anything else happens); a read-only
    command opens it only if it needs it, and then creates nothing on disk (a state in memory when the
    file does not exist yet). ``names_kept``: how many answers about tweets the store keeps in memory.
    """
    store = CacheStore(
        options.data_dir, read_only=read_only, state_url=options.state_url, names_kept=names_kept
    )
    webhooks = None
    try:
        if not read_only:
            store.state  # noqa: B018 (opened now: migrated and imported before the command works)
            webhooks = command_webhooks(options, store)
        yield store
        if webhooks is not None:
            deliver_before_exit(webhooks)
    finally:
        store.close()


def command_webhooks(options: GlobalOptions, store: CacheStore) -> Webhooks | None:
    """The config's webhooks told of what this command does (SPEC §12), or None without any."""
    if not options.config.webhooks:
        return None
    from nostrweet.daemon.lock import default_instance_id
    from nostrweet.state.webhooks import WebhookQueue
    from nostrweet.webhook_config import load_webhooks
    from nostrweet.webhooks.sender import Webhooks

    hooks = Webhooks(
        load_webhooks(options.config.webhooks), WebhookQueue(store.state), instance_id=default_instance_id()
    )
    store.events = hooks
    return hooks


def deliver_before_exit(webhooks: Webhooks) -> None:
    """A short command's deliveries: at most 10 s, on a thread of its own (the command may be inside
    an event loop or not); what is left stays queued for the next run or the daemon."""
    import threading

    async def drain() -> None:
        try:
            await webhooks.drain()
        finally:
            await webhooks.aclose()

    worker = threading.Thread(target=lambda: asyncio.run(drain()), name="webhooks", daemon=True)
    worker.start()
    worker.join(timeout=12.0)


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


def nip05_domain_from(options: GlobalOptions, value: str | None) -> str | None:
    """The NIP-05 domain from the flag/env, else the config file's [nostr] nip05_domain; exit 2 if not a hostname."""
    return resolve_nip05_domain(value, options.config.get("nostr", "nip05_domain"))


def stdout_gone() -> NoReturn:
    """The reader of stdout went away (``| head``): stop quietly with exit 0.

    Whatever is still buffered goes to /dev/null, so the interpreter has nothing left to complain
    about when it flushes stdout at exit.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)
    raise typer.Exit(0)


def emit(text: str) -> None:
    """Write command output (data the user asked for) to stdout; a closed pipe ends the command with 0."""
    try:
        sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    except BrokenPipeError:
        stdout_gone()


def summary(options: GlobalOptions, text: str, *, to_stderr: bool = False) -> None:
    """Print a summary line ("cached 3 tweets", a publish result, "0 tweets") unless -q (only errors).

    Every command prints its summaries through this one function, so -q silences them all alike.
    """
    if options.log_level >= logging.ERROR:
        return
    if to_stderr:
        print(text, file=sys.stderr)
    else:
        emit(text)


def not_yet(command: str) -> OperationalError:
    """The error of a command whose implementation has not landed yet."""
    return OperationalError(f"'{command}' is not available in this build yet")
