"""One owner per kind of write (issue #9): every file under src/ is written through
``cache.atomic.atomic_file``; no module opens a file for writing, renames one into place or makes
temp files another way. The allow-list names the few opens that are not writes of a file's content."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "nostrweet"
PRIMITIVE = "cache/atomic.py"

ALLOWED = {
    ("daemon/lock.py", "os.open"): "the instance lock file: opened to hold an flock, nothing is written",
    ("state/engine.py", "os.open"): "creates the empty SQLite file 0600 before SQLite writes it",
    ("cli/common.py", "os.open"): "/dev/null, for a closed stdout",
    (
        "cache/writers.py",
        "os.open",
    ): "an empty marker .writers/<pid>: its name is all it says, nothing is written",
}

WRITE_METHODS = {"write_text", "write_bytes", "rename", "symlink_to", "hardlink_to", "touch"}
WRITE_FUNCTIONS = {
    "os.replace",
    "os.rename",
    "os.renames",
    "os.link",
    "os.symlink",
    "os.open",
    "os.fdopen",
    "os.mkstemp",
    "shutil.copy",
    "shutil.copy2",
    "shutil.copyfile",
    "shutil.move",
    "shutil.copytree",
}


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _write_mode(call: ast.Call, position: int, *, unknown: bool = True) -> bool:
    """Whether an ``open`` call's mode (positional at ``position`` or ``mode=``) writes; ``unknown``
    for a mode that is not a literal (a method ``open(name)`` of a zip file takes no mode first)."""
    mode: ast.AST | None = call.args[position] if len(call.args) > position else None
    for keyword in call.keywords:
        if keyword.arg == "mode":
            mode = keyword.value
    if mode is None:
        return False
    if not isinstance(mode, ast.Constant) or not isinstance(mode.value, str):
        return unknown
    return any(c in mode.value for c in "wax+")


def writes_in(source: str) -> list[tuple[int, str]]:
    """(line, what) of every call in ``source`` that writes a file outside the primitive."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            if "tempfile" in names:
                found.append((node.lineno, "tempfile"))
            continue
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func) or ""
        if name in WRITE_FUNCTIONS or name.startswith("tempfile."):
            found.append((node.lineno, name))
        elif name == "open" and _write_mode(node, 1):
            found.append((node.lineno, "open"))
        elif isinstance(node.func, ast.Attribute):
            if node.func.attr in WRITE_METHODS:
                found.append((node.lineno, f".{node.func.attr}"))
            elif node.func.attr == "open" and name != "os.open" and _write_mode(node, 0, unknown=False):
                found.append((node.lineno, ".open"))
    return found


def test_no_module_under_src_writes_a_file_around_the_primitive() -> None:
    bypasses = []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        if relative == PRIMITIVE:
            continue
        for line, what in writes_in(path.read_text(encoding="utf-8")):
            if (relative, what) not in ALLOWED:
                bypasses.append(f"{relative}:{line}: {what}")
    assert bypasses == [], "write through nostrweet.cache.atomic.atomic_file instead"


@pytest.mark.parametrize(
    "source",
    [
        "Path(p).write_text('x')",
        "p.write_bytes(b'')",
        "open(p, 'w')",
        "open(p, mode='ab')",
        "p.open('w')",
        "os.replace(a, b)",
        "import tempfile",
        "tempfile.mkstemp()",
        "shutil.copyfile(a, b)",
        "open(p, m)",
    ],
)
def test_the_check_sees_a_write(source: str) -> None:
    assert writes_in(source)


@pytest.mark.parametrize(
    "source", ["open(p)", "open(p, 'rb')", "p.open('rb')", "p.read_text()", "s.replace('a', 'b')"]
)
def test_the_check_leaves_reads_alone(source: str) -> None:
    assert writes_in(source) == []
