"""--bearer-token-file (env NOSTRWEET_BEARER_TOKEN_FILE, [twitter] bearer_token_file): the token from a
file, as containers mount secrets; never echoed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.x_api import FakeXApi

pytestmark = pytest.mark.integration


def run(args: list[str], tmp: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("NOSTRWEET_", "TWITTER_"))}
    return subprocess.run(
        [sys.executable, "-m", "nostrweet", "-d", str(tmp / "data"), *args],
        capture_output=True,
        text=True,
        env={**clean, **env},
        timeout=60,
    )


def test_token_file_reaches_the_api_and_is_never_printed(tmp_path: Path, fake_x: FakeXApi) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(f"\n  {fake_x.bearer_token}  \n")
    token_file.chmod(0o644)
    result = run(
        [
            "--twitter-api-url",
            fake_x.url,
            "--bearer-token-file",
            str(token_file),
            "fetch-profile",
            "WhoDisTweet",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "bearer token file" in result.stderr and "chmod 600" in result.stderr  # readable by others
    assert fake_x.bearer_token not in result.stdout + result.stderr
    token_file.chmod(0o600)
    by_env = run(
        ["--twitter-api-url", fake_x.url, "fetch-profile", "WhoDisTweet"],
        tmp_path,
        NOSTRWEET_BEARER_TOKEN_FILE=str(token_file),
    )
    assert by_env.returncode == 0, by_env.stderr
    assert "bearer token file" not in by_env.stderr


@pytest.mark.parametrize(("content", "problem"), [(None, "not found"), ("   \n", "is empty")])
def test_bad_token_file_is_one_line_exit_2(tmp_path: Path, content: str | None, problem: str) -> None:
    token_file = tmp_path / "token"
    if content is not None:
        token_file.write_text(content)
    result = run(["--bearer-token-file", str(token_file), "fetch-profile", "WhoDisTweet"], tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and problem in lines[0] and "Traceback" not in result.stderr
