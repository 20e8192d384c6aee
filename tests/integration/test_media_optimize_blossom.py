"""Media optimisation end to end (SPEC §12): a photo with an EXIF GPS position goes through a real
Blossom upload smaller and without its position; the note's imeta ``x`` and ``dim`` describe what the
server stored (hashed here, independently) and ``ox`` the cached original. A bomb is not uploaded."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from PIL import Image

from tests.fakes.blossom_server import BlossomServer
from tests.fakes.images import gps_of, photo_with_gps, png_bomb
from tests.fakes.x_api import FakeXApi
from tests.fakes.x_synthetic import SYNTHETIC_PHOTO_TWEET_ID
from tests.integration.publish_helpers import Cli, make_cli, query

pytestmark = pytest.mark.integration


def cached_photo(cli: Cli, data: bytes) -> Path:
    """Cache the synthetic photo tweet, then put ``data`` in place of its media file."""
    cli.run("fetch-tweet", SYNTHETIC_PHOTO_TWEET_ID)
    [path] = [p for p in cli.data_dir.iterdir() if f"_{SYNTHETIC_PHOTO_TWEET_ID}_0." in p.name]
    path.write_bytes(data)
    return path


def imeta_of(cli: Cli, relay: str) -> dict[str, str]:
    notes = [e for e in query(cli, relay, kinds=(1,)) if e.tag_values("imeta")]
    [note] = [n for n in notes if any(SYNTHETIC_PHOTO_TWEET_ID in t[1] for t in n.tags if t[0] == "r")]
    [imeta] = note.tag_values("imeta")
    return dict(part.split(" ", 1) for part in imeta[1:])


def test_a_gps_photo_is_uploaded_smaller_without_its_position(
    sdk_relay: str, fake_x: FakeXApi, blossom_server: BlossomServer, tmp_path: Path
) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    original = photo_with_gps(2400, 1600)
    path = cached_photo(cli, original)
    config = tmp_path / "media.toml"
    config.write_text('[media]\nmax_dimension = 1024\nformat = "jpeg"\nquality = 80\n')
    cli.run(
        "-c", str(config), "post-tweet", SYNTHETIC_PHOTO_TWEET_ID, "-r", sdk_relay, "-b", blossom_server.url
    )

    [(sha, blob)] = blossom_server.blobs.items()
    stored = blob.data
    assert hashlib.sha256(stored).hexdigest() == sha
    assert len(stored) < len(original) and gps_of(stored) == {}
    with Image.open(io.BytesIO(stored)) as image:
        assert image.format == "JPEG" and image.size == (1024, 683)
    fields = imeta_of(cli, sdk_relay)
    assert fields["x"] == hashlib.sha256(stored).hexdigest()
    assert (
        fields["ox"] == hashlib.sha256(path.read_bytes()).hexdigest() == hashlib.sha256(original).hexdigest()
    )
    assert fields["dim"] == "1024x683"
    assert fields["m"] == "image/jpeg"
    assert fields["url"].startswith(blossom_server.url + "/") and fields["x"] in fields["url"]
    assert path.read_bytes() == original  # the archive keeps the file as it was


def test_a_decompression_bomb_is_not_uploaded(
    sdk_relay: str, fake_x: FakeXApi, blossom_server: BlossomServer, tmp_path: Path
) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    bomb = png_bomb()
    cached_photo(cli, bomb)
    config = tmp_path / "media.toml"
    config.write_text("[media]\nmax_dimension = 1024\n")
    got = cli.run(
        "-c",
        str(config),
        "post-tweet",
        SYNTHETIC_PHOTO_TWEET_ID,
        "-r",
        sdk_relay,
        "-b",
        blossom_server.url,
        "-v",
    )
    assert blossom_server.blobs == {}
    assert "not uploaded" in got.stderr and "pixels" in got.stderr
    fields = imeta_of(cli, sdk_relay)
    assert fields["url"].startswith(fake_x.url + "/media/")  # the original URL stays
    assert fields["x"] == hashlib.sha256(bomb).hexdigest() and "ox" not in fields


def test_without_a_media_table_the_file_goes_as_it_is(
    sdk_relay: str, fake_x: FakeXApi, blossom_server: BlossomServer, tmp_path: Path
) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    original = photo_with_gps(300, 200)
    cached_photo(cli, original)
    cli.run("post-tweet", SYNTHETIC_PHOTO_TWEET_ID, "-r", sdk_relay, "-b", blossom_server.url)
    assert [b.data for b in blossom_server.blobs.values()] == [original]
    assert "ox" not in imeta_of(cli, sdk_relay)
