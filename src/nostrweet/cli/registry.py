"""Which module defines each command, so that a run imports only the command it runs (SPEC §1).

The command modules pull in what their commands need (the state's SQLAlchemy, the relay client,
signing, the X client), which costs a second or more to import. The root group below knows every
command by name, its module and the first paragraph of its help, and imports a module only when one
of its commands is named: ``nostrweet -V`` and ``nostrweet --help`` import none of them, and
``nostrweet post-tweet-to-nostr`` imports only ``publish_cmds``. ``--help`` and completion list the
commands from :data:`COMMANDS` (a test checks it against the modules). A command missing from the
table still runs: its name makes the group import every command module once.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import typer
from typer.core import TyperCommand, TyperGroup

COMMANDS: dict[str, tuple[str, str]] = {
    "fetch-tweet": (
        "archive_cmds",
        "Cache one tweet, what it references, its media and the referenced profiles.",
    ),
    "user-tweets": ("archive_cmds", "Cache a user's recent tweets, paging as needed."),
    "fetch-profile": ("archive_cmds", "Cache a profile snapshot."),
    "list-tweets": (
        "archive_cmds",
        'List cached tweets, newest first (a header line, then one tweet per line; "0 tweets" on stderr\n'
        "when there is none).",
    ),
    "clear-cache": (
        "archive_cmds",
        "Delete cached tweets, media and profiles (posting records are kept unless --all).",
    ),
    "reindex": (
        "archive_cmds",
        "Add the cache files that the state does not know to it (copied in by hand, or left by a crash\n"
        "between a file and its row).",
    ),
    "daemon": (
        "daemon_cmd",
        "Watch accounts and keep their mirror current until SIGINT or SIGTERM (docs/DAEMON.md).",
    ),
    "import-archive": (
        "import_cmd",
        "Import the account's own X archive into the cache (no bearer token or mnemonic needed).",
    ),
    "keys": ("keys_cmd", "Print a mirror identity: user id, derivation path, npub, hex pubkey."),
    "migrate": (
        "migrate_cmd",
        "Import the earlier Rust nostrweet's data directory (tweets, profiles, markers, media, posted\n"
        "events) into the state, in place; a second run does nothing.",
    ),
    "generate-mnemonic": (
        "mnemonic_cmd",
        "Make a new BIP-39 mnemonic (24 words unless --words 12) for the mirror keys.",
    ),
    "nip05-export": (
        "nip05_cmd",
        "Write DIR/.well-known/nostr.json (NIP-05) naming every mirror identity in the archive.",
    ),
    "show-tweet": ("publish_cmds", "Print the cached tweet and the Nostr event(s) it would become."),
    "post-tweet-to-nostr": ("publish_cmds", "Publish one tweet, fetching it first if it is not cached."),
    "post-tweet": ("publish_cmds", "Alias of post-tweet-to-nostr."),
    "post-user-to-nostr": ("publish_cmds", "Publish every cached tweet of a user, oldest first."),
    "post-profile-to-nostr": ("publish_cmds", "Publish the mirror identity's profile (kind 0)."),
    "update-relay-list": ("publish_cmds", "Publish kind 10002 relay lists for the mirror identities."),
    "config": ("config_cmd", "The TOML config file."),
    "utils": ("utils_cmds", "Tools around the relays."),
}
"""Command name -> (module under ``nostrweet.cli``, first paragraph of its help), in the help's order."""

PACKAGE = "nostrweet.cli"


def command_modules() -> list[str]:
    """Every module of ``nostrweet.cli`` that defines commands (named ``*_cmd`` or ``*_cmds``)."""
    package = importlib.import_module(PACKAGE)
    names = (m.name for m in pkgutil.iter_modules(package.__path__))
    return sorted(n for n in names if n.endswith(("_cmd", "_cmds")))


def import_all_commands() -> None:
    """Import every command module (the table's and any other), so that all commands are registered."""
    for module in sorted({m for m, _ in COMMANDS.values()} | set(command_modules())):
        importlib.import_module(f"{PACKAGE}.{module}")


class LazyGroup(TyperGroup):
    """The root group: a command's module is imported when the command is first asked for."""

    source: ClassVar[typer.Typer | None] = None
    """The Typer app the command modules register on (set by ``cli.root``)."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self._listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return list(dict.fromkeys([*COMMANDS, *self.commands]))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        found = self.commands.get(cmd_name)
        if found is not None:
            return found
        entry = COMMANDS.get(cmd_name)
        if self._listing and entry is not None:
            return TyperCommand(name=cmd_name, help=entry[1])  # for the list only: never run
        if entry is not None:
            importlib.import_module(f"{PACKAGE}.{entry[0]}")
        else:  # not in the table (or a typo: then every name is there for "Did you mean ...?")
            import_all_commands()
        self._take_registered()
        return self.commands.get(cmd_name)

    def _take_registered(self) -> None:
        """Add the commands registered on :attr:`source` so far (click commands built from them)."""
        if self.source is None:
            return
        built = typer.main.get_group(self.source)
        for name, command in built.commands.items():
            self.commands.setdefault(name, command)

    @contextmanager
    def _names_only(self) -> Iterator[None]:
        listing, self._listing = self._listing, True
        try:
            yield
        finally:
            self._listing = listing

    def format_help(self, ctx: Any, formatter: Any) -> None:
        with self._names_only():
            super().format_help(ctx, formatter)

    def shell_complete(self, ctx: Any, incomplete: str) -> Any:
        with self._names_only():
            return super().shell_complete(ctx, incomplete)
