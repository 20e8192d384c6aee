"""The seed's config example loads as written, and `config check` reports every error (SPEC §6)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.blossom_server import BlossomServer
from tests.fakes.x_api import FakeXApi
from tests.integration.test_daemon import SMALL_USERS, TIMELINE, DaemonProc, tweet_ids_on, wait_for

pytestmark = pytest.mark.integration

# SPEC §6, verbatim.
SEED_TOML = """\
[daemon]
poll_interval = 300
max_tweets_per_poll = 20      # page size of a timeline request (5-100)

[twitter]
users = ["user1", "user2", "user3"]

[nostr]
relays = ["wss://relay1.com", "wss://relay2.com"]
blossom_servers = ["https://blossom1.com"]

[rate_limits]
requests_per_window = 100     # our own cap on timeline requests ...
window_seconds = 900          # ... per this many seconds
"""


def nostrweet(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOSTRWEET_")}
    return subprocess.run(
        [sys.executable, "-m", "nostrweet", *args], capture_output=True, text=True, env=env, timeout=60
    )


@pytest.fixture
def daemons() -> Iterator[list[DaemonProc]]:
    started: list[DaemonProc] = []
    yield started
    for d in started:
        d.kill()


def seed_config(tmp_path: Path, relay: str, blossom: str, users: list[str] | None = None) -> Path:
    text = SEED_TOML.replace('["wss://relay1.com", "wss://relay2.com"]', f'["{relay}"]')
    text = text.replace("https://blossom1.com", blossom)
    if users is not None:
        text = text.replace('["user1", "user2", "user3"]', repr(users).replace("'", '"'))
    path = tmp_path / "daemon.toml"
    path.write_text(text)
    return path


def test_config_check_passes_on_the_seed_example(tmp_path: Path) -> None:
    path = tmp_path / "daemon.toml"
    path.write_text(SEED_TOML)
    done = nostrweet("config", "check", str(path))
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, f"{path}: ok", "")


def test_config_check_reports_every_error_of_a_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        "[daemon]\nmax_tweets_per_poll = 500\nbogus = 1\n"
        '[twitter]\nusers = ["not a user"]\n'
        '[nostr]\nrelays = ["http://example.com"]\n'
        '[users.jack]\ncolour = "blue"\n'
    )
    for args in (["config", "check", str(path)], ["--config", str(path), "config", "check"]):
        done = nostrweet(*args)
        assert done.returncode == 2, done
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 5, lines
        for line, key in zip(
            lines,
            ["max_tweets_per_poll", "bogus", "[twitter] users", "[nostr] relays", "colour"],
            strict=True,
        ):
            assert line.startswith(f"error: {path}: ") and key in line, line
        assert "Traceback" not in done.stderr and done.stdout == ""
    done = nostrweet("--log-format", "json", "config", "check", str(path))
    objects = [json.loads(line) for line in done.stderr.strip().splitlines()]
    assert done.returncode == 2 and len(objects) == 5
    assert all(o["level"] == "error" and o["message"].startswith(f"{path}: ") for o in objects)
    # Any other command: the first error in one line, and how many more there are.
    done = nostrweet("--config", str(path), "list-tweets")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: {path}: [daemon] max_tweets_per_poll must be from 5 to 100 (4 more: run nostrweet config check)"
    ]


def test_config_check_without_a_file_is_bad_input(tmp_path: Path) -> None:
    done = nostrweet("config", "check")
    assert done.returncode == 2 and "no config file" in done.stderr
    done = nostrweet("config", "check", str(tmp_path / "missing.toml"))
    assert (
        done.returncode == 2
        and done.stderr.strip() == f"error: config file not found: {tmp_path}/missing.toml"
    )


def test_daemon_starts_with_the_seed_example_and_keeps_running_for_unknown_users(
    tmp_path: Path, fake_x: FakeXApi, sdk_relay: str, blossom_server: BlossomServer, daemons: list[DaemonProc]
) -> None:
    config = seed_config(tmp_path, sdk_relay, blossom_server.url)
    d = DaemonProc(tmp_path, tmp_path / "data", fake_x, [], [], config=config)
    daemons.append(d.start())
    for name in ("user1", "user2", "user3"):
        wait_for(
            lambda n=name: f"X user @{n} not found" in d.log_text(), 20, f"@{name} logged as not found", d
        )
    assert d.alive(), d.log_text()[-3000:]
    assert d.stop() == 0, d.log_text()[-3000:]


def test_daemon_with_the_seed_example_polls_its_users_with_its_page_size(
    tmp_path: Path, fake_x: FakeXApi, sdk_relay: str, blossom_server: BlossomServer, daemons: list[DaemonProc]
) -> None:
    names = [u for _, u in SMALL_USERS]
    config = seed_config(tmp_path, sdk_relay, blossom_server.url, names)
    config.write_text(config.read_text().replace("max_tweets_per_poll = 20", "max_tweets_per_poll = 7"))
    d = DaemonProc(tmp_path, tmp_path / "data", fake_x, [], [], config=config)
    daemons.append(d.start())
    newest = {fake_x.world.timeline(uid)[0] for uid, _ in SMALL_USERS}
    wait_for(lambda: newest <= tweet_ids_on(sdk_relay), 30, "the newest tweet of each user", d)
    assert d.stop() == 0, d.log_text()[-3000:]
    requests = fake_x.requests_to(TIMELINE)
    assert requests
    assert {r.query.get("max_results") for r in requests} == {"7"}
