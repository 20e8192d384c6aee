"""The Blossom upload memo in the state: for each blob (sha256), each server that holds it and its URL."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from nostrweet.state.engine import State


class BlobCopy(msgspec.Struct, frozen=True, gc=False):
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
        with self.state.read() as tx:
            rows = tx.rows("SELECT server, url FROM blossom_blobs WHERE sha256 = :sha256", {"sha256": sha256})
        return {str(s): str(u) for s, u in rows}

    def remember(self, copies: Iterable[BlobCopy]) -> None:
        """Record copies in one transaction (a later URL for the same server replaces the earlier one)."""
        values = [
            {"sha256": c.sha256, "server": c.server, "url": c.url, "size": c.size, "mime": c.mime}
            for c in copies
        ]
        if not values:
            return
        with self.state.write() as tx:
            tx.run_many(
                "INSERT INTO blossom_blobs (sha256, server, url, size, mime) "
                "VALUES (:sha256, :server, :url, :size, :mime) "
                "ON CONFLICT (sha256, server) DO UPDATE SET url = excluded.url, size = excluded.size, "
                "mime = excluded.mime",
                values,
            )
