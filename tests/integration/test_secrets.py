"""No secret in any output at any log level: mnemonic (and every run of its words), nsecs, bearer token."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nostrweet.nostr.keys import KeyDeriver
from nostrweet.settings import Secret
from tests.fakes.x_api import FakeXApi
from tests.integration.publish_helpers import Cli, make_cli, records

pytestmark = pytest.mark.integration

USERS = ["MarchePinna", "antifascista__1"]


def forbidden(cli: Cli, bearer: str, user_ids: set[str]) -> list[str]:
    words = cli.mnemonic.split()
    needles = [cli.mnemonic, bearer]
    # every run of two or more consecutive words of the phrase, with any single-space joining
    needles += [" ".join(words[i:j]) for i in range(len(words)) for j in range(i + 2, len(words) + 1)]
    deriver = KeyDeriver(Secret(cli.mnemonic))
    for uid in user_ids:
        key = deriver.for_user(uid)
        needles += [key.nsec(), key.secret.reveal()]
    return needles


def scan(texts: dict[str, str], needles: list[str]) -> list[str]:
    return [
        f"{where}: {needle[:6]}…" for where, text in texts.items() for needle in needles if needle in text
    ]


def test_no_secret_in_any_output(sdk_relay: str, fake_x: FakeXApi, tmp_path: Path) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    base = ["-vv", "--log-format", "json"]
    outputs: dict[str, str] = {}

    def run(*args: str, check: bool = True) -> None:
        proc = cli.run(*base, *args, check=check)
        outputs[" ".join(args) + " (stdout)"] = proc.stdout
        outputs[" ".join(args) + " (stderr)"] = proc.stderr
        if "--format" not in args:
            for line in proc.stderr.splitlines():
                if line.startswith("{"):
                    json.loads(line)  # json logs stay one object per line

    for user in USERS:
        run("user-tweets", user, "--count", "10")
        run("post-user-to-nostr", user, "-r", sdk_relay)
    run("post-tweet", "1574184144313122816", "-r", sdk_relay, "--force")
    run("show-tweet", "1574184144313122816")
    run("update-relay-list", "-r", sdk_relay)
    run("post-profile-to-nostr", "MarchePinna", "-r", sdk_relay)
    run("keys", "MarchePinna")
    # an operational failure (a relay nobody listens on) and a bad-input failure, at -vv
    run("post-tweet", "1574184144313122816", "-r", "ws://127.0.0.1:9", check=False)
    run("post-user-to-nostr", "../x", "-r", sdk_relay, check=False)

    # the mnemonic given on the command line and through the environment, with a wrong word
    bad = cli.mnemonic.split()
    bad[2] = "notaword"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOSTRWEET_", "TWITTER_"))}
    for extra_env, flag in (({}, ["-m", " ".join(bad)]), ({"NOSTRWEET_MNEMONIC": " ".join(bad)}, [])):
        proc = subprocess.run(
            [sys.executable, "-m", "nostrweet", *base, "-d", str(cli.data_dir), *flag, "keys", "1"],
            capture_output=True,
            text=True,
            env={**env, **extra_env},
            timeout=60,
        )
        assert proc.returncode == 2 and "3rd" in proc.stderr
        outputs[f"bad mnemonic {flag[:1]} (stderr)"] = proc.stderr
        outputs[f"bad mnemonic {flag[:1]} (stdout)"] = proc.stdout
    bad_needles = [" ".join(bad[i:j]) for i in range(len(bad)) for j in range(i + 2, len(bad) + 1)]

    user_ids = {
        str(r["subject_id"])
        for name, r in records(cli.data_dir).items()
        if "_profile_" in name or "_relays_" in name
    }
    assert len(user_ids) >= 2
    needles = forbidden(cli, fake_x.bearer_token, user_ids) + bad_needles
    files = {
        str(p.relative_to(cli.data_dir)): p.read_bytes().decode("utf-8", "replace")
        for p in cli.data_dir.rglob("*")
        if p.is_file()
    }
    assert len(files) > 10
    leaks = scan(outputs, needles) + scan(files, needles)
    assert leaks == []
    # the scan is real: the secrets would be found if they were there
    assert scan({"probe": f"x {needles[0]} y"}, needles)
