"""pytest fixtures of the fake X API: `x_world` (a fresh World) and `fake_x` (a started FakeXApi)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.x_api import FakeXApi
from tests.fakes.x_world import World


@pytest.fixture
def x_world() -> World:
    """A fresh world from the recorded fixtures (parsed once per process, copied per test)."""
    return World.from_fixtures()


@pytest.fixture
def fake_x(x_world: World) -> Iterator[FakeXApi]:
    """A running fake X API over `x_world`; fails the test if any request broke the OpenAPI spec."""
    server = FakeXApi(x_world)
    server.start()
    try:
        yield server
    finally:
        server.stop()
    assert server.violations == [], f"requests that break the X API v2 spec: {server.violations}"
