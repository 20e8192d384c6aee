"""imeta carries ``x`` whenever the media was downloaded, with or without Blossom; a Blossom answer is
read bounded and trusted only when its URL is on the server and names the blob (issue 14)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from nostrweet.nostr import blossom
from nostrweet.nostr.keys import MirrorKey
from tests.fakes.blossom_server import BlossomServer
from tests.fakes.nostr_helpers import random_key
from tests.fakes.x_api import FakeXApi
from tests.fakes.x_world import SYNTHETIC_PHOTO_TWEET_ID, SYNTHETIC_USERNAME, World
from tests.integration.publish_helpers import make_cli, query

pytestmark = pytest.mark.integration


def _imeta_fields(imeta: list[str]) -> dict[str, str]:
    return dict(part.split(" ", 1) for part in imeta[1:])


def _photo_note(
    sdk_relay: str, fake_x: FakeXApi, tmp_path: Path, *blossom_args: str
) -> tuple[dict[str, str], bytes]:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    cli.run("fetch-tweet", SYNTHETIC_PHOTO_TWEET_ID)
    photo = cli.data_dir / f"{SYNTHETIC_USERNAME}_{SYNTHETIC_PHOTO_TWEET_ID}_0.png"
    assert photo.exists()
    cli.run("post-tweet-to-nostr", SYNTHETIC_PHOTO_TWEET_ID, "-r", sdk_relay, *blossom_args)
    notes = [e for e in query(cli, sdk_relay) if e.kind == 1 and e.tag_values("imeta")]
    assert len(notes) == 1
    (imeta,) = notes[0].tag_values("imeta")
    fields = _imeta_fields(list(imeta))
    assert fields["url"] in notes[0].content
    return fields, photo.read_bytes()


def test_imeta_has_x_without_blossom(
    sdk_relay: str, fake_x: FakeXApi, x_world: World, tmp_path: Path
) -> None:
    fields, data = _photo_note(sdk_relay, fake_x, tmp_path)
    assert fields["url"].startswith(fake_x.url + "/media/pbs.twimg.com/")  # the original URL
    assert fields["x"] == hashlib.sha256(data).hexdigest()
    assert {"m", "dim", "alt"} <= set(fields)


@pytest.fixture(params=["huge", "foreign_url", "wrong_path", "wrong_sha"])
def hostile_blossom(request: pytest.FixtureRequest) -> Iterator[BlossomServer]:
    server = BlossomServer(hostile=str(request.param))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _key() -> MirrorKey:
    return random_key()


async def test_untrusted_blossom_answers_fail_the_upload(hostile_blossom: BlossomServer) -> None:
    data = b"\x89PNG\r\n\x1a\n" + b"p" * 100
    async with httpx.AsyncClient() as http:
        with pytest.raises(blossom.BlossomError):
            await blossom.upload_blob(
                http, hostile_blossom.url, data, "image/png", _key(), now=int(time.time())
            )
    assert hostile_blossom.blobs  # the server did take the blob; its answer is what is refused


def test_a_hostile_blossom_server_falls_back_to_the_original(
    sdk_relay: str, fake_x: FakeXApi, hostile_blossom: BlossomServer, tmp_path: Path
) -> None:
    fields, data = _photo_note(sdk_relay, fake_x, tmp_path, "-b", hostile_blossom.url)
    assert hostile_blossom.blobs  # the upload was made
    assert fields["url"].startswith(fake_x.url + "/media/pbs.twimg.com/")
    assert "evil.example.net" not in str(fields) and "tracker.gif" not in str(fields)
    assert fields["x"] == hashlib.sha256(data).hexdigest()


async def test_a_good_blossom_answer_is_kept(blossom_server: BlossomServer) -> None:
    data = b"\x89PNG\r\n\x1a\n" + b"q" * 100
    async with httpx.AsyncClient() as http:
        got = await blossom.upload_blob(
            http, blossom_server.url, data, "image/png", _key(), now=int(time.time())
        )
    assert got.url.startswith(blossom_server.url + "/") and hashlib.sha256(data).hexdigest() in got.url
