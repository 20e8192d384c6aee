"""Shared pytest configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"
FIXTURES = SHARED / "twitter-api" / "fixtures"
OPENAPI_SPEC = SHARED / "twitter-api" / "openapi-v2.166.json"
REFERENCE_CASES = SHARED / "reference" / "cases"


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
]
