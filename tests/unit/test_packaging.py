"""Packaging metadata: the licence as an SPDX expression with its file, and dependencies that agree."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version

from tests.integration.publish_helpers import REPO

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def _spec(requirements: list[str], name: str) -> str | None:
    for requirement in requirements:
        match = re.match(rf"{re.escape(name)}(?![A-Za-z0-9_.-])\s*(.*)", requirement)
        if match:
            return match.group(1)
    return None


def test_license_is_an_spdx_string_with_its_file() -> None:
    project = PROJECT["project"]
    assert project["license"] == "MIT"  # not the deprecated {text = ...} table
    assert project["license-files"] == ["LICENSE"]
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License") and "the nostrweet authors" in text
    setuptools = _spec(PROJECT["build-system"]["requires"], "setuptools")
    assert setuptools is not None
    floor = re.search(r">=\s*(\d+)", setuptools)
    assert floor is not None and int(floor.group(1)) >= 77  # license-files needs setuptools 77


def test_test_extra_agrees_with_the_runtime_dependencies() -> None:
    runtime = PROJECT["project"]["dependencies"]
    test = PROJECT["project"]["optional-dependencies"]["test"]
    for name in ("websockets", "coincurve"):
        if _spec(test, name) is not None:
            assert _spec(test, name) == _spec(runtime, name), name
    # bip32 caps coincurve below 21 and would give the tests another coincurve than users get
    assert _spec(test, "bip32") is None
    installed = tuple(int(part) for part in version("coincurve").split(".")[:1])
    floor = re.search(r">=\s*(\d+)", _spec(runtime, "coincurve") or "")
    assert floor is not None and installed >= (int(floor.group(1)),)


def test_typer_and_click_are_not_capped_below_their_current_releases() -> None:
    runtime = PROJECT["project"]["dependencies"]
    assert "<0.20" not in (_spec(runtime, "typer") or "")
    assert "<8.3" not in (_spec(runtime, "click") or "")
