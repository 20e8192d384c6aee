"""Shared pytest configuration."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

from tests.data import FIXTURES, OPENAPI_SPEC, REFERENCE_CASES

REPO_ROOT = Path(__file__).resolve().parent.parent

__all__ = ["FIXTURES", "OPENAPI_SPEC", "REFERENCE_CASES", "REPO_ROOT"]

# Property tests check what comes out, never how fast: a loaded machine must not fail them.
settings.register_profile("nostrweet", deadline=None)
settings.load_profile("nostrweet")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """An empty cache directory."""
    path = tmp_path / "data"
    path.mkdir()
    return path


# Fixtures of the test world, one module per fake or real server (see tests/fakes/).
pytest_plugins = [
    "tests.fakes.x_api_fixtures",
    "tests.fakes.relay_fixtures",
    "tests.fakes.blossom_fixtures",
    "tests.fakes.postgres_fixtures",
    "tests.fakes.alert_receiver",
    "tests.fakes.webhook_receiver",
]
