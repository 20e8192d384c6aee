"""B9: ``import-archive`` of a generated X archive: tweets per second and peak memory (SPEC §12).

B9a: the import (``Importer`` over the zip, into an empty cache; its own interpreter) against a bare
loop over the same zip that decodes each part with msgspec and writes one document per tweet with
the same atomic write (temp file, fsync, rename); rate = tweets / wall time, medians of alternating
runs. B9b: how much the import's peak RSS (VmHWM) grows from a tenth of the tweets to all of them
(parts of the same size), against what the cache index alone grows for as many tweets (the index
keeps every cached tweet's name in memory, SPEC §2). The import streams, so it should add nothing
beyond the index.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from benchmarks.harness import Row

PER_PART = 10_000

_OURS = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from nostrweet.archive.xarchive.importer import NAMES_KEPT, Importer
    from nostrweet.archive.xarchive.reader import XArchive
    from nostrweet.store import CacheStore
    archive = XArchive(Path(sys.argv[1]))
    t0 = time.perf_counter()
    summary = Importer(archive, CacheStore(Path(sys.argv[2]), names_kept=NAMES_KEPT)).run()  # as the command
    took = time.perf_counter() - t0
    hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    print(json.dumps({"tweets": summary.imported, "seconds": took, "hwm_kib": hwm}))
    """
)

_INDEX = textwrap.dedent(
    """
    import json, sys, tempfile
    from datetime import UTC, datetime
    from pathlib import Path
    from nostrweet.cache import layout
    from nostrweet.cache.index import CacheIndex
    def rss():
        return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS:"))
    index = CacheIndex()
    before = rss()
    for i in range(int(sys.argv[1])):
        name = layout.tweet_filename(datetime(2026, 2, 1 + i % 27, tzinfo=UTC), "archiveowner", 10**18 + i)
        index.add_tweet(name, layout.parse_tweet_filename(name))
    print(json.dumps({"grown_kib": rss() - before}))
    """
)

_BARE = textwrap.dedent(
    """
    import json, sys, time, zipfile, msgspec
    from pathlib import Path
    from nostrweet.cache.atomic import atomic_write_json, make_private_dir
    out = Path(sys.argv[2]); make_private_dir(out)
    t0 = time.perf_counter(); n = 0
    with zipfile.ZipFile(sys.argv[1]) as z:
        for name in sorted(m for m in z.namelist() if m.startswith("data/tweets")):
            body = z.read(name)
            for entry in msgspec.json.decode(body[body.index(b"=") + 1 :]):
                atomic_write_json(out / f"{entry['tweet']['id_str']}.json", {"data": entry["tweet"]})
                n += 1
    took = time.perf_counter() - t0
    hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    print(json.dumps({"tweets": n, "seconds": took, "hwm_kib": hwm}))
    """
)


def _run(code: str, archive: Path, out: Path) -> dict[str, Any]:
    shutil.rmtree(out, ignore_errors=True)
    proc = subprocess.run(
        [sys.executable, "-c", code, str(archive), str(out)], capture_output=True, text=True, check=True
    )
    shutil.rmtree(out, ignore_errors=True)
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def run_b9(work: Path, tweets: int, reps: int) -> list[Row]:
    """B9a and B9b over generated archives of ``tweets`` and ``tweets // 10`` tweets."""
    from tests.fakes.x_archive_builder import generated_archive

    work.mkdir(parents=True, exist_ok=True)
    big = generated_archive(work / f"archive-{tweets}.zip", tweets, per_part=PER_PART)
    small = generated_archive(work / f"archive-{tweets // 10}.zip", tweets // 10, per_part=PER_PART)
    ours: list[dict[str, Any]] = []
    bare: list[dict[str, Any]] = []
    for rep in range(reps):
        order = [(_OURS, ours), (_BARE, bare)] if rep % 2 == 0 else [(_BARE, bare), (_OURS, ours)]
        for code, sink in order:
            sink.append(_run(code, big, work / "out"))
    small_run = _run(_OURS, small, work / "out")

    def median(values: list[float]) -> float:
        return sorted(values)[len(values) // 2]

    ours_rate = median([r["tweets"] / r["seconds"] for r in ours])
    bare_rate = median([r["tweets"] / r["seconds"] for r in bare])
    big_mb = max(r["hwm_kib"] for r in ours) / 1024
    small_mb = small_run["hwm_kib"] / 1024
    extra = tweets - tweets // 10
    proc = subprocess.run(
        [sys.executable, "-c", _INDEX, str(extra)], capture_output=True, text=True, check=True
    )
    index_mb = json.loads(proc.stdout)["grown_kib"] / 1024
    return [
        Row(
            "B9a",
            f"import-archive, {tweets:,} tweets in parts of {PER_PART:,}",
            "tw/s",
            ours_rate,
            bare_rate,
            "bare decode + atomic write per tweet",
            ours_rate / bare_rate,
            "of bare",
            ">=",
            0.5,
            details={"ours": ours, "bare": bare},
        ),
        Row(
            "B9b",
            f"import-archive peak RSS growth, {tweets // 10:,} to {tweets:,} tweets",
            "MB",
            big_mb - small_mb,
            index_mb,
            f"the cache index alone, {extra:,} more tweets",
            big_mb - small_mb - index_mb,
            "MB beyond the index",
            "<=",
            5.0,
            details={"big_hwm_mb": big_mb, "small_hwm_mb": small_mb, "index_growth_mb": index_mb},
        ),
    ]
