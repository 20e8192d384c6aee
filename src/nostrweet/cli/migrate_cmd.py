"""``migrate [--from DIR]``: the earlier Rust nostrweet's data directory into the state (SPEC §11).

The import itself (``state.import_legacy``) also runs once, by itself, the first time any command opens
the state of such a directory; ``migrate`` runs it on demand and says what it found. With a bearer token it
then fetches what the earlier tool's tweets reference but it never fetched (its data is thinner than
ours), so replies, quotes and retweets are published with their parents; without one, what is there is
published as it is. ``--from DIR`` copies the earlier tool's files from DIR into the data directory first
(only files the data directory does not have; DIR is only read).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from nostrweet.cache import legacy
from nostrweet.cache.atomic import atomic_write_chunks, make_private_dir
from nostrweet.cli.archive_cmds import open_archiver
from nostrweet.cli.common import summary
from nostrweet.cli.root import app, options_of
from nostrweet.errors import InputError, OperationalError
from nostrweet.settings import GlobalOptions
from nostrweet.store import CacheStore

if TYPE_CHECKING:
    from nostrweet.state.import_legacy import LegacyReport

_CHUNK = 1 << 20


def _legacy_files(source: Path) -> Iterator[Path]:
    """The earlier tool's files in ``source``, relative to it."""
    try:
        names = sorted(p.name for p in source.iterdir() if p.is_file())
    except OSError as exc:
        raise InputError(f"cannot read {source}: {exc.strerror or exc}") from None
    for kind in legacy.recognised(names).values():
        yield from (Path(n) for n in kind)
    for sub, parse in (
        (legacy.POSTED_DIR, legacy.parse_posted_name),
        (legacy.EVENTS_DIR, legacy.parse_event_name),
    ):
        directory = source / sub
        if directory.is_dir():
            for path in sorted(directory.iterdir()):
                if path.is_file() and parse(path.name) is not None:
                    yield Path(sub) / path.name


def _read_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            yield chunk


def copy_legacy_files(source: Path, data_dir: Path) -> int:
    """Copy the earlier tool's files of ``source`` that ``data_dir`` lacks (atomic writes, mode 0600);
    ``source`` is only read. Returns how many were copied."""
    copied = 0
    make_private_dir(data_dir)
    for relative in _legacy_files(source):
        target = data_dir / relative
        if target.exists():
            continue
        make_private_dir(target.parent)
        try:
            atomic_write_chunks(target, _read_chunks(source / relative))
        except OSError as exc:
            raise OperationalError(f"cannot copy {relative} into {data_dir}: {exc.strerror or exc}") from None
        copied += 1
    return copied


def _missing_references(store: CacheStore) -> list[str]:
    """Tweets that the earlier tool's cached tweets reference and nobody has fetched (not cached, not
    marked not found), each once."""
    wanted: dict[str, None] = {}
    for tweet_id, _name in store.iter_tweets():
        doc = store.read_tweet(tweet_id)
        if doc is None or doc.nostrweet.source != legacy.SOURCE:
            continue
        have = {t.id for t in doc.includes.tweets}
        for tweet in (doc.data, *doc.includes.tweets):
            for ref in tweet.referenced_tweets:
                if ref.id not in have and not store.has_tweet(ref.id) and not store.is_not_found(ref.id):
                    wanted[ref.id] = None
    return list(wanted)


def _enrich(options: GlobalOptions, missing: list[str]) -> tuple[int, int]:
    """Fetch the missing references; (cached, not found)."""

    async def run() -> tuple[int, int]:
        cached = gone = 0
        async with open_archiver(options) as archiver:
            for tweet_id in missing:
                if await archiver.fetch_tweet(tweet_id) is None:
                    gone += 1
                else:
                    cached += 1
        return cached, gone

    return asyncio.run(run())


@app.command("migrate")
def migrate(
    ctx: typer.Context,
    from_: Annotated[
        Path | None,
        typer.Option(
            "--from",
            metavar="DIR",
            help="The earlier nostrweet's data directory, if it is not the data directory (only read).",
        ),
    ] = None,
) -> None:
    """Import the earlier Rust nostrweet's data directory (tweets, profiles, markers, media, posted
    events) into the state, in place; a second run does nothing."""
    options = options_of(ctx)
    data_dir = options.data_dir
    copied = 0
    if from_ is not None:
        source = from_.expanduser()
        if not source.is_dir():
            raise InputError(f"--from {source}: not a directory")
        if source.resolve() != data_dir.resolve():
            copied = copy_legacy_files(source, data_dir)
    elif not data_dir.is_dir():
        raise InputError(f"data dir {data_dir} does not exist: nothing to migrate")
    if options.state_url is None:
        make_private_dir(data_dir)
    from nostrweet.state.engine import default_state_url, open_state
    from nostrweet.state.import_files import import_files
    from nostrweet.state.import_legacy import has_traces, import_legacy

    now = time.time()
    state = open_state(options.state_url or default_state_url(data_dir))
    try:
        import_files(state, data_dir, now=now)
        report = import_legacy(state, data_dir, now=now)
    finally:
        state.close()
    missing = _missing_references(CacheStore(data_dir)) if has_traces(data_dir) else []
    fetched = gone = 0
    if missing and options.bearer_token is not None:
        fetched, gone = _enrich(options, missing)
    _report(options, data_dir, report, copied, missing, fetched, gone)


def _report(
    options: GlobalOptions,
    data_dir: Path,
    report: LegacyReport,
    copied: int,
    missing: list[str],
    fetched: int,
    gone: int,
) -> None:
    if copied:
        summary(options, f"copied {copied} file(s) of the earlier nostrweet into {data_dir}")
    if not report.done_before and report.found_anything:
        summary(options, f"imported from {data_dir}: {report.line()}")
    if report.unknown:
        summary(options, f"{len(report.unknown)} file(s) of an unknown shape left as they are (see the log)")
    if fetched or gone:
        summary(
            options, f"fetched {fetched} referenced tweet(s) the earlier nostrweet lacked; {gone} not found"
        )
    elif missing:
        summary(
            options,
            f"{len(missing)} referenced tweet(s) are not cached: they are published as links "
            "(give a bearer token to fetch them)",
        )
    if (report.done_before or not report.found_anything) and not (fetched or gone or copied):
        why = "imported already" if report.done_before else "none found"
        summary(options, f"nothing to do: the earlier nostrweet's files in {data_dir}: {why}")
