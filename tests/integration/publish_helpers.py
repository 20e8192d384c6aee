"""Helpers of the publishing integration tests: run the real CLI in a subprocess, read records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnemonic import Mnemonic

from nostrweet.nostr.event import SignedEvent

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Cli:
    """The nostrweet command with a data dir, a mnemonic file and (optionally) a fake X API."""

    data_dir: Path
    mnemonic: str
    mnemonic_file: Path
    api_url: str | None = None
    bearer_token: str | None = None

    def run(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        cmd = [
            sys.executable,
            "-m",
            "nostrweet",
            "-d",
            str(self.data_dir),
            "--mnemonic-file",
            str(self.mnemonic_file),
        ]
        if self.api_url:
            cmd += ["--twitter-api-url", self.api_url]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NOSTRWEET_", "TWITTER_"))}
        if self.bearer_token:
            env["TWITTER_BEARER_TOKEN"] = self.bearer_token
        proc = subprocess.run(
            [*cmd, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=self.data_dir.parent
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"nostrweet {' '.join(args)} exited {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
            )
        return proc


def make_cli(tmp_path: Path, api_url: str | None = None, bearer_token: str | None = None) -> Cli:
    """A Cli with a fresh random mnemonic in a file and an empty data dir."""
    phrase = Mnemonic("english").generate(128)
    mfile = tmp_path / "mnemonic.txt"
    mfile.write_text(phrase + "\n")
    mfile.chmod(0o600)  # as a user keeps it; an open mnemonic file gets a warning line
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    return Cli(data, phrase, mfile, api_url, bearer_token)


def records(data_dir: Path) -> dict[str, dict[str, Any]]:
    """Every event record in the data dir, by file name without the ``.pending`` marker (the record's
    identity: the name changes when its relays settle)."""
    events = data_dir / "nostr_events"
    if not events.exists():
        return {}
    out = {}
    for p in sorted(events.glob("event_*.json")):  # a pending name sorts after its settled twin
        out[p.name.replace(".pending.json", ".json")] = json.loads(p.read_text())
    return out


def query(cli: Cli, relay: str, kinds: tuple[int, ...] = (0, 1, 6, 10002, 10063)) -> list[SignedEvent]:
    """Events read back with ``utils query-events --format json``, one kind at a time (the PyPI relay
    answers nothing to a filter without kinds, authors or ids)."""
    events: dict[str, SignedEvent] = {}
    for kind in kinds:
        proc = cli.run(
            "utils", "query-events", "-r", relay, "--kind", str(kind), "--limit", "1000", "--format", "json"
        )
        for line in proc.stdout.splitlines():
            if line.strip():
                event = SignedEvent.from_json(line)
                events[event.id] = event
    return list(events.values())
