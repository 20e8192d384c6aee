"""Bad alert settings: one line, exit 2, and never the URL's secret part."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SECRET = "XOXB-SECRET-9f8e7d6c"


def run(args: list[str], tmp: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("NOSTRWEET_", "TWITTER_"))}
    return subprocess.run(
        [sys.executable, "-m", "nostrweet", "-d", str(tmp / "data"), *args],
        capture_output=True,
        text=True,
        env={**clean, **env},
        timeout=60,
    )


@pytest.mark.parametrize(
    ("how", "extra", "env"),
    [
        ("flag", ["--alert", f"nosuch://{SECRET}@host/x"], {}),
        ("env", [], {"NOSTRWEET_ALERTS": f"json://ok/x nosuch://{SECRET}@host/x"}),
    ],
)
def test_unknown_alert_scheme_exits_2(
    tmp_path: Path, how: str, extra: list[str], env: dict[str, str]
) -> None:
    result = run(["daemon", "-u", "jack", "-r", "ws://127.0.0.1:1", *extra], tmp_path, **env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "alert URL #" in lines[0] and "nosuch" in lines[0], lines
    assert SECRET not in result.stderr + result.stdout


@pytest.mark.parametrize("command", [["daemon", "-u", "jack", "-r", "ws://127.0.0.1:1"], ["list-tweets"]])
def test_a_command_reading_a_bad_alert_url_from_its_config_exits_2(
    tmp_path: Path, command: list[str]
) -> None:
    config = tmp_path / "alerts.toml"
    config.write_text(f'[alerts]\nurls = ["json://ok/x", "nosuch://{SECRET}@host/x"]\n')
    result = run(["--config", str(config), *command], tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"error: {config}: [alerts] urls alert URL #2 is not a URL Apprise can send to (scheme 'nosuch'): "
        "see https://github.com/caronc/apprise/wiki"
    ]
    assert SECRET not in result.stdout


def test_config_check_reports_bad_alert_settings(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(
        f'[alerts]\nurls = ["nosuch://{SECRET}@x"]\nuser_failures = 0\nrelay_down_seconds = "x"\n'
    )
    result = run(["config", "check", str(config)], tmp_path)
    assert result.returncode == 2
    assert "[alerts] urls" in result.stderr and "[alerts] user_failures" in result.stderr
    assert "[alerts] relay_down_seconds" in result.stderr
    assert SECRET not in result.stderr + result.stdout
    good = tmp_path / "good.toml"
    good.write_text('[alerts]\nurls = ["json://127.0.0.1:9/x"]\nuser_failures = 2\nrelay_down_seconds = 30\n')
    assert run(["config", "check", str(good)], tmp_path).returncode == 0
