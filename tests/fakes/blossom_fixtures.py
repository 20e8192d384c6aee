"""Blossom fixtures: a BUD-01/02 test server, and one that answers 500 to every upload."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.blossom_server import BlossomServer


@pytest.fixture
def blossom_server() -> Iterator[BlossomServer]:
    """A working Blossom server on 127.0.0.1 (``.url``, ``.blobs``, ``.auth_events``)."""
    server = BlossomServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def failing_blossom_server() -> Iterator[BlossomServer]:
    """A Blossom server whose uploads all fail with HTTP 500."""
    server = BlossomServer(failing=True)
    server.start()
    yield server
    server.stop()
