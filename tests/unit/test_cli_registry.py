"""The root group imports a command's module only when the command runs (cli.registry): its table
names every command of the modules, in the help's words, and -V and --help import none of them."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
import typer

from nostrweet.cli.registry import COMMANDS, PACKAGE, command_modules, import_all_commands
from nostrweet.cli.root import app

HEAVY = ("sqlalchemy", "websockets", "coincurve", "httpx", "nostrweet.store")


@pytest.fixture(scope="module")
def tree() -> Any:
    import_all_commands()
    return typer.main.get_command(app)


def _module_of(command: Any) -> str:
    callback = command.callback
    if callback is None:  # a sub-app (config, utils): the module of one of its commands
        callback = next(iter(command.commands.values())).callback
    return str(callback.__module__)


def test_the_table_names_every_command_with_its_module_and_help(tree: Any) -> None:
    assert list(tree.commands) == list(COMMANDS)
    for name, command in tree.commands.items():
        module, first_paragraph = COMMANDS[name]
        assert _module_of(command) == f"{PACKAGE}.{module}", name
        assert (command.help or "").split("\n\n")[0] == first_paragraph, name


def test_every_command_module_is_in_the_table() -> None:
    assert set(command_modules()) == {module for module, _ in COMMANDS.values()}


def _run(code: str) -> str:
    env = {**os.environ, "COLUMNS": "110", "TERM": "dumb", "NO_COLOR": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    return done.stdout


_MAIN = """
import sys
from nostrweet.cli.app import main
{before}
try:
    main({argv!r})
except SystemExit:
    pass
print("LOADED", sorted(m for m in {heavy!r} if m in sys.modules))
"""


@pytest.mark.parametrize("argv", [["-V"], ["--help"], ["config", "--help"]])
def test_version_and_help_import_no_command_library(argv: list[str]) -> None:
    out = _run(_MAIN.format(before="", argv=argv, heavy=HEAVY))
    assert "LOADED []" in out, out


def test_a_command_imports_only_its_module() -> None:
    out = _run(_MAIN.format(before="", argv=["keys", "--help"], heavy=("nostrweet.cli.publish_cmds",)))
    assert "Print a mirror identity" in out
    assert "LOADED []" in out, out


def test_the_help_lists_the_commands_as_the_loaded_modules_would() -> None:
    lazy = _run(_MAIN.format(before="", argv=["--help"], heavy=()))
    loaded = _run(
        _MAIN.format(
            before="from nostrweet.cli.registry import import_all_commands\nimport_all_commands()",
            argv=["--help"],
            heavy=(),
        )
    )
    assert "post-user-to-nostr" in lazy
    assert lazy == loaded


def test_an_unknown_name_still_gets_suggestions() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "nostrweet", "post-twet"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "Did you mean 'post-tweet'" in done.stderr
