"""keys USERNAME for an account that is not cached: looked up on X once, then answered from the cache."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nostrweet.nostr.keys import KeyDeriver
from nostrweet.settings import Secret
from tests.fakes.x_api import FakeXApi

pytestmark = pytest.mark.integration

M = "leader monkey parrot ring guide accident before fence cannon height naive bean"
PHILLY_ID = "2351222345"  # @PhillyNEFL in the recorded fixtures


def keys(data_dir: Path, fake_x: FakeXApi | None, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "nostrweet", "-d", str(data_dir)]
    if fake_x is not None:
        argv += ["--twitter-api-url", fake_x.url, "--bearer-token", fake_x.bearer_token]
    env = {k: v for k, v in os.environ.items() if k != "TWITTER_BEARER_TOKEN"}
    env["NOSTRWEET_MNEMONIC"] = M  # not -m, which adds a warning line that it shows in ps
    return subprocess.run([*argv, "keys", *extra], capture_output=True, text=True, env=env, timeout=60)


def test_uncached_username_is_looked_up_once(fake_x: FakeXApi, tmp_path: Path) -> None:
    expected = KeyDeriver(Secret(M)).for_user(PHILLY_ID)
    first = keys(tmp_path, fake_x, "@phillynefl")
    assert first.returncode == 0, first.stderr
    assert f"user id: {PHILLY_ID}" in first.stdout and expected.npub in first.stdout
    lookups = [r for r in fake_x.requests if "/users/by/username/" in r.path]
    assert len(lookups) == 1
    # The profile is cached now: no bearer token needed, no request sent.
    again = keys(tmp_path, None, "PhillyNEFL")
    assert again.returncode == 0 and expected.npub in again.stdout
    assert len([r for r in fake_x.requests if "/users/by/username/" in r.path]) == 1


def test_uncached_username_without_token_says_what_to_do(tmp_path: Path) -> None:
    proc = keys(tmp_path, None, "someone")
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "fetch-profile someone" in proc.stderr
