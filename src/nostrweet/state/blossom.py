"""The Blossom upload memo in the state: for each blob (sha256), each server that holds it and its URL."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from nostrweet.state.engine import State
from nostrweet.state.schema import blossom_blobs


@dataclass(frozen=True, slots=True)
class BlobCopy:
    """One server's copy of a blob."""

    sha256: str
    server: str
    url: str
    size: int | None = None
    mime: str | None = None


class BlossomMemo:
    """The ``blossom_blobs`` table."""

    def __init__(self, state: State) -> None:
        self.state = state

    def servers_of(self, sha256: str) -> dict[str, str]:
        """Server -> URL of every server known to hold the blob."""
        query = select(blossom_blobs.c.server, blossom_blobs.c.url).where(blossom_blobs.c.sha256 == sha256)
        with self.state.engine.connect() as conn:
            return {str(s): str(u) for s, u in conn.execute(query)}

    def remember(self, copies: Iterable[BlobCopy]) -> None:
        """Record copies in one transaction (a later URL for the same server replaces the earlier one)."""
        values = [
            {"sha256": c.sha256, "server": c.server, "url": c.url, "size": c.size, "mime": c.mime}
            for c in copies
        ]
        if not values:
            return
        stmt = self.state.insert(blossom_blobs)
        stmt = stmt.on_conflict_do_update(
            index_elements=["sha256", "server"],
            set_={"url": stmt.excluded.url, "size": stmt.excluded.size, "mime": stmt.excluded.mime},
        )
        with self.state.engine.begin() as conn:
            conn.execute(stmt, values)
