"""Where the test data lives: in this directory, inside the repository (origin and licences in README.md).

Every test and fake reads its data through these constants, never from outside the repository.
"""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
FIXTURES = DATA_DIR / "twitter-api" / "fixtures"
OPENAPI_SPEC = DATA_DIR / "twitter-api" / "openapi-v2.166.json"
REFERENCE_CASES = DATA_DIR / "reference-cases"

__all__ = ["DATA_DIR", "FIXTURES", "OPENAPI_SPEC", "REFERENCE_CASES"]
