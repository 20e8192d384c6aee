"""`nostrweet -V` and `--help` load no SQLAlchemy: the state is imported by the commands that use it."""

from __future__ import annotations

import subprocess
import sys

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
