"""The TOML config file (SPEC §6): walking it against its schema, and the typed value it parses into.

:func:`check_config` and :func:`parse_config` are pure (text in, :class:`ConfigFile` or
:class:`~nostrweet.errors.ConfigError` out); :func:`load_config` only adds reading the file. Which keys
a file may hold and the rules for their values are :mod:`nostrweet.config_schema`'s; a rule that needs
an I/O shell comes from the caller as an extra check (the CLI's for ``[alerts] urls``). How file values
rank against flags, environment and defaults is :mod:`nostrweet.settings`' business.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from nostrweet.config_schema import CONFIG_SCHEMA, USER_TABLE_SCHEMA, VALUE_CHECKS, Check
from nostrweet.errors import ConfigError, InputError
from nostrweet.names import normalize_username
from nostrweet.shaping.filters import FILTER_KEYS, FilterBook, FilterTable, parse_filter_table
from nostrweet.shaping.media_settings import MEDIA_FORMATS, MediaSettings
from nostrweet.values import parse_blossom_urls, parse_relay_urls
from nostrweet.webhook_config import WebhookSpec, check_webhooks

__all__ = [
    "Checks",
    "ConfigFile",
    "UserOverrides",
    "check_config",
    "load_config",
    "parse_config",
    "read_config_text",
]


Checks = Mapping[tuple[str, str], Check]
"""Value checks per (table, key), as :data:`~nostrweet.config_schema.VALUE_CHECKS` holds them."""


class UserOverrides(msgspec.Struct, frozen=True):
    """Per-user settings from a ``[users.<name>]`` table."""

    relays: tuple[str, ...] | None = None
    blossom_servers: tuple[str, ...] | None = None
    skip_retweets: bool = False
    skip_replies: bool = False
    key_file: Path | None = None
    filters: FilterTable | None = None
    nostr_npub: str | None = None  # the real person is on Nostr now (SPEC §10 hand-off)
    handoff_continue: bool = False  # handoff = "continue": keep mirroring after the pointer note


class ConfigFile(msgspec.Struct, frozen=True):
    """A parsed and validated config file."""

    path: Path | None = None
    values: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    users: dict[str, UserOverrides] = msgspec.field(default_factory=dict)
    webhooks: tuple[WebhookSpec, ...] = ()

    def get(self, table: str, key: str) -> Any:
        """A value from the file, or None."""
        return self.values.get(table, {}).get(key)

    def key_files(self) -> dict[str, Path]:
        """username -> fixed key file, from the ``[users.<name>] key_file`` entries."""
        return {name: o.key_file for name, o in self.users.items() if o.key_file is not None}

    def media_settings(self) -> MediaSettings | None:
        """The ``[media]`` table (SPEC §12), or None when the file has none: media go as they are."""
        table = self.values.get("media")
        if table is None:
            return None
        return MediaSettings(
            max_dimension=table.get("max_dimension"),
            format=MEDIA_FORMATS[str(table.get("format", "keep")).lower()],
            quality=int(table.get("quality", 85)),
            strip_metadata=bool(table.get("strip_metadata", True)),
        )

    def filter_book(self) -> FilterBook:
        """The filters of SPEC §12: ``[filters]`` and every user's (``[users.<name>] skip_*`` first, then
        ``[users.<name>.filters]``, whose keys win)."""
        table = self.values.get("filters")
        users: dict[str, tuple[FilterTable, ...]] = {}
        for name, o in self.users.items():
            own: list[FilterTable] = []
            if o.skip_retweets or o.skip_replies:
                own.append(
                    FilterTable(
                        where=f"users.{name}",
                        skip_retweets=o.skip_retweets or None,
                        skip_replies=o.skip_replies or None,
                    )
                )
            if o.filters is not None:
                own.append(o.filters)
            if own:
                users[name] = tuple(own)
        return FilterBook(parse_filter_table("filters", table) if table is not None else None, users)


class _Problems:
    """The errors found in one config file, in the order they were found, and the extra checks."""

    def __init__(self, path: Path, extra_checks: Checks) -> None:
        self.path = path
        self.extra_checks = extra_checks
        self.lines: list[str] = []

    def add(self, text: str) -> None:
        self.lines.append(f"{self.path}: {text}")


def _type_name(expected: type | tuple[type, ...]) -> str:
    if isinstance(expected, tuple):
        return " or ".join(t.__name__ for t in expected)
    return expected.__name__


def _check(
    problems: _Problems, where: str, kind: str, key: str, value: Any, expected: type | tuple[type, ...]
) -> bool:
    """Type, then value range; records at most one problem for the key. True when the value is good."""
    ok = isinstance(value, expected) and not (isinstance(value, bool) and expected in (int, (float, int)))
    if not ok:
        problems.add(f"[{where}] {key} must be {_type_name(expected)}, not {type(value).__name__}")
        return False
    if isinstance(value, list) and not all(isinstance(item, str) for item in value):
        problems.add(f"[{where}] {key} must be a list of strings")
        return False
    for check in (VALUE_CHECKS.get((kind, key)), problems.extra_checks.get((kind, key))):
        problem = check(value) if check is not None else None
        if problem:
            problems.add(f"[{where}] {key} {problem}")
            return False
    return True


def load_config(path: Path, extra_checks: Checks | None = None) -> ConfigFile:
    """Read and validate a TOML config file. Unknown tables or keys raise ConfigError naming key and file."""
    return parse_config(read_config_text(path), path, extra_checks)


def read_config_text(path: Path) -> str:
    """The text of a config file, or ConfigError (exit 2) naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.__class__.__name__}") from None


def parse_config(text: str, path: Path, extra_checks: Checks | None = None) -> ConfigFile:
    """Validate the TOML ``text`` of the config file at ``path`` (named in every error); no I/O.

    On errors, one ConfigError with the first of them, saying how many more ``config check`` would list.
    """
    config, problems = check_config(text, path, extra_checks)
    if problems:
        more = len(problems) - 1
        suffix = f" ({more} more: run nostrweet config check)" if more else ""
        raise ConfigError(problems[0] + suffix)
    return config


def check_config(text: str, path: Path, extra_checks: Checks | None = None) -> tuple[ConfigFile, list[str]]:
    """Every error of the config file at once, one line each naming the file and the key; no I/O.

    ``extra_checks`` add to the schema's value checks, for keys whose check needs an I/O shell; each
    runs after the schema's own check of that key. The ConfigFile holds the good parts only; it is
    meant for use only when the list is empty.
    """
    problems = _Problems(path, extra_checks or {})
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        problems.add(f"not valid TOML: {exc}")
        return ConfigFile(path=path), problems.lines
    values: dict[str, dict[str, Any]] = {}
    users: dict[str, UserOverrides] = {}
    webhooks: tuple[WebhookSpec, ...] = ()
    for table, content in raw.items():
        if table == "users":
            if not isinstance(content, dict):
                problems.add("[users] must be a table of [users.<username>] tables")
                continue
            for username, overrides in content.items():
                parsed = _parse_user_table(problems, username, overrides)
                key = _user_key(problems, username)
                if parsed is not None and key is not None:
                    users[key] = parsed
            continue
        if table == "webhooks":
            webhooks = check_webhooks(content, problems.add)
            continue
        schema = CONFIG_SCHEMA.get(table)
        if schema is None:
            problems.add(f"unknown key {table!r}")
            continue
        if not isinstance(content, dict):
            problems.add(f"{table!r} must be a table")
            continue
        values[table] = _check_table(problems, table, table, content, schema)
    return ConfigFile(path=path, values=values, users=users, webhooks=webhooks), problems.lines


def _check_table(
    problems: _Problems,
    where: str,
    kind: str,
    content: dict[str, Any],
    schema: dict[str, type | tuple[type, ...]],
) -> dict[str, Any]:
    """The keys of one table that are known to ``schema`` and have the right type and range."""
    good: dict[str, Any] = {}
    for key, value in content.items():
        expected = schema.get(key)
        if expected is None:
            problems.add(f"unknown key {key!r} in [{where}]")
        elif _check(problems, where, kind, key, value, expected):
            good[key] = value
    return good


def _user_key(problems: _Problems, username: str) -> str | None:
    try:
        return normalize_username(username)
    except InputError:
        problems.add(f"[users.{username}] is not a valid username")
        return None


def _parse_user_table(problems: _Problems, username: str, table: Any) -> UserOverrides | None:
    where = f"users.{username}"
    if not isinstance(table, dict):
        problems.add(f"[{where}] must be a table")
        return None
    good = _check_table(problems, where, "users", table, USER_TABLE_SCHEMA)
    relays = good.get("relays")
    servers = good.get("blossom_servers")
    key_file = good.get("key_file")
    filters = good.get("filters")
    filter_table: FilterTable | None = None
    if filters is not None:
        fwhere = f"{where}.filters"
        filter_table = parse_filter_table(
            fwhere, _check_table(problems, fwhere, "filters", filters, FILTER_KEYS)
        )
    return UserOverrides(
        relays=tuple(parse_relay_urls(relays)) if relays is not None else None,
        blossom_servers=tuple(parse_blossom_urls(servers)) if servers is not None else None,
        skip_retweets=bool(good.get("skip_retweets", False)),
        skip_replies=bool(good.get("skip_replies", False)),
        key_file=Path(key_file).expanduser() if key_file else None,
        filters=filter_table,
        nostr_npub=str(good["nostr_npub"]).strip() if good.get("nostr_npub") else None,
        handoff_continue=str(good.get("handoff", "stop")).lower() == "continue",
    )
