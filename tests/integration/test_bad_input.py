"""Bad input (SPEC §1): exit 2 with one line on stderr (plus at most one hint), nothing created outside
the data dir, no traceback, and the bearer token never echoed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

TOKEN = "bad-input-test-token-123"


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


CASES: list[tuple[str, list[str]]] = [
    ("username ../x", ["user-tweets", "../x"]),
    ("username 16 chars", ["user-tweets", "a" * 16]),
    ("username with space", ["fetch-profile", "foo bar"]),
    ("username list-tweets", ["list-tweets", "--user", "../../etc"]),
    ("tweet url", ["fetch-tweet", "https://example.com/foo/status/1"]),
    ("tweet id", ["fetch-tweet", "12ab"]),
    ("relay url", ["post-user-to-nostr", "foo", "-r", "http://relay.example"]),
    ("api url", ["--twitter-api-url", "ftp://x", "fetch-tweet", "1"]),
    ("missing token fetch-tweet", ["fetch-tweet", "20", "NO_TOKEN"]),
    ("missing token user-tweets", ["user-tweets", "foo", "NO_TOKEN"]),
    ("bad config", ["-c", "CONFIG", "fetch-tweet", "20"]),
    ("missing config", ["-c", "nowhere.toml", "fetch-tweet", "20"]),
    ("unknown option", ["fetch-tweet", "--nope", "20"]),
]


@pytest.mark.parametrize(("label", "args"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_exits_2_with_one_line(tmp_path: Path, label: str, args: list[str]) -> None:
    work = tmp_path / "work"
    work.mkdir()
    config = work / "bad.toml"
    config.write_text('[twitter]\nbearer_tokn = "x"\n')
    data = work / "data"
    before = tree(work)
    token = [] if "NO_TOKEN" in args else ["--bearer-token", TOKEN]
    args = [str(config) if a == "CONFIG" else a for a in args if a != "NO_TOKEN"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOSTRWEET_", "TWITTER_"))}
    # An unroutable API root: a bad input must be refused before any request.
    cmd = [sys.executable, "-m", "nostrweet", "-d", str(data), "--twitter-api-url", "http://127.0.0.1:9"]
    result = subprocess.run(cmd + token + args, capture_output=True, text=True, cwd=work, env=env, timeout=60)
    assert result.returncode == 2, (label, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2, result.stderr
    assert len(lines) == 1 or lines[1].startswith("Try "), result.stderr
    assert "Traceback" not in result.stderr and TOKEN not in result.stderr + result.stdout
    created = tree(work) - before
    assert all(c == "data" or c.startswith("data/") for c in created), created
    assert not (tmp_path / "x").exists() and not (work.parent / "x").exists()
