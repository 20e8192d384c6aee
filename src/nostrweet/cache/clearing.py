"""``clear-cache``: the files of the archive (and, with ``--all``, the record files of earlier versions)
deleted from one listing; files the layout does not know are left alone."""

from __future__ import annotations

from pathlib import Path

from nostrweet.cache import layout
from nostrweet.cache.atomic import remove_orphaned_temp_files, warn_unreadable
from nostrweet.cache.scan import scan_names


def clear_archive_files(data_dir: Path) -> int:
    """Delete the cached tweets, media, profiles, markers, corrupt files and temp files whose writer is
    gone; how many were deleted."""
    removed = 0
    for name in list(scan_names(data_dir)):
        if layout.is_temp_filename(name):
            removed += remove_orphaned_temp_files([data_dir / name])
        elif _is_cache_file(name):
            removed += _remove(data_dir / name)
    return removed


def clear_record_files(events_dir: Path) -> int:
    """Delete the record files an earlier version left in ``nostr_events/``; how many were deleted."""
    removed = 0
    for name in list(scan_names(events_dir)):
        if layout.is_temp_filename(name):
            removed += remove_orphaned_temp_files([events_dir / name])
        elif layout.parse_event_filename(name) or ".json" in name:
            removed += _remove(events_dir / name)
    return removed


def _remove(path: Path) -> int:
    """Delete one file (1 if it was deleted); an entry that cannot be (a directory) is skipped with a warning."""
    try:
        path.unlink()
    except FileNotFoundError:
        return 0
    except OSError as exc:
        warn_unreadable(path, exc)
        return 0
    return 1


def _is_cache_file(name: str) -> bool:
    if layout.is_temp_filename(name):
        return True
    base = name.split(layout.CORRUPT_SUFFIX)[0] if layout.CORRUPT_SUFFIX in name else name
    return bool(
        layout.parse_tweet_filename(base)
        or layout.parse_profile_filename(base)
        or layout.parse_media_filename(base)
        or layout.parse_not_found_filename(base) is not None
    )
