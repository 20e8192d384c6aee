"""End to end through the real CLI (a subprocess) against the fake X API server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from nostrweet.cache import layout
from nostrweet.cache.writers import WRITERS_DIR
from tests.fakes.x_api import DEFAULT_BEARER, FakeXApi
from tests.fakes.x_media import media_body
from tests.fakes.x_world import (
    BIG_TIMELINE_USER_ID,
    BIG_TIMELINE_USERNAME,
    SYNTHETIC_GIF_TWEET_ID,
    SYNTHETIC_PHOTO_TWEET_ID,
    SYNTHETIC_VIDEO_TWEET_ID,
    World,
)

pytestmark = pytest.mark.integration

TIMELINE = "/2/users/{id}/tweets"


def run_cli(
    fake: FakeXApi, data_dir: Path, *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOSTRWEET_", "TWITTER_"))}
    cmd = [sys.executable, "-m", "nostrweet", "-d", str(data_dir), "--twitter-api-url", fake.url]
    cmd += ["--bearer-token", DEFAULT_BEARER, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=data_dir.parent)


def tweet_files(data_dir: Path) -> dict[int, str]:
    out = {}
    for name in os.listdir(data_dir):
        parsed = layout.parse_tweet_filename(name)
        if parsed is not None:
            assert parsed.tweet_id not in out, f"two files for {parsed.tweet_id}"
            out[parsed.tweet_id] = name
    return out


def document(data_dir: Path, tweet_id: str) -> dict[str, Any]:
    name = tweet_files(data_dir)[int(tweet_id)]
    result: dict[str, Any] = json.loads((data_dir / name).read_text())
    return result


def profiles(data_dir: Path) -> set[str]:
    return {p.username for n in os.listdir(data_dir) if (p := layout.parse_profile_filename(n))}


def test_timeline_pagination_rerun_and_resume(fake_x: FakeXApi, x_world: World, data_dir: Path) -> None:
    total = len(x_world.timeline(BIG_TIMELINE_USER_ID))
    assert total > 100
    result = run_cli(fake_x, data_dir, "user-tweets", BIG_TIMELINE_USERNAME, "--count", "500")
    assert result.returncode == 0, result.stderr
    files = tweet_files(data_dir)
    assert set(map(str, files)) == set(x_world.timeline(BIG_TIMELINE_USER_ID))
    assert len(files) == total
    pages = fake_x.requests_to(TIMELINE)
    assert len(pages) >= 2 and "pagination_token" in pages[1].query
    assert BIG_TIMELINE_USERNAME.lower() in profiles(data_dir)
    listing_before = sorted(os.listdir(data_dir))

    # Re-run: nothing new is fetched or written.
    fake_x.reset_log()
    result = run_cli(fake_x, data_dir, "user-tweets", BIG_TIMELINE_USERNAME, "--count", "10")
    assert result.returncode == 0, result.stderr
    assert "0 new" in result.stdout
    assert sorted(os.listdir(data_dir)) == listing_before
    newest = max(files)
    timeline_requests = fake_x.requests_to(TIMELINE)
    assert [r.query.get("since_id") for r in timeline_requests] == [str(newest)]
    assert fake_x.requests_to("/2/tweets") == []  # no enrichment lookups for tweets we have

    # Resume: 3 new tweets appear; only they are fetched, with since_id = newest cached.
    # (synthetic: copies of the newest tweet under newer ids, since no fixture has later tweets)
    for n in range(1, 4):
        x_world.add_tweet(dict(x_world.tweets[str(newest)], id=str(newest + n), text=f"later tweet {n}"))
    total += 3
    fake_x.reset_log()
    result = run_cli(fake_x, data_dir, "user-tweets", BIG_TIMELINE_USERNAME, "--count", "10")
    assert result.returncode == 0, result.stderr
    assert "3 new" in result.stdout
    assert len(tweet_files(data_dir)) == total
    assert fake_x.requests_to(TIMELINE)[0].query["since_id"] == str(newest)

    # list-tweets: newest first, one JSON object per line.
    result = run_cli(fake_x, data_dir, "list-tweets", "--user", BIG_TIMELINE_USERNAME, "--json")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    ids = [int(r["id"]) for r in rows]
    assert ids == sorted(ids, reverse=True) and len(ids) == total


def test_count_is_honoured(fake_x: FakeXApi, data_dir: Path) -> None:
    result = run_cli(fake_x, data_dir, "user-tweets", f"@{BIG_TIMELINE_USERNAME.upper()}", "--count", "3")
    assert result.returncode == 0, result.stderr
    assert len(tweet_files(data_dir)) == 3
    assert all(r.query["max_results"] == "5" for r in fake_x.requests_to(TIMELINE))


def _find(world: World, kind: str, *, depth: int = 1) -> str:
    """A tweet with a reference chain of `kind` at least `depth` long, all present in the world."""
    for tid in sorted(world.tweets, key=int):
        current, ok = world.tweets[tid], True
        for _ in range(depth):
            ref = next((r["id"] for r in current.get("referenced_tweets", []) if r["type"] == kind), None)
            if (
                ref is None
                or ref not in world.tweets
                or world.tweets[ref].get("author_id") not in world.users
            ):
                ok = False
                break
            current = world.tweets[ref]
        if ok:
            return tid
    pytest.skip(f"the world has no {kind} chain of depth {depth}")


@pytest.mark.parametrize(("kind", "depth"), [("quoted", 1), ("retweeted", 1), ("replied_to", 2)])
def test_enrichment(fake_x: FakeXApi, x_world: World, data_dir: Path, kind: str, depth: int) -> None:
    tweet_id = _find(x_world, kind, depth=depth)
    result = run_cli(fake_x, data_dir, "fetch-tweet", f"https://x.com/someone/status/{tweet_id}?s=20")
    assert result.returncode == 0, result.stderr
    doc = document(data_dir, tweet_id)
    assert doc["data"]["id"] == tweet_id
    included = {t["id"]: t for t in doc["includes"]["tweets"]}
    users = {u["id"] for u in doc["includes"]["users"]}
    chain, current = [], x_world.tweets[tweet_id]
    for _ in range(depth):
        ref = next(r["id"] for r in current["referenced_tweets"] if r["type"] == kind)
        chain.append(ref)
        current = x_world.tweets[ref]
    for ref in chain:
        assert ref in included, f"{kind} tweet {ref} missing from includes"
        author = included[ref]["author_id"]
        assert author in users
        assert x_world.users[author]["username"].lower() in profiles(data_dir)
    assert doc["data"]["author_id"] in users
    # fetch-tweet again: served from the cache, no API request.
    fake_x.reset_log()
    assert run_cli(fake_x, data_dir, "fetch-tweet", tweet_id).returncode == 0
    assert fake_x.requests == []


def _expected_bytes(fake: FakeXApi, url: str) -> bytes:
    parts = urlsplit(url)
    host, path = parts.netloc, parts.path.lstrip("/")
    fmt = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p).get("format")
    return media_body(host, path, fmt, fake.url)[0]


def test_media_of_each_type(fake_x: FakeXApi, x_world: World, data_dir: Path) -> None:
    for tid in (SYNTHETIC_PHOTO_TWEET_ID, SYNTHETIC_VIDEO_TWEET_ID, SYNTHETIC_GIF_TWEET_ID):
        result = run_cli(fake_x, data_dir, "fetch-tweet", tid)
        assert result.returncode == 0, result.stderr
        tweet = x_world.tweets[tid]
        author = x_world.users[tweet["author_id"]]["username"]
        for n, key in enumerate(tweet["attachments"]["media_keys"]):
            media = x_world.media[key]
            if media["type"] == "photo":
                ext, url = media["url"].rsplit(".", 1)[1], media["url"]
            else:
                mp4 = [v for v in media["variants"] if v["content_type"] == "video/mp4"]
                url, ext = max(mp4, key=lambda v: v.get("bit_rate", 0))["url"], "mp4"
            path = data_dir / layout.media_filename(author, tid, n, ext)
            assert path.exists(), f"{media['type']} of {tid} not downloaded"
            assert path.read_bytes() == _expected_bytes(fake_x, url)
    assert not any("m3u8" in m for m in fake_x.media_log)
    assert any("name=orig" in m for m in fake_x.media_log)
    # Already there: no download again.
    before = fake_x.media_requests
    for tid in (SYNTHETIC_VIDEO_TWEET_ID,):
        run_cli(fake_x, data_dir, "fetch-tweet", tid)
    assert fake_x.media_requests == before


def test_deleted_tweet(fake_x: FakeXApi, x_world: World, data_dir: Path) -> None:
    tweet_id = sorted(x_world.tweets)[0]
    x_world.delete_tweet(tweet_id)
    result = run_cli(fake_x, data_dir, "fetch-tweet", tweet_id)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert tweet_id in result.stderr and "Traceback" not in result.stderr
    assert (data_dir / f"tweet_{tweet_id}.not_found").exists()
    assert tweet_files(data_dir) == {}


def test_429_is_waited_out(fake_x: FakeXApi, data_dir: Path) -> None:
    fake_x.faults.fail_429(times=1, reset_in=2.0, endpoint=TIMELINE)
    result = run_cli(fake_x, data_dir, "user-tweets", BIG_TIMELINE_USERNAME, "--count", "5")
    assert result.returncode == 0, result.stderr
    assert "429" in result.stderr  # logged
    calls = fake_x.requests_to(TIMELINE)
    assert [c.status for c in calls[:2]] == [429, 200]
    reset = int(calls[0].headers["x-rate-limit-reset"])
    assert calls[1].time >= reset  # no request before the reset
    assert len(tweet_files(data_dir)) == 5


def test_500_is_retried(fake_x: FakeXApi, data_dir: Path) -> None:
    fake_x.faults.fail_5xx(times=2, status=500, endpoint=TIMELINE)
    result = run_cli(fake_x, data_dir, "user-tweets", BIG_TIMELINE_USERNAME, "--count", "5")
    assert result.returncode == 0, result.stderr
    calls = fake_x.requests_to(TIMELINE)
    assert [c.status for c in calls] == [500, 500, 200]
    # the waits it logged are the backoff policy's first two (1 s, then 2 s, ±50 %; the policy's own
    # table is in tests/unit/test_twitter_client.py) ...
    waits = [float(w) for w in re.findall(r"answered HTTP 500; retry in ([0-9.]+) s", result.stderr)]
    assert len(waits) == 2, result.stderr
    assert 0.5 <= waits[0] <= 1.5 and 1.0 <= waits[1] <= 3.0, waits
    # ... and no retry reached the server before its wait was over (the log rounds to 0.1 s)
    for failed, retry, wait in zip(calls[:-1], calls[1:], waits, strict=True):
        assert retry.time >= failed.time + wait - 0.05, (failed.time, retry.time, wait)
    assert len(tweet_files(data_dir)) == 5


def test_fetch_profile_and_clear_cache(fake_x: FakeXApi, data_dir: Path) -> None:
    result = run_cli(fake_x, data_dir, "fetch-profile", BIG_TIMELINE_USERNAME)
    assert result.returncode == 0, result.stderr
    assert profiles(data_dir) == {BIG_TIMELINE_USERNAME.lower()}
    events = data_dir / layout.EVENTS_DIR
    events.mkdir()
    (events / layout.event_filename("b" * 64, layout.EventSubject.TWEET, 5)).write_text("{}")
    result = run_cli(fake_x, data_dir, "clear-cache", "--force")
    assert result.returncode == 0, result.stderr
    # the state (nostrweet.sqlite3) is not the cache: it stays, with the posting records
    # (and .writers/, where the commands that write leave their markers)
    assert sorted(os.listdir(data_dir)) == [WRITERS_DIR, layout.EVENTS_DIR, "nostrweet.sqlite3"]
    assert os.listdir(events)
    result = run_cli(fake_x, data_dir, "clear-cache", "--force", "--all")
    assert os.listdir(events) == []
