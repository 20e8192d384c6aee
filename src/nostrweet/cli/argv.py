"""Global options after the command (SPEC §1): ``nostrweet daemon -u jack --data-dir ./downloads``.

Click reads a group's options only before the command's name. As in the earlier tool, nostrweet also
takes them after it: :func:`hoist_global_options` moves every global option found after the command
(with its value) in front of the command, unless the command has an option of the same name itself
(``user-tweets -c`` is ``--count``, not the global ``--config``). Everything after ``--`` stays as it is.
The function reads the command tree's option names and nothing else, so it is a pure rewrite of a list.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import msgspec


class OptionNames(msgspec.Struct, frozen=True, gc=False):
    """The option names of one command: which take a value, which do not (flags and counters)."""

    with_value: frozenset[str]
    without_value: frozenset[str]

    @classmethod
    def of(cls, params: Iterable[Any]) -> OptionNames:
        """Read the options of a click command's ``params`` (arguments are skipped)."""
        with_value: set[str] = set()
        without_value: set[str] = set()
        for param in params:
            if getattr(param, "param_type_name", "") != "option":
                continue
            names = [*getattr(param, "opts", ()), *getattr(param, "secondary_opts", ())]
            takes_value = not (getattr(param, "is_flag", False) or getattr(param, "count", False))
            (with_value if takes_value else without_value).update(names)
        return cls(frozenset(with_value), frozenset(without_value))

    def __contains__(self, name: object) -> bool:
        return name in self.with_value or name in self.without_value

    def width(self, token: str) -> int | None:
        """How many argv items ``token`` takes if it is one of these options (1 or 2), else None.

        Handles ``--name=value``, a short option with its value attached (``-d/tmp``) and a cluster
        of short flags (``-vv``).
        """
        if token in self.with_value:
            return 2
        if token in self.without_value:
            return 1
        if token.startswith("--"):
            name = token.partition("=")[0]
            return 1 if "=" in token and name in self.with_value else None
        if len(token) > 2 and token.startswith("-"):
            short = token[:2]
            if short in self.with_value:
                return 1  # -dDIR
            if all(f"-{c}" in self.without_value for c in token[1:]):
                return 1  # -vv
        return None


def _command_path(argv: Sequence[str], root: Any, globals_: OptionNames) -> tuple[int, int, Any] | None:
    """Where the command's name starts in ``argv``, where its own arguments start, and the command
    (``utils query-events`` is a path of two names); None when ``argv`` names no command."""
    i = 0
    while i < len(argv):
        width = globals_.width(argv[i])
        if width is None:
            break
        i += width
    first = i
    command = root
    while i < len(argv):
        children = getattr(command, "commands", None)
        if not isinstance(children, dict) or argv[i] not in children:
            break
        command = children[argv[i]]
        i += 1
    return (first, i, command) if command is not root else None


def hoist_global_options(argv: Sequence[str], root: Any) -> list[str]:
    """``argv`` with every global option that follows the command moved in front of the command."""
    argv = list(argv)
    globals_ = OptionNames.of(getattr(root, "params", ()))
    found = _command_path(argv, root, globals_)
    if found is None:
        return argv
    first, start, command = found
    own = OptionNames.of(getattr(command, "params", ()))
    hoisted: list[str] = []
    kept: list[str] = []
    i = start
    while i < len(argv):
        token = argv[i]
        if token == "--":
            kept.extend(argv[i:])
            break
        own_width = own.width(token)
        global_width = globals_.width(token) if own_width is None else None
        if global_width is not None:
            hoisted.extend(argv[i : i + global_width])
            i += global_width
        else:
            width = own_width or 1
            kept.extend(argv[i : i + width])
            i += width
    return [*argv[:first], *hoisted, *argv[first:start], *kept]
