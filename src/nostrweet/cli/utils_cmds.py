"""``nostrweet utils ...``: tools around the relays."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from nostrweet.cache.atomic import PUBLIC_FILE_MODE, atomic_write_bytes
from nostrweet.cli.choices import EventFormat
from nostrweet.cli.common import RelayOption, emit, relays_from, summary
from nostrweet.cli.root import app, options_of
from nostrweet.errors import OperationalError
from nostrweet.nostr.event import SignedEvent, npub_of, pubkey_from_npub_or_hex
from nostrweet.nostr.relays import QueryFilter, RelayPool
from nostrweet.textsafe import json_safe, printable
from nostrweet.values import MAX_UNIX_SECONDS, MAX_WAIT_SECONDS, check_seconds

MAX_LIMIT = 100_000

utils_app = typer.Typer(help="Tools around the relays.", no_args_is_help=True)
app.add_typer(utils_app, name="utils")


def format_json(event: SignedEvent) -> str:
    """One event as one line of JSON, complete (bidi and C1 characters as JSON escapes)."""
    return json_safe(json.dumps(event.to_dict(), ensure_ascii=False, separators=(",", ":")))


def format_pretty(event: SignedEvent) -> str:
    """One event as a readable block: id, kind, author npub, time, tags and the full content.

    The content keeps its line breaks; every other control or bidi character is escaped visibly.
    """
    try:
        when = datetime.fromtimestamp(event.created_at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, ValueError, OSError):  # a relay may send any number
        when = "out of range"
    lines = [
        f"id:         {event.id}",
        f"kind:       {event.kind}",
        f"author:     {npub_of(event.pubkey)}",
        f"created_at: {when} ({event.created_at})",
    ]
    if event.tags:
        lines.append("tags:")
        lines.extend(f"  {json_safe(json.dumps(list(tag), ensure_ascii=False))}" for tag in event.tags)
    else:
        lines.append("tags:       (none)")
    lines.append("content:")
    lines.extend(f"  {printable(line)}" for line in event.content.split("\n"))
    return "\n".join(lines) + "\n"


def render(events: list[SignedEvent], fmt: str) -> str:
    """All events in the chosen format (json: one per line; pretty: blocks separated by a blank line)."""
    if fmt == "json":
        return "".join(format_json(e) + "\n" for e in events)
    return "\n".join(format_pretty(e) for e in events)


async def _fetch(relays: list[str], flt: QueryFilter, wait: float) -> list[SignedEvent]:
    async with RelayPool(relays, connect_timeout=wait) as pool:
        return await pool.query(flt, timeout=wait)


@utils_app.command("query-events")
def query_events(
    ctx: typer.Context,
    relay: RelayOption = None,
    kind: Annotated[
        int | None, typer.Option("-k", "--kind", min=0, max=65535, help="Only this kind (default: any).")
    ] = None,
    author: Annotated[str | None, typer.Option("-a", "--author", help="Hex pubkey or npub.")] = None,
    limit: Annotated[
        int, typer.Option("-l", "--limit", min=1, max=MAX_LIMIT, help="At most this many events.")
    ] = 10,
    since: Annotated[
        int | None, typer.Option("--since", min=0, max=MAX_UNIX_SECONDS, help="Unix seconds.")
    ] = None,
    until: Annotated[
        int | None, typer.Option("--until", min=0, max=MAX_UNIX_SECONDS, help="Unix seconds.")
    ] = None,
    fmt: Annotated[
        EventFormat, typer.Option("--format", help="How to print the events.")
    ] = EventFormat.pretty,
    output: Annotated[
        Path | None, typer.Option("--output", metavar="FILE", help="Write to this file.")
    ] = None,
    timeout: Annotated[
        float,
        typer.Option("--timeout", min=0.1, max=MAX_WAIT_SECONDS, help="Seconds to wait for the relays."),
    ] = 5.0,
) -> None:
    """Read events back from relays: deduplicated by id, newest first.

    With no event, pretty prints "0 events" on stderr and json prints nothing.
    """
    options = options_of(ctx)
    relays = relays_from(options, relay)
    timeout = check_seconds(timeout, "--timeout")  # nan passes click's range check
    authors = [pubkey_from_npub_or_hex(author)] if author else []
    flt = QueryFilter(
        kinds=[kind] if kind is not None else [],
        authors=authors,
        since=since,
        until=until,
        limit=limit,
    )
    events = asyncio.run(_fetch(relays, flt, timeout))[:limit]
    text = render(events, fmt.value)
    if not events and fmt is EventFormat.pretty:
        summary(options, "0 events", to_stderr=True)
    if output:
        try:
            atomic_write_bytes(Path(output), text.encode("utf-8"), mode=PUBLIC_FILE_MODE)
        except OSError as exc:
            raise OperationalError(f"cannot write {output}: {exc.strerror or exc}") from None
    elif text:
        emit(text)
