"""The shape of src/: no import cycle between modules and no import upward across the layers that
docs/ARCHITECTURE.md's map draws (TYPE_CHECKING and function-level imports count too), and nostr-sdk
nowhere in it (it is a test dependency, the independent check)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"
# The map's lines that divide it: above the first, what calls the I/O shells (the CLI, the daemon,
# orchestration); then the shells; below the second, the pure core.
DIVIDERS = {"I/O shells": 1, "pure core": 0}
TOP = 2


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in SRC.rglob("*.py"):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: {i for i in _imports(path) if i in modules and i != name} for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the list of modules around it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)) is not None:
            return found
    return None


def test_the_cycle_finder_finds_one() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_src_has_no_import_cycle() -> None:
    graph = _graph()
    assert len(graph) > 50  # the walk found the package
    assert _cycle(graph) is None


def _layers() -> dict[str, int]:
    """Each module and package the map names (``cli``, ``cache.layout``) -> its layer, 0 at the bottom.

    A package heading (``state/``) places every module under it; a module named in a lower part of
    the map (``archive/download.py`` under the shells) is placed there. The names of a line are what
    comes before its description (two spaces or more); two-space indented names are the heading's.
    """
    block = ARCHITECTURE.read_text(encoding="utf-8").split("```")[1]
    layer, package = TOP, ""
    found: dict[str, int] = {}
    for line in block.splitlines():
        if divider := re.fullmatch(r"─+ (.+?) ─+", line):
            layer, package = DIVIDERS[divider.group(1)], ""
            continue
        if heading := re.match(r"(\w+)/(\s|$)", line):
            package = heading.group(1)
            found[package] = layer
            continue
        if not re.match(r"( {2})?[\w/]+\.py\b", line):
            continue  # a description going on, or a note in brackets
        if not line.startswith(" "):
            package = ""
        for name in re.findall(r"[\w/]+\.py", line.strip().split("  ")[0]):
            path = f"{package}/{name}" if package and "/" not in name else name
            found[path.removesuffix(".py").replace("/", ".")] = layer
    return found


def _layer_of(module: str, layers: dict[str, int]) -> int | None:
    """The layer of the most specific name the map gives for ``module`` (None: the map has none)."""
    parts = module.split(".")[1:]
    for end in range(len(parts), 0, -1):
        if (layer := layers.get(".".join(parts[:end]))) is not None:
            return layer
    return None


def test_the_map_is_read_into_layers() -> None:
    layers = _layers()
    assert len(layers) > 100
    assert _layer_of("nostrweet.cli.root", layers) == TOP
    assert _layer_of("nostrweet.daemon.runner", layers) == TOP
    assert _layer_of("nostrweet.state.engine", layers) == 1  # under the state/ heading
    assert _layer_of("nostrweet.archive.download", layers) == 1  # named among the shells, not archive/'s
    assert _layer_of("nostrweet.publish.outcome", layers) == TOP  # two names on one line
    assert _layer_of("nostrweet.cache.layout", layers) == 0
    assert _layer_of("nostrweet.config_schema", layers) == 0
    assert _layer_of("nostrweet.logs", layers) == 0
    assert all(f"nostrweet.{name}" in _modules() for name in layers)  # the map names no module that is gone


def test_no_module_imports_a_layer_above_its_own() -> None:
    """Between the modules the map places (package __init__ files and a few helpers it leaves out are
    not checked)."""
    layers = _layers()
    upward = []
    for module, imported in sorted(_graph().items()):
        own = _layer_of(module, layers)
        for target in sorted(imported):
            above = _layer_of(target, layers)
            if own is not None and above is not None and above > own:
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_nostr_sdk_is_not_imported_by_src() -> None:
    users = [
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if any(i.split(".")[0] == "nostr_sdk" for i in _imports(p))
    ]
    assert users == []
