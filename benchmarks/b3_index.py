"""B3 (startup index) and B6 (cost growth of the index, time and memory).

B3: the time opening ``nostrweet.store.CacheStore`` takes (what every command and the daemon do
at startup: remove stale temp files, then ``build_index``) to rebuild the state from the generated
cache, next to one bare ``os.scandir`` pass over the same two directories (the data dir and
``nostr_events/``) that only touches each entry's name. Both run warm (the directory listings are in
the page cache after the first untimed round), alternately, and the medians are compared.

B6 (index): the same measurement at several cache sizes and the fitted exponent of time against the
file count; and the memory the index takes (peak RSS of a fresh interpreter that builds it, minus the
same interpreter before the build), also fitted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.gen_cache import Manifest
from benchmarks.harness import Row, fit_exponent, median_pair
from nostrweet.cache import layout
from nostrweet.store import build_index


def bare_scan(data_dir: Path) -> int:
    """One bare os.scandir pass over the data dir and nostr_events/, touching each name."""
    count = 0
    for directory in (data_dir, data_dir / layout.EVENTS_DIR):
        with os.scandir(directory) as it:
            for entry in it:
                _ = entry.name
                count += 1
    return count


def open_store(data_dir: Path) -> object:
    """What a command or the daemon does at startup: open the CacheStore (temp clean-up + index)."""
    try:
        from nostrweet.store import CacheStore
    except ImportError:  # before the store landed, the index alone
        return build_index(data_dir)
    return CacheStore(data_dir)


def time_index(data_dir: Path, reps: int) -> dict[str, Any]:
    """Medians of opening the store (startup) and of the bare scan over ``data_dir``; build_index alone too."""
    ours, bare, ours_s, bare_s = median_pair(lambda: open_store(data_dir), lambda: bare_scan(data_dir), reps)
    index_only = min(_timed(lambda: build_index(data_dir)) for _ in range(max(1, reps // 2)))
    return {
        "build_index_only_s": index_only,
        "index_s": ours,
        "scan_s": bare,
        "ratio": ours / bare,
        "index_samples": [round(s, 4) for s in ours_s],
        "scan_samples": [round(s, 4) for s in bare_s],
    }


# VmHWM, not ru_maxrss: on Linux ru_maxrss is inherited from the parent across fork + exec.
def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


_MEM_SCRIPT = """
import json, sys
from pathlib import Path
from nostrweet.store import build_index
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
before = hwm()
index = build_index(Path(sys.argv[1]))
after = hwm()
print(json.dumps({"before_kb": before, "after_kb": after, "tweets": len(index.tweets)}))
"""


def index_memory(data_dir: Path) -> dict[str, Any]:
    """Peak RSS (KiB) of a fresh interpreter before and after it builds the index of ``data_dir``."""
    out = subprocess.run(
        [sys.executable, "-c", _MEM_SCRIPT, str(data_dir)], check=True, capture_output=True, text=True
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def run_b3(root: Path, manifest: Manifest, reps: int) -> Row:
    """B3 on the cache under ``root``."""
    data = root / "data"
    found = bare_scan(data)
    timing = time_index(data, reps)
    return Row(
        id="B3",
        what=f"startup index, {manifest.files:,} files / {manifest.spec.users:,} users",
        unit="s",
        ours=timing["index_s"],
        limit=timing["scan_s"],
        limit_what="bare os.scandir pass",
        figure=timing["ratio"],
        figure_what="x bare",
        op="<=",
        target=1.5,
        details={"entries_scanned": found, "reps": reps, **timing},
    )


def run_b6_index(caches: list[tuple[Path, Manifest]], reps: int) -> list[Row]:
    """B6 for the index: time and memory against the file count, with fitted exponents."""
    files: list[float] = []
    times: list[float] = []
    scans: list[float] = []
    mems: list[float] = []
    points: list[dict[str, Any]] = []
    for root, manifest in caches:
        data = root / "data"
        timing = time_index(data, reps)
        mem = index_memory(data)
        delta_mb = max(mem["after_kb"] - mem["before_kb"], 1) / 1024
        files.append(manifest.files)
        times.append(timing["index_s"])
        scans.append(timing["scan_s"])
        mems.append(delta_mb)
        points.append(
            {
                "files": manifest.files,
                "index_s": timing["index_s"],
                "scan_s": timing["scan_s"],
                "index_mem_mb": round(delta_mb, 2),
            }
        )
    k_time = fit_exponent(files, times)
    k_scan = fit_exponent(files, scans)
    k_mem = fit_exponent(files, mems)
    sizes = "/".join(f"{int(f):,}" for f in files)
    return [
        Row(
            id="B6a",
            what=f"index time growth over {sizes} files",
            unit="",
            ours=k_time,
            limit=k_scan,
            limit_what="bare scan exponent",
            figure=k_time,
            figure_what="fitted exponent",
            op="<=",
            target=1.1,
            details={"points": points},
        ),
        Row(
            id="B6b",
            what=f"index memory growth over {sizes} files",
            unit="",
            ours=k_mem,
            limit=1.0,
            limit_what="linear",
            figure=k_mem,
            figure_what="fitted exponent",
            op="<=",
            target=1.1,
            details={"points": points},
        ),
    ]
