"""Progress of a publish run: ``progress(done, total)`` as requested tweets are done."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

from nostrweet.publish.outcome import Unit

Progress = Callable[[int, int], None]

PROGRESS_STEP = 20
"""With a progress bar, a level of independent events is sent in parts of this many, so the bar moves
while they go out (without one, the whole level is in flight at once)."""


class ProgressCount:
    """Reports ``progress(done, total)``: the total at once, then each requested tweet as it is done."""

    def __init__(self, progress: Progress | None, ids: Sequence[str]) -> None:
        self.progress = progress
        self.wanted = set(ids)
        self.total = len(ids)
        self.done: set[str] = set()
        if progress is not None:
            progress(0, self.total)

    def split(self, levels: Sequence[Sequence[Unit]]) -> Iterator[Sequence[Unit]]:
        """The levels in order, each cut into parts of PROGRESS_STEP when progress is reported."""
        for level in levels:
            if self.progress is None:
                yield level
            else:
                yield from (level[i : i + PROGRESS_STEP] for i in range(0, len(level), PROGRESS_STEP))

    def advance(self, tweet_ids: Iterable[str]) -> None:
        """Count these tweets as done (once each; ids not requested are ignored)."""
        if self.progress is None:
            return
        new = self.wanted.intersection(tweet_ids) - self.done
        if new:
            self.done |= new
            self.progress(len(self.done), self.total)
