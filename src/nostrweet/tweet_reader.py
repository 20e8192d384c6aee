"""A cached tweet's file read back into its document (for ``store.py``; SPEC §2, §11).

The file is found by the name in its row (``lookups.StateLookups``) and its bytes are decoded straight
into the typed document; the earlier tool's model is read into our form, with the references it lacks
taken from their own files. A file that does not parse is moved aside to ``<name>.corrupt`` (its row
goes, and its id is kept so that a fetching command fetches it again); valid JSON of a shape we do not
know is reported and left as it is; an entry that cannot be read (gone, a directory, no permission) is
skipped. Whichever it is, the tweet no longer counts as cached for this store. A read-only reader
creates, renames and deletes nothing: it only warns.
"""

from __future__ import annotations

import errno
import logging
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec

from nostrweet.cache import layout, legacy
from nostrweet.cache.atomic import move_aside, read_entry, warn_unreadable
from nostrweet.lookups import StateLookups
from nostrweet.twitter.models import TweetDocument, decode_document

log = logging.getLogger(__name__)


class TweetReader:
    """Reads cached tweet files of one data directory; what it cannot read it tells ``lookups``."""

    def __init__(self, data_dir: Path, lookups: StateLookups, *, read_only: bool) -> None:
        self.data_dir = data_dir
        self.lookups = lookups
        self.read_only = read_only

    def path(self, tweet_id: int) -> Path | None:
        """The path in a tweet's row, or None (no row, or skipped); reads no file."""
        name = self.lookups.tweet_name(tweet_id)
        return self.data_dir / name if name else None

    def set_aside(self, path: Path, reason: str) -> None:
        """Move a file that does not parse aside; a read-only reader only warns."""
        if self.read_only:
            log.warning("skipped unreadable file %s: %s", path.name, reason)
        else:
            move_aside(path, reason)

    def _bytes(self, tid: int) -> tuple[Path, bytes] | None:
        """A cached tweet file's path and bytes; an entry that cannot be read is skipped from now on."""
        path = self.path(tid)
        if path is None:
            return None
        data = read_entry(path)
        if data is None:  # gone (by hand, or another instance's file), or a directory: skipped, not moved
            self.lookups.skip(tid)
            return None
        return path, data

    def raw(self, tid: int) -> dict[str, Any] | None:
        """The cached document as a dict; a file that does not parse is moved aside and gives None."""
        found = self._bytes(tid)
        return self._raw_document(tid, *found) if found is not None else None

    def _raw_document(self, tid: int, path: Path, data: bytes) -> dict[str, Any] | None:
        try:
            raw = msgspec.json.decode(data)
        except msgspec.DecodeError as exc:
            self.set_aside(path, str(exc))
            self._forget(tid, path)
            return None
        if legacy.is_legacy_tweet(raw) and str(raw["id"]) == str(tid):
            return self._from_legacy(raw)
        if (
            not isinstance(raw, dict)
            or not isinstance(raw.get("data"), dict)
            or str(raw["data"].get("id")) != str(tid)
        ):
            self._report_unknown(tid, path, "not a tweet document of this id")
            return None
        document: dict[str, Any] = raw
        return document

    def _from_legacy(self, raw: dict[str, Any]) -> dict[str, Any]:
        """A tweet file of the earlier tool, read as it is into our document (SPEC §11); a reference it
        lacks that is cached on its own (fetched since, e.g. by ``migrate``) is added from its file."""
        document = legacy.document_from_legacy(raw)
        for ref in legacy.unfilled_references(document):
            path = self.path(int(ref))
            data = read_entry(path) if path is not None else None
            try:
                referenced = msgspec.json.decode(data) if data is not None else None
            except msgspec.DecodeError:
                continue  # (its own read reports it)
            if isinstance(referenced, dict) and isinstance(referenced.get("data"), dict):
                legacy.add_reference(document, referenced)
            elif isinstance(referenced, dict) and legacy.is_legacy_tweet(referenced):
                legacy.add_reference(document, legacy.document_from_legacy(referenced))
        return document

    def _report_unknown(self, tweet_id: int, path: Path, reason: str) -> None:
        """A tweet file that is valid JSON of a shape we do not know: reported and skipped, never moved
        (SPEC §2); it stays in the directory for ``migrate`` or its owner to look at."""
        log.warning(
            "skipped %s: %s (valid JSON of a shape nostrweet does not know; left as it is)", path.name, reason
        )
        self.lookups.skip(tweet_id)

    def document(self, tid: int) -> TweetDocument | None:
        """The cached tweet document, or None (missing, or corrupt and moved aside).

        The file's bytes are decoded straight into the typed document; only a file that is not one
        (the earlier tool's model, an unknown shape, broken JSON) goes the way of :meth:`raw`.
        """
        found = self._bytes(tid)
        if found is None:
            return None
        try:
            doc = decode_document(found[1])
        except msgspec.DecodeError:  # (a ValidationError is one)
            doc = None
        if doc is not None and doc.data.id == str(tid):
            return doc
        raw = self._raw_document(tid, *found)
        if raw is None:
            return None
        try:
            return decode_document(raw)
        except msgspec.ValidationError as exc:
            path = self.path(tid)
            if path is not None and path.exists():
                self._report_unknown(tid, path, str(exc))
            else:
                self.lookups.skip(tid)
            return None

    def readable_ids(self, tweet_ids: Iterable[int]) -> list[int]:
        """The ids among ``tweet_ids`` whose cached entry is a file (one batched lookup, one stat each).
        An entry named like a tweet that is not a file (a directory) is skipped with a warning; a row
        whose file is not here (removed by hand, or another instance's) is skipped."""
        ids = list(tweet_ids)
        self.lookups.preload(map(int, ids))
        out: list[int] = []
        for tweet_id in ids:
            path = self.path(int(tweet_id))
            if path is None:
                continue
            try:
                is_file = stat.S_ISREG(path.stat().st_mode)
            except FileNotFoundError:
                self.lookups.skip(tweet_id)
                continue
            except OSError as exc:
                warn_unreadable(path, exc)
                self.lookups.skip(tweet_id)
                continue
            if is_file:
                out.append(tweet_id)
                continue
            if path.is_dir():
                warn_unreadable(path, IsADirectoryError(errno.EISDIR, "Is a directory"))
            else:
                warn_unreadable(path, OSError(errno.EINVAL, "not a regular file"))
            self.lookups.skip(tweet_id)
        return out

    def _forget(self, tweet_id: int, path: Path) -> None:
        """A tweet whose file was moved aside: its row goes, and its id is remembered so that the next
        fetch of its user fetches it again (a read-only reader only forgets it for itself)."""
        self.lookups.skip(tweet_id)
        if self.read_only:
            return
        archive = self.lookups.archive
        archive.remove_tweet(tweet_id)
        parsed = layout.parse_tweet_filename(path.name) or legacy.parse_tweet_name(path.name)
        if parsed is not None:
            archive.add_corrupt(parsed.username.lower(), tweet_id)
            self.lookups.moved_aside(parsed.username, tweet_id)
        self.lookups.removed()
