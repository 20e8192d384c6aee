"""Pacing settings: the seed's ``[rate_limits]`` cap, the poll interval's bounds, the limiter's own cap."""

from __future__ import annotations

from pathlib import Path

import pytest

from nostrweet.cli.app import main
from nostrweet.errors import ConfigError, InputError
from nostrweet.settings import load_config
from nostrweet.twitter.ratelimit import RateLimiter, SlidingCap
from tests.unit.test_config_daemon import options_for, resolve
from tests.unit.test_twitter_ratelimit import NOW, FakeTime

WEEK = 7 * 24 * 3600


def test_rate_limits_cap_keys_load_and_resolve(tmp_path: Path) -> None:
    path = tmp_path / "daemon.toml"
    path.write_text("[rate_limits]\nrequests_per_window = 100\nwindow_seconds = 900\n")
    cfg = load_config(path)
    assert (cfg.get("rate_limits", "requests_per_window"), cfg.get("rate_limits", "window_seconds")) == (
        100,
        900,
    )
    dc = resolve(options_for(path), users=["a"], relays=["ws://x"])
    assert (dc.requests_per_window, dc.window_seconds) == (100, 900)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[rate_limits]\nrequests_per_window = 0\nwindow_seconds = 900\n", "requests_per_window"),
        ("[rate_limits]\nrequests_per_window = 10\nwindow_seconds = 0\n", "window_seconds"),
        ("[rate_limits]\nwindow_seconds = 'long'\n", "window_seconds"),
        ("[daemon]\npoll_interval = 100000000000000000000\n", "poll_interval"),
        (f"[daemon]\npoll_interval = {WEEK + 1}\n", "poll_interval"),
        ("[daemon]\npoll_interval = 0\n", "poll_interval"),
    ],
)
def test_bad_pacing_values_name_the_key(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "daemon.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert needle in str(info.value) and str(path) in str(info.value)


def test_cap_needs_both_keys(tmp_path: Path) -> None:
    path = tmp_path / "daemon.toml"
    path.write_text("[rate_limits]\nrequests_per_window = 100\n")
    with pytest.raises(InputError, match="window_seconds"):
        resolve(options_for(path), users=["a"], relays=["ws://x"])


@pytest.mark.parametrize("value", [0, WEEK + 1, 10**20])
def test_poll_interval_flag_is_bounded(value: int) -> None:
    with pytest.raises(InputError, match="--poll-interval") as info:
        resolve(options_for(None), users=["a"], relays=["ws://x"], poll_interval=value)
    assert info.value.exit_code == 2


def test_poll_interval_bounds_are_accepted() -> None:
    for value in (1, WEEK):
        dc = resolve(options_for(None), users=["a"], relays=["ws://x"], poll_interval=value)
        assert dc.poll_interval == value  # type: ignore[attr-defined]


def test_cli_refuses_a_huge_poll_interval_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["-d", str(tmp_path / "d"), "daemon", "-u", "a", "-r", "ws://127.0.0.1:1"]
    with pytest.raises(SystemExit) as info:
        main([*args, "--poll-interval", "100000000000000000000"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--poll-interval" in err[0] and "Traceback" not in err[0]


def test_sliding_cap_counts_our_own_requests() -> None:
    cap = SlidingCap(3, 10.0)
    for t in (0.0, 1.0, 2.0):
        assert cap.wait_seconds(t) == 0
        cap.record(t)
    assert cap.wait_seconds(5.0) == pytest.approx(5.0)  # the request at 0 leaves the window at 10
    assert cap.wait_seconds(10.0) == 0


async def test_limiter_keeps_under_our_cap_though_x_allows_more() -> None:
    t = FakeTime()
    limiter = RateLimiter(clock=t.clock, sleep=t.sleep, caps={"/2/users/:id/tweets": (2, 60.0)})
    limiter.update("/2/users/:id/tweets", 1500, 1500, int(NOW) + 900)
    sent = []
    for _ in range(5):
        await limiter.acquire("/2/users/:id/tweets")
        sent.append(t.now - NOW)
    assert sent == [0, 0, 60, 60, 120]
    await limiter.acquire("/2/tweets/:id")  # other endpoints are not capped
    assert t.now - NOW == 120
