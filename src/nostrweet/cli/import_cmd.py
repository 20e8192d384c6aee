"""``import-archive PATH``: the account's own X archive (zip or folder) into the cache (docs/IMPORT.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nostrweet.archive.xarchive.importer import NAMES_KEPT, Importer
from nostrweet.archive.xarchive.reader import XArchive
from nostrweet.cli.archive_cmds import progress_bar
from nostrweet.cli.common import command_store
from nostrweet.cli.root import app, options_of


@app.command("import-archive")
def import_archive(
    ctx: typer.Context,
    path: Annotated[
        str, typer.Argument(metavar="PATH", help="The X archive: its zip, or the unpacked folder.")
    ],
) -> None:
    """Import the account's own X archive into the cache (no bearer token or mnemonic needed)."""
    options = options_of(ctx)
    archive = XArchive(Path(path).expanduser())  # refuses a bad archive before anything is written
    try:
        with (
            command_store(options, names_kept=NAMES_KEPT) as store,
            progress_bar("import", options) as progress,
        ):
            summary = Importer(archive, store).run(progress)
    finally:
        archive.close()
    print(f"@{summary.username}: {summary.line()}")
