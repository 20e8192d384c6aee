"""Crash safety of atomic writes: a writer subprocess is SIGKILLed at random moments; every final-named
file then parses and equals either an old or a new version, and a new CacheStore removes the temp files."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from nostrweet.cache import layout
from nostrweet.store import CacheStore

pytestmark = pytest.mark.integration

WRITER = r"""
import json
import sys
from pathlib import Path
from nostrweet.store import atomic_write_json

data_dir = Path(sys.argv[1])
names = sys.argv[2:]
# Continue from the newest version on disk, so versions only grow across kills.
version = max((json.loads((data_dir / n).read_bytes())["version"] for n in names if (data_dir / n).exists()), default=0)
print("ready", flush=True)
while True:
    version += 1
    for name in names:
        # Big documents (~1 MB) so that a kill often lands mid-write.
        atomic_write_json(data_dir / name, {"name": name, "version": version, "pad": ["x" * 1000] * 1000})
"""

NAMES = [layout.tweet_filename(datetime(2024, 1, 1, tzinfo=UTC), "foo", 100 + i) for i in range(3)]


def test_sigkill_never_leaves_a_partial_file(data_dir: Path) -> None:
    rng = random.Random(2024)
    kills = 0
    seen_versions: dict[str, int] = {}
    for _ in range(24):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(data_dir), *NAMES], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.25))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()
        kills += 1
        for name in NAMES:
            path = data_dir / name
            if not path.exists():
                continue  # never written yet: fine (no partial file either)
            content = json.loads(path.read_bytes())  # must parse
            assert content["name"] == name and content["pad"] == ["x" * 1000] * 1000
            assert content["version"] >= seen_versions.get(name, 0)  # old or new, never older
            seen_versions[name] = content["version"]
    assert kills >= 20
    assert seen_versions, "the writer never finished a single write"
    CacheStore(data_dir)
    assert not [n for n in os.listdir(data_dir) if layout.is_temp_filename(n)]
