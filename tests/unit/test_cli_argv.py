"""The earlier tool's command lines (SPEC §1, §11): global options after the command, over the real
command tree, with the rewrite's properties; the level part of RUST_LOG."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st

from nostrweet.cli.app import app
from nostrweet.cli.argv import hoist_global_options
from nostrweet.cli.registry import import_all_commands
from nostrweet.settings import rust_log_level


@pytest.fixture(scope="module")
def tree() -> Any:
    import_all_commands()
    return typer.main.get_command(app)


CASES = [
    # the seed's own daemon line
    (
        "daemon -u jack -r wss://r.example --data-dir ./downloads",
        "--data-dir ./downloads daemon -u jack -r wss://r.example",
    ),
    ("list-tweets -d DIR", "-d DIR list-tweets"),
    ("list-tweets -dDIR --json", "-dDIR list-tweets --json"),
    ("show-tweet 123 -vv", "-vv show-tweet 123"),
    ("show-tweet 123 --log-format=json -q", "--log-format=json -q show-tweet 123"),
    ("utils query-events -r wss://r -d D --kind 1", "-d D utils query-events -r wss://r --kind 1"),
    # a command's own option of the same name wins: user-tweets -c is --count, not --config
    ("user-tweets jack -c 5 --config f.toml", "--config f.toml user-tweets jack -c 5"),
    # options before the command stay where they are
    ("-d A fetch-tweet 1 --bearer-token T", "-d A --bearer-token T fetch-tweet 1"),
    # a value that looks like a global option belongs to the command's option before it
    ("daemon -u -q", "daemon -u -q"),
    # nothing after -- moves
    ("show-tweet -- -d", "show-tweet -- -d"),
    # no command: nothing to do
    ("--help", "--help"),
    ("-d DIR", "-d DIR"),
    ("nonsense -d DIR", "nonsense -d DIR"),
]


@pytest.mark.parametrize(("given_argv", "expected"), CASES)
def test_global_options_move_in_front_of_the_command(tree: Any, given_argv: str, expected: str) -> None:
    assert hoist_global_options(given_argv.split(), tree) == expected.split()


WORDS = ["daemon", "list-tweets", "utils", "query-events", "-d", "DIR", "-v", "-u", "jack", "--", "-c", "5"]


@given(st.lists(st.sampled_from(WORDS), max_size=10))
def test_the_rewrite_keeps_every_item(argv: list[str]) -> None:
    import_all_commands()
    out = hoist_global_options(argv, typer.main.get_command(app))
    assert sorted(out) == sorted(argv)
    assert hoist_global_options(out, typer.main.get_command(app)) == out  # a second pass changes nothing


@pytest.mark.parametrize(
    ("rust_log", "level"),
    [
        ("info", "info"),
        ("warn", "warning"),
        ("trace", "debug"),
        ("off", "error"),
        ("nostrweet=debug", "debug"),
        ("nostrweet::daemon=warn,info", "warning"),
        ("hyper=debug,info", "info"),
        ("hyper=debug", None),
        ("", None),
        ("loud", None),
    ],
)
def test_rust_log_level_part(rust_log: str, level: str | None) -> None:
    assert rust_log_level(rust_log) == level
