"""A one-tweet publish of a cached tweet, on a state already opened, loads no SQLAlchemy: the statements
on its path are SQL text on the standard library's sqlite3 (``state/sql.py``). Importing SQLAlchemy is
most of such a command's start (docs/PERFORMANCE.md, B2c)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.fakes.x_api import FakeXApi
from tests.integration.publish_helpers import make_cli, query

pytestmark = pytest.mark.integration

USER = "WhoDisTweet"
USER_ID = "1154498013626327041"

PROBE = """
import runpy, sys
sys.argv = ["nostrweet", *sys.argv[1:]]
try:
    runpy.run_module("nostrweet", run_name="__main__")
except SystemExit as exc:
    print("\\nEXIT", exc.code)
print("\\nSQLALCHEMY", sorted(m for m in sys.modules if m.split(".")[0] == "sqlalchemy")[:3])
"""


def test_a_one_tweet_publish_loads_no_sqlalchemy(fake_x: FakeXApi, tmp_path: Path, sdk_relay: str) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    cli.run("user-tweets", USER, "--count", "5")  # cached, and the state opened
    tweet_id = fake_x.world.timeline(USER_ID)[0]

    done = cli.run("post-tweet-to-nostr", tweet_id, "-r", sdk_relay, code=PROBE)

    said = re.search(
        rf"tweet {tweet_id}: published \(event ([0-9a-f]+), kind 1\), accepted by 1", done.stdout
    )
    assert said is not None, done.stdout
    assert "\nEXIT" not in done.stdout or "\nEXIT 0" in done.stdout
    assert done.stdout.rstrip().endswith("SQLALCHEMY []")
    assert [e for e in query(cli, sdk_relay, kinds=(1,)) if e.id.startswith(said[1])]
