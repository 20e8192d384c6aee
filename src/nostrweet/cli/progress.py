"""The progress bar of the long commands (a Rich bar on a terminal, nothing otherwise)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from nostrweet.settings import GlobalOptions


@contextmanager
def progress_bar(label: str, options: GlobalOptions) -> Iterator[Callable[[int, int], None] | None]:
    """A Rich progress bar on a terminal (stderr); nothing when piped, quiet (-q) or logging JSON."""
    if not sys.stderr.isatty() or options.log_level > logging.INFO or options.log_format == "json":
        yield None
        return
    from rich.console import Console  # only on a terminal: Rich is not imported otherwise
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update
