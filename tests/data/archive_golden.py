"""Archive a fixed set of recorded tweets and timelines through the fake X API, for the golden test.

`tests/data/archive-golden/` holds the tweet and profile files this wrote with the archiver as it was
before the X client answered typed values (main at 81cefe9, the raw-dict archiver). The test
`tests/integration/test_archive_golden.py` archives the same set with today's code and compares the
files byte for byte. Regenerate (only when the document format changes on purpose) with
`python -m tests.data.archive_golden`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from nostrweet.archive.archiver import Archiver
from nostrweet.cache import layout
from nostrweet.secret import Secret
from nostrweet.store import CacheStore
from nostrweet.twitter.client import TwitterClient
from tests.fakes.x_api import DEFAULT_BEARER, FakeXApi
from tests.fakes.x_world import World

GOLDEN = Path(__file__).parent / "archive-golden"
CLOCK = datetime(2026, 1, 1, tzinfo=UTC)
TIMELINES = 2  # the biggest timelines of the world, 20 newest tweets each
PER_TIMELINE = 20


FAKE_URL = b"http://fake-x.test"


def normalized(path: Path, api_url: str) -> bytes:
    """A file's bytes with the fake X API's address (its port changes each run) replaced by FAKE_URL."""
    return path.read_bytes().replace(api_url.encode(), FAKE_URL)


def golden_names(data_dir: Path) -> list[str]:
    """The tweet and profile files of a data directory (what the golden set compares)."""
    return sorted(
        n
        for n in os.listdir(data_dir)
        if layout.parse_tweet_filename(n) is not None or layout.parse_profile_filename(n) is not None
    )


async def archive_set(world: World, api_url: str, data_dir: Path) -> None:
    """Fetch every tweet of the feature index, then the newest tweets of the biggest timelines."""
    store = CacheStore(data_dir)
    async with TwitterClient(api_url, Secret(DEFAULT_BEARER), max_tries=1) as client:
        archiver = Archiver(store, client, clock=lambda: CLOCK)
        for tweet_id in dict.fromkeys(e.id for e in world.feature_examples() if e.id.isdigit()):
            if tweet_id in world.tweets and world.tweets[tweet_id].get("author_id"):
                try:
                    await archiver.fetch_tweet(tweet_id)
                except ValueError:  # an author the world cannot give: no file, before and after
                    continue
        for user_id, _ in world.timeline_sizes()[:TIMELINES]:
            username = str(world.users[user_id]["username"])
            await archiver.archive_timeline(username, count=PER_TIMELINE)


def main() -> int:
    world = World.from_fixtures()
    with FakeXApi(world) as fake, tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        asyncio.run(archive_set(world, fake.url, data_dir))
        shutil.rmtree(GOLDEN, ignore_errors=True)
        GOLDEN.mkdir()
        for name in golden_names(data_dir):
            (GOLDEN / name).write_bytes(normalized(data_dir / name, fake.url))
    print(f"{len(os.listdir(GOLDEN))} files in {GOLDEN}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
