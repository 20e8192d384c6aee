"""The test world's data lives inside the repository, and the fake X API refuses to run without it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests import conftest
from tests.data import DATA_DIR, FIXTURES, OPENAPI_SPEC, REFERENCE_CASES
from tests.fakes import openapi_params, x_world
from tests.fakes.x_api import banner
from tests.fakes.x_world import (
    BIG_TIMELINE_USER_ID,
    PHILLY_USER_ID,
    MissingWorldError,
    World,
    check_fixtures,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_every_reader_points_inside_the_repository() -> None:
    readers = [
        conftest.FIXTURES,
        conftest.OPENAPI_SPEC,
        conftest.REFERENCE_CASES,
        x_world.FIXTURES,
        openapi_params.OPENAPI_SPEC,
        FIXTURES,
        OPENAPI_SPEC,
        REFERENCE_CASES,
    ]
    for path in readers:
        assert path.resolve().is_relative_to(REPO_ROOT), path
        assert path.exists(), path
    assert (REFERENCE_CASES / "key-derivation-vectors.json").is_file()


def test_the_data_says_where_it_came_from() -> None:
    notice = (DATA_DIR / "README.md").read_text(encoding="utf-8")
    assert notice.count("MIT License") >= 2
    assert "Copyright (c) 2021 Documenting the Now" in notice
    assert "Joshua Roesslein" in notice
    assert "openapi-v2.166.json" in notice


@pytest.mark.parametrize("what", ["absent", "empty", "index only", "one file short"])
def test_world_refuses_missing_or_partial_fixtures(tmp_path: Path, what: str) -> None:
    target = tmp_path / "fixtures"
    if what == "empty":
        target.mkdir()
    elif what == "index only":
        target.mkdir()
        shutil.copy(FIXTURES / "feature_examples.tsv", target)
    elif what == "one file short":
        shutil.copytree(FIXTURES, target)
        (target / "twarc-csv" / "withheld_04.json").unlink()  # PhillyNEFL's timeline
    with pytest.raises(MissingWorldError) as info:
        World.from_fixtures(target)
    message = str(info.value)
    assert "\n" not in message and str(target) in message
    assert "withheld_04.json" in message or what != "one file short"


def test_the_full_fixtures_pass_the_check() -> None:
    check_fixtures(FIXTURES)


def test_banner_names_only_users_the_world_has() -> None:
    world = World.from_fixtures()
    del world.users[BIG_TIMELINE_USER_ID]  # a timeline whose author object is unknown
    for tid in world.full_timeline(PHILLY_USER_ID):  # a user whose every tweet is gone
        world.delete_tweet(tid)
    lines = banner(world, "http://127.0.0.1:1", "tok")
    named = re.findall(r"@(\w+)", "\n".join(lines)) + re.findall(r"user-tweets (\w+)$", lines[-1])
    assert len(named) >= 6
    for name in named:
        user = world.user_by_username(name)
        assert user is not None, name
        assert world.timeline(str(user["id"])), name
    assert "PhillyNEFL" not in named and BIG_TIMELINE_USER_ID not in "\n".join(lines)


def test_banner_of_the_full_world_suggests_a_big_timeline() -> None:
    world = World.from_fixtures()
    lines = banner(world, "http://127.0.0.1:1", "tok")
    assert lines[0] == "fake X API listening on http://127.0.0.1:1"
    suggested = lines[-1].rsplit(" ", 1)[1]
    user = world.user_by_username(suggested)
    assert user is not None and len(world.timeline(str(user["id"]))) >= 100
