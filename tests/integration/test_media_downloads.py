"""Media downloads: only X's media hosts (and the API root), checked redirects, image/video only, a total
time limit; and one tweet whose media cannot be had never stops the others (issue 14)."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from nostrweet.archive.download import download
from nostrweet.settings import Secret
from nostrweet.twitter.client import TwitterClient
from tests.fakes.x_api import DEFAULT_BEARER, FakeXApi
from tests.fakes.x_media import media_body
from tests.fakes.x_world import World
from tests.integration.publish_helpers import make_cli, query
from tests.integration.test_archive_cli import document, run_cli, tweet_files

pytestmark = pytest.mark.integration


class SecretServer:
    """An HTTP server on another 127.0.0.1 port that must never be asked for anything."""

    def __init__(self) -> None:
        seen: list[str] = []
        self.seen = seen

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append(self.path)
                body = b"\xff\xd8\xff secret"
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def secret() -> Iterator[SecretServer]:
    server = SecretServer()
    try:
        yield server
    finally:
        server.close()


async def _no_sleep(_seconds: float) -> None:
    return None


def _client(fake: FakeXApi) -> TwitterClient:
    return TwitterClient(fake.url, Secret(DEFAULT_BEARER), max_tries=2, sleep=_no_sleep)


def _media(fake: FakeXApi, name: str) -> str:
    return f"{fake.url}/media/pbs.twimg.com/media/{name}"


async def test_other_hosts_are_never_fetched(fake_x: FakeXApi, secret: SecretServer, tmp_path: Path) -> None:
    async with _client(fake_x) as client:
        assert not await download(
            client.session, f"{secret.url}/secret.jpg", tmp_path / "a.jpg", max_bytes=10**6
        )
        assert not await download(client.session, "file:///etc/passwd", tmp_path / "b.jpg", max_bytes=10**6)
    assert secret.seen == []
    assert os.listdir(tmp_path) == []


async def test_redirects_are_checked_hop_by_hop(
    fake_x: FakeXApi, secret: SecretServer, tmp_path: Path
) -> None:
    fake_x.media_redirect["Away"] = f"{secret.url}/secret.jpg"
    fake_x.media_redirect["Hop"] = _media(fake_x, "Target.jpg")
    fake_x.media_redirect["Loop"] = _media(fake_x, "Loop.jpg")
    async with _client(fake_x) as client:
        assert not await download(
            client.session, _media(fake_x, "Away.jpg"), tmp_path / "a.jpg", max_bytes=10**6
        )
        assert await download(client.session, _media(fake_x, "Hop.jpg"), tmp_path / "b.jpg", max_bytes=10**6)
        before = fake_x.media_requests
        assert not await download(
            client.session, _media(fake_x, "Loop.jpg"), tmp_path / "c.jpg", max_bytes=10**6
        )
    assert secret.seen == []  # the redirect to it was refused
    assert (tmp_path / "b.jpg").read_bytes() == media_body("pbs.twimg.com", "media/Target.jpg", None, "")[0]
    assert fake_x.media_requests - before == 6  # the first answer and 5 redirects, no more
    assert sorted(os.listdir(tmp_path)) == ["b.jpg"]


async def test_only_images_and_videos_are_stored(fake_x: FakeXApi, tmp_path: Path) -> None:
    fake_x.media_content_type["Page"] = "text/html; charset=utf-8"
    fake_x.media_content_type["Playlist"] = "application/x-mpegURL"
    async with _client(fake_x) as client:
        assert not await download(
            client.session, _media(fake_x, "Page.jpg"), tmp_path / "a.jpg", max_bytes=10**6
        )
        assert not await download(
            client.session, _media(fake_x, "Playlist.jpg"), tmp_path / "b.jpg", max_bytes=10**6
        )
        assert await download(client.session, _media(fake_x, "Fine.jpg"), tmp_path / "c.jpg", max_bytes=10**6)
    assert os.listdir(tmp_path) == ["c.jpg"]


async def test_a_slow_drip_is_cut_by_the_total_time_limit(fake_x: FakeXApi, tmp_path: Path) -> None:
    # Each byte arrives well within any read timeout, but the whole file would take minutes.
    fake_x.media_drip["Slow"] = 0.05
    async with _client(fake_x) as client:
        ok = await asyncio.wait_for(
            download(
                client.session, _media(fake_x, "Slow.jpg"), tmp_path / "a.jpg", max_bytes=10**6, time_limit=1
            ),
            timeout=60,
        )
    assert not ok
    assert os.listdir(tmp_path) == []


# -- one bad tweet never blocks its user ---------------------------------------------------------

USER_ID = "1690000000000000077"
USERNAME = "bad_media_user"
BAD_REF = "01830000000000000099"


def _bad_world(world: World, secret_url: str) -> dict[str, str]:
    """SYNTHETIC: a user whose timeline holds a tweet whose media always answers 500, one whose
    reference is not a canonical id, one whose media points at another local server, and fine ones."""
    world.add_user({"id": USER_ID, "username": USERNAME, "name": "Bad media"})
    ids = {
        name: str(1720000000000000000 + n) for n, name in enumerate(("ok1", "fail", "badref", "away", "ok2"))
    }
    media_urls = {
        "fail": "https://pbs.twimg.com/media/Fail500.jpg",
        "away": f"{secret_url}/secret.jpg",
        "ok2": "https://pbs.twimg.com/media/Fine.jpg",
    }
    for n, (name, tid) in enumerate(ids.items()):
        raw: dict[str, object] = {
            "id": tid,
            "text": f"tweet {name}",
            "author_id": USER_ID,
            "created_at": f"2023-11-01T10:0{n}:00.000Z",
            "edit_history_tweet_ids": [tid],
            "conversation_id": tid,
            "lang": "en",
        }
        if name in media_urls:
            key = f"3_{tid}"
            world.add_media(
                {"media_key": key, "type": "photo", "url": media_urls[name], "width": 8, "height": 8}
            )
            raw["attachments"] = {"media_keys": [key]}
        if name == "badref":
            raw["referenced_tweets"] = [{"type": "quoted", "id": BAD_REF}]
        world.add_tweet(raw)
    return ids


def test_one_bad_tweet_never_blocks_the_others(
    fake_x: FakeXApi, x_world: World, secret: SecretServer, data_dir: Path
) -> None:
    ids = _bad_world(x_world, secret.url)
    fake_x.media_status["Fail500"] = 500
    result = run_cli(fake_x, data_dir, "user-tweets", USERNAME, "--count", "10", timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert set(tweet_files(data_dir)) == {int(t) for t in ids.values()}  # every tweet is cached
    assert secret.seen == []
    assert BAD_REF in result.stderr  # the bad reference is a warning
    assert not any(BAD_REF in r.query.get("ids", "") or BAD_REF in r.path for r in fake_x.requests)
    media = {n for n in os.listdir(data_dir) if n.startswith(USERNAME + "_")}
    assert media == {f"{USERNAME}_{ids['ok2']}_0.jpg"}
    assert document(data_dir, ids["fail"])["includes"]["media"]  # the media object is kept

    marker = data_dir / "media_retry" / f"{USERNAME}_{ids['fail']}.json"
    assert marker.exists()

    # Still failing: a later run tries again, and keeps the marker.
    before = len([m for m in fake_x.media_log if "Fail500" in m])
    again = run_cli(fake_x, data_dir, "user-tweets", USERNAME, "--count", "10", timeout=120)
    assert again.returncode == 0, again.stderr
    assert len([m for m in fake_x.media_log if "Fail500" in m]) > before
    assert marker.exists()

    # The media server recovers: the next run of the user fetches the missing file, without any new tweet.
    fake_x.media_status.clear()
    again = run_cli(fake_x, data_dir, "user-tweets", USERNAME, "--count", "10")
    assert again.returncode == 0, again.stderr
    assert (data_dir / f"{USERNAME}_{ids['fail']}_0.jpg").exists()
    assert not marker.exists()
    assert secret.seen == []  # the tweet whose media is elsewhere is retried, and refused, each time
    away = json.loads((data_dir / "media_retry" / f"{USERNAME}_{ids['away']}.json").read_text())
    assert away["tries"] == 3


def test_the_bad_tweets_are_published_too(
    sdk_relay: str, fake_x: FakeXApi, x_world: World, secret: SecretServer, tmp_path: Path
) -> None:
    ids = _bad_world(x_world, secret.url)
    fake_x.media_status["Fail500"] = 500
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    cli.run("user-tweets", USERNAME, "--count", "10")
    cli.run("post-user-to-nostr", USERNAME, "-r", sdk_relay)
    notes = {e.tag_values("r")[0][1].rsplit("/", 1)[1]: e for e in query(cli, sdk_relay, (1,))}
    assert set(notes) == set(ids.values())
    failed = notes[ids["fail"]]
    (imeta,) = failed.tag_values("imeta")  # the original URL, without x: the bytes were never had
    assert imeta[1].startswith(f"url {fake_x.url}/media/pbs.twimg.com/media/Fail500.jpg")
    assert not any(part.startswith("x ") for part in imeta)
    assert secret.seen == []
