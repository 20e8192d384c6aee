"""`nostrweet -V` and `--help` load no SQLAlchemy: the state is imported by the commands that use it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import sys
from nostrweet.cli.app import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print("\\nLOADED", sorted(m for m in sys.modules if m.split(".")[0] == "sqlalchemy" or m.startswith("nostrweet.state")))
"""


@pytest.mark.parametrize("args", [["-V"], ["--help"], ["list-tweets", "--help"]])
def test_no_state_layer_is_loaded(args: list[str]) -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert out.rsplit("\nLOADED ", 1)[1].strip() == "[]"


PUBLISH_PROBE = """
import sys
from nostrweet.cli.app import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    print("\\nEXIT", exc.code)
print("\\nPYDANTIC", "pydantic" in sys.modules)
"""


def test_a_publish_coerces_its_options_without_pydantic(tmp_path: Path) -> None:
    """typer 0.2x coerces option values through pydantic; the plain ones of a publish are coerced
    without it (cli/coercion.py), and it stays unloaded up to the command's own first check."""
    pytest.importorskip("typer._coercion")
    args = ["-v", "-d", str(tmp_path), "post-tweet-to-nostr", "123", "-r", "ws://127.0.0.1:9"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOSTRWEET_")}
    done = subprocess.run(
        [sys.executable, "-c", PUBLISH_PROBE, *args], capture_output=True, text=True, timeout=120, env=env
    )
    assert "needs a mnemonic" in done.stderr
    assert "\nEXIT 2" in done.stdout and done.stdout.rstrip().endswith("PYDANTIC False")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--log-format", "xml", "list-tweets"], "'xml' is not one of 'text', 'json'"),
        (
            ["utils", "query-events", "-r", "ws://127.0.0.1:9", "--limit", "many"],
            "unable to parse string as an integer",
        ),
    ],
)
def test_a_value_that_is_not_plain_is_still_checked_by_typer(
    tmp_path: Path, args: list[str], message: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "nostrweet", "-d", str(tmp_path), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and message in done.stderr
