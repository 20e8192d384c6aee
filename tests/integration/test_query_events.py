"""``nostrweet utils query-events`` in a subprocess, against both relays, after publishing with RelayPool."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from nostrweet.nostr.event import SignedEvent, verify_event
from nostrweet.nostr.relays import RelayPool
from tests.fakes.nostr_helpers import make_event, random_key

pytestmark = pytest.mark.integration


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd)}
    return subprocess.run(
        [sys.executable, "-m", "nostrweet", "-d", str(cwd / "data"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=env,
    )


def publish(url: str, events: list[SignedEvent]) -> None:
    async def go() -> None:
        async with RelayPool([url], ok_timeout=5) as pool:
            for answers in await pool.publish_many([(e, None) for e in events]):
                assert answers[url].is_accepted, answers

    asyncio.run(go())


@pytest.mark.parametrize("relay_fixture", ["sdk_relay", "pypi_relay"])
def test_query_events_json_and_pretty(
    relay_fixture: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = request.getfixturevalue(relay_fixture)
    key, other = random_key(), random_key()
    long_text = "line one\nline two " + "x" * 3000
    events = [
        make_event(
            key, f"note {i}", created_at=1_700_000_000 + i, tags=[["r", f"https://x.com/i/status/{i}"]]
        )
        for i in range(4)
    ]
    events.append(make_event(key, long_text, created_at=1_700_000_100))
    events.append(make_event(key, "profile", kind=0, created_at=1_700_000_050))
    noise = make_event(other, "someone else", created_at=1_700_000_200)
    publish(url, [*events, noise])

    result = run_cli(
        "utils",
        "query-events",
        "-r",
        url,
        "--author",
        key.npub,
        "--kind",
        "1",
        "--format",
        "json",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    got = [SignedEvent.from_dict(json.loads(line)) for line in lines]
    assert [e.id for e in got] == [events[4].id, events[3].id, events[2].id, events[1].id, events[0].id]
    assert got[0].content == long_text  # full, untruncated
    assert all(verify_event(e) for e in got)

    result = run_cli(
        "utils", "query-events", "-r", url, "-a", key.pubkey_hex, "-k", "1", "--limit", "5",
        "--since", "1700000002", "--until", "1700000099", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"id:         {events[3].id}" in result.stdout
    assert f"id:         {events[2].id}" in result.stdout
    assert events[1].id not in result.stdout and events[4].id not in result.stdout
    assert result.stdout.index(events[3].id) < result.stdout.index(events[2].id)  # newest first
    assert key.npub in result.stdout
    assert "2023-11-14T22:13:23Z (1700000003)" in result.stdout
    assert '["r", "https://x.com/i/status/3"]' in result.stdout

    out = tmp_path / "out.jsonl"
    result = run_cli(
        "utils",
        "query-events",
        "-r",
        url,
        "-a",
        key.npub,
        "--format",
        "json",
        "--output",
        str(out),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert len(out.read_text().splitlines()) == 6

    limited = run_cli(
        "utils", "query-events", "-r", url, "-a", key.npub, "-l", "2", "--format", "json", cwd=tmp_path
    )
    assert [json.loads(line)["id"] for line in limited.stdout.splitlines()] == [events[4].id, events[5].id]


def test_query_events_errors(tmp_path: Path, dead_relay_url: str) -> None:
    bad_relay = run_cli("utils", "query-events", "-r", "http://example.com", cwd=tmp_path)
    assert bad_relay.returncode == 2
    assert "relay" in bad_relay.stderr and "Traceback" not in bad_relay.stderr
    bad_author = run_cli(
        "utils", "query-events", "-r", dead_relay_url, "--author", "npub1nonsense", cwd=tmp_path
    )
    assert bad_author.returncode == 2, bad_author.stderr
    assert len(bad_author.stderr.strip().splitlines()) == 1
    bad_format = run_cli("utils", "query-events", "-r", dead_relay_url, "--format", "xml", cwd=tmp_path)
    assert bad_format.returncode == 2
    unreachable = run_cli("utils", "query-events", "-r", dead_relay_url, "--timeout", "1", cwd=tmp_path)
    assert unreachable.returncode == 1, unreachable.stderr
    assert "no relay reachable" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr
