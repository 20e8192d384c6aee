"""The daemon paces its polls from the rate-limit headers, not from an assumed window (SPEC §5).

The fake X API gives the timeline endpoint 8 requests per 20 s. A daemon that assumed X's 15-minute
window would poll each of 3 users once every ~7 minutes and miss tweets released seconds later.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.x_api import FakeXApi
from tests.integration.test_daemon import SMALL_USERS, TIMELINE, DaemonProc, tweet_ids_on, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def daemons() -> Iterator[list[DaemonProc]]:
    """Every daemon a test starts is killed at the end."""
    started: list[DaemonProc] = []
    yield started
    for d in started:
        d.kill()


def test_polls_follow_a_short_window_from_the_headers(
    tmp_path: Path, fake_x: FakeXApi, sdk_relay: str, daemons: list[DaemonProc]
) -> None:
    world = fake_x.world
    fake_x.set_limit(TIMELINE, 8, window_seconds=20)
    for uid, _ in SMALL_USERS:
        world.hold_back(uid, keep=1)
    names = [u for _, u in SMALL_USERS]
    d = DaemonProc(tmp_path, tmp_path / "data", fake_x, [sdk_relay], names, poll=2)
    daemons.append(d.start())
    visible = {world.timeline(uid)[0] for uid, _ in SMALL_USERS}
    wait_for(lambda: visible <= tweet_ids_on(sdk_relay), 20, "the backfill", d)
    start = time.monotonic()
    released: set[str] = set()
    for at in (5.0, 25.0):
        time.sleep(max(0.0, start + at - time.monotonic()))
        step = {tid for uid, _ in SMALL_USERS for tid in world.release(uid, 1)}
        assert step
        released |= step
        released_at = time.time()
        wait_for(lambda r=set(released): r <= tweet_ids_on(sdk_relay), 20, f"tweets released at {at} s", d)
    assert d.stop() == 0, d.log_text()[-3000:]
    requests = fake_x.requests_to(TIMELINE)
    assert [r for r in requests if r.status != 200] == []  # never over the budget, never a 429
    windows = {r.headers.get("x-rate-limit-reset") for r in requests}
    assert len(windows) >= 2, windows  # polls went on past the first window
    assert any(r.time >= released_at for r in requests)
    assert "per 900 s" not in d.log_text()
