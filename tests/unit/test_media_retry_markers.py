"""Retry markers of missing media: kept with a count of tries, dropped when complete or after the last try,
and one user's markers are never taken for another's (``foo`` and ``foo_bar``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nostrweet.archive.media_fetch import RETRY_DIR, RETRY_MAX_TRIES, MediaFetcher
from nostrweet.store import CacheStore


class _NoClient:
    async def download(self, *args: Any, **kwargs: Any) -> bool:
        raise AssertionError("no download expected")


def _fetcher(tmp_path: Path) -> MediaFetcher:
    return MediaFetcher(CacheStore(tmp_path), _NoClient(), max_bytes=1000)  # type: ignore[arg-type]


def test_tries_are_counted_and_end(tmp_path: Path) -> None:
    fetcher = _fetcher(tmp_path)
    marker = tmp_path / RETRY_DIR / "foo_123.json"
    for n in range(1, RETRY_MAX_TRIES + 1):
        fetcher.mark("123", "Foo", complete=False)
        assert json.loads(marker.read_text())["tries"] == n
    fetcher.mark("123", "Foo", complete=False)  # one more failure than allowed: no more tries
    assert not marker.exists()
    fetcher.mark("123", "Foo", complete=False)
    fetcher.mark("123", "Foo", complete=True)
    assert not marker.exists()


async def test_markers_of_a_longer_username_are_left_alone(tmp_path: Path) -> None:
    fetcher = _fetcher(tmp_path)
    fetcher.mark("123", "foo_bar", complete=False)
    fetcher.mark("456", "foo", complete=False)  # no cached tweet 456: its marker is dropped
    await fetcher.retry_marked("foo")
    assert sorted(p.name for p in (tmp_path / RETRY_DIR).iterdir()) == ["foo_bar_123.json"]
