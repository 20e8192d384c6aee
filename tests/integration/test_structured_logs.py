"""JSON logs of a real daemon run carry user, tweet_id, action and retry_count as fields (issue 10)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.fakes.x_api import FakeXApi
from tests.integration.test_daemon import SMALL_USERS, TIMELINE, DaemonProc, daemons, tweet_ids_on, wait_for

pytestmark = pytest.mark.integration

__all__ = ["daemons"]

USER_LINE = re.compile(r"^@(\w+):")
TWEET_LINE = re.compile(r"^tweet (\d+)\b")


def test_records_about_a_user_or_tweet_carry_fields(
    tmp_path: Path, fake_x: FakeXApi, sdk_relay: str, daemons: list[DaemonProc]
) -> None:
    uid, user = SMALL_USERS[1]
    expected = set(fake_x.world.timeline(uid)[:3])
    fake_x.faults.fail_5xx(times=1, status=503, endpoint=TIMELINE)  # one retried request
    d = DaemonProc(tmp_path, tmp_path / "data", fake_x, [sdk_relay], [user], backfill=3, extra=["-v"])
    daemons.append(d.start())
    wait_for(lambda: expected <= tweet_ids_on(sdk_relay), 40, "the backfill on the relay", d)
    assert d.stop() == 0
    records = [r for r in d.lines() if r.get("level") != "raw"]
    name = user.lower()

    about_user = [r for r in records if USER_LINE.match(r["message"])]
    assert about_user, "no record about the user"
    for r in about_user:
        assert r.get("user", "").lower() == USER_LINE.match(r["message"]).group(1).lower(), r  # type: ignore[union-attr]

    about_tweet = [r for r in records if TWEET_LINE.match(r["message"])]
    for r in about_tweet:
        assert r.get("tweet_id") == TWEET_LINE.match(r["message"]).group(1), r  # type: ignore[union-attr]

    published = [r for r in records if r.get("action") == "publish" and r.get("tweet_id")]
    assert {r["tweet_id"] for r in published} >= expected
    assert all(r.get("user") == name for r in published)  # from the poll task's context

    retried = [r for r in records if "retry in" in r["message"] and r.get("endpoint")]
    assert retried and retried[0]["retry_count"] == 1 and retried[0]["user"] == name
    polls = [r for r in records if r.get("action") == "poll"]
    assert polls and all(r["user"] == name for r in polls)
    # records outside a poll do not claim a user
    assert all("user" not in r for r in records if r.get("event") == "stats")
