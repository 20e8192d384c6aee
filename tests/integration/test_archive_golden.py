"""The files the archiver writes for recorded X answers are byte-identical to the golden set.

The golden set (tests/data/archive-golden, see tests/data/archive_golden.py) was written by the
archiver of main at 81cefe9, which worked on raw dicts; this archives the same tweets and timelines
with today's code, which decodes the answers into typed values at the twitter/ boundary.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.data.archive_golden import GOLDEN, archive_set, golden_names, normalized
from tests.fakes.x_api import FakeXApi
from tests.fakes.x_world import World

pytestmark = pytest.mark.integration


def test_archived_files_match_the_golden_set(fake_x: FakeXApi, x_world: World, data_dir: Path) -> None:
    asyncio.run(archive_set(x_world, fake_x.url, data_dir))
    written = golden_names(data_dir)
    assert written == sorted(p.name for p in GOLDEN.iterdir())
    assert len(written) > 100
    differ = [n for n in written if normalized(data_dir / n, fake_x.url) != (GOLDEN / n).read_bytes()]
    assert differ == []
