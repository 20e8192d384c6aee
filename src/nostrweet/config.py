"""The TOML config file (SPEC §6): its schema, its validation, and the typed value it parses into.

:func:`parse_config` is pure (text in, :class:`ConfigFile` or :class:`~nostrweet.errors.ConfigError`
out); :func:`load_config` only adds reading the file. How file values rank against flags, environment
and defaults is :mod:`nostrweet.settings`' business.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nostrweet.domains import parse_nip05_domain
from nostrweet.errors import ConfigError, InputError
from nostrweet.names import normalize_username
from nostrweet.shaping.filters import (
    FILTER_KEYS,
    FilterBook,
    FilterTable,
    invalid_pattern,
    parse_filter_table,
)
from nostrweet.shaping.media_settings import MEDIA_FORMATS, MediaSettings
from nostrweet.values import parse_blossom_urls, parse_relay_urls, parse_urls, split_list
from nostrweet.webhook_config import WebhookSpec, check_webhooks

__all__ = [
    "CONFIG_SCHEMA",
    "MAX_PAGE_SIZE",
    "MIN_PAGE_SIZE",
    "USER_TABLE_SCHEMA",
    "VALUE_CHECKS",
    "ConfigFile",
    "UserOverrides",
    "check_config",
    "load_config",
    "parse_config",
    "read_config_text",
]

# What X accepts as the page size (max_results) of a timeline request.
MIN_PAGE_SIZE = 5
MAX_PAGE_SIZE = 100

# The tables and keys a config file may hold. Anything else is an error that names the key.
CONFIG_SCHEMA: dict[str, dict[str, type | tuple[type, ...]]] = {
    "twitter": {"bearer_token": str, "bearer_token_file": str, "api_url": str, "users": list},
    "nostr": {
        "mnemonic": str,
        "mnemonic_file": str,
        "key_derivation": str,
        "relays": list,
        "blossom_servers": list,
        "nip05_domain": str,
    },
    "daemon": {
        "data_dir": str,
        "users": list,
        "poll_interval": int,
        "deletion_interval": int,
        "deletion_window": int,
        "max_tweets_per_poll": int,
        "max_concurrent": int,
        "stats_interval": int,
        "backfill": int,
        "log_level": str,
        "log_format": str,
    },
    "state": {"url": str, "lease_seconds": int},
    "http": {"listen": str},
    "admin": {"token_file": str},
    "rate_limits": {
        "max_wait_seconds": int,
        "low_budget_fraction": (float, int),
        "requests_per_window": int,
        "window_seconds": int,
        "safety_factor": (float, int),
    },
    "alerts": {
        "urls": list,
        "user_failures": int,
        "relay_down_seconds": (float, int),
        "outbox_age_seconds": (float, int),
    },
    "filters": FILTER_KEYS,
    "media": {"max_dimension": int, "format": str, "quality": int, "strip_metadata": bool},
}
USER_TABLE_SCHEMA: dict[str, type | tuple[type, ...]] = {
    "relays": list,
    "blossom_servers": list,
    "skip_retweets": bool,
    "skip_replies": bool,
    "key_file": str,
    "filters": dict,
    "nostr_npub": str,
    "handoff": str,
}


@dataclass(frozen=True)
class UserOverrides:
    """Per-user settings from a ``[users.<name>]`` table."""

    relays: tuple[str, ...] | None = None
    blossom_servers: tuple[str, ...] | None = None
    skip_retweets: bool = False
    skip_replies: bool = False
    key_file: Path | None = None
    filters: FilterTable | None = None
    nostr_npub: str | None = None  # the real person is on Nostr now (SPEC §10 hand-off)
    handoff_continue: bool = False  # handoff = "continue": keep mirroring after the pointer note


@dataclass(frozen=True)
class ConfigFile:
    """A parsed and validated config file."""

    path: Path | None = None
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, UserOverrides] = field(default_factory=dict)
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


Check = Callable[[Any], str | None]


def _at_least(minimum: float) -> Check:
    def check(value: Any) -> str | None:
        return None if value >= minimum else f"must be at least {minimum:g}"

    return check


def _between(minimum: int, maximum: int) -> Check:
    def check(value: Any) -> str | None:
        return None if minimum <= value <= maximum else f"must be from {minimum} to {maximum}"

    return check


def _one_of(*choices: str) -> Check:
    def check(value: Any) -> str | None:
        return None if str(value).lower() in choices else f"must be one of {', '.join(choices)}"

    return check


def _fraction(value: Any) -> str | None:
    return None if 0 < value < 1 else "must be between 0 and 1"


def _urls(parser: Callable[[Any], object]) -> Check:
    def check(value: Any) -> str | None:
        try:
            parser(value)
        except InputError as exc:
            return str(exc)
        return None

    return check


def _usernames(value: Any) -> str | None:
    for name in split_list(value):
        try:
            normalize_username(name)
        except InputError as exc:
            return str(exc)
    return None


def _hostname(value: Any) -> str | None:
    try:
        parse_nip05_domain(value, "")
    except InputError as exc:
        return str(exc).strip()
    return None


def _patterns(value: Any) -> str | None:
    return invalid_pattern(value)


def _npub(value: Any) -> str | None:
    from nostrweet.nostr.event import pubkey_from_npub_or_hex

    text = str(value).strip()
    if not text.startswith("npub1"):
        return "must be an npub1… public key"
    try:
        pubkey_from_npub_or_hex(text)
    except InputError:
        return "is not a valid npub"
    return None


def _listen(value: Any) -> str | None:
    from nostrweet.listen import parse_listen

    try:
        parse_listen(value, "listen")
    except InputError as exc:
        return str(exc)
    return None


def _alert_urls(value: Any) -> str | None:
    from nostrweet.alerts.config import split_alert_urls  # Apprise loads only for a file with alerts
    from nostrweet.alerts.sender import check_alert_urls

    try:
        check_alert_urls(split_alert_urls(value))
    except InputError as exc:
        return str(exc)
    return None


# Value checks beyond the type, per (table, key); each returns a problem or None.
VALUE_CHECKS: dict[tuple[str, str], Check] = {
    ("daemon", "poll_interval"): _between(1, 7 * 24 * 3600),
    ("daemon", "deletion_interval"): _between(1, 7 * 24 * 3600),
    ("daemon", "deletion_window"): _between(0, 100 * 365 * 24 * 3600),
    ("users", "nostr_npub"): _npub,
    ("users", "handoff"): _one_of("stop", "continue"),
    ("daemon", "max_concurrent"): _at_least(1),
    ("daemon", "stats_interval"): _at_least(1),
    ("daemon", "backfill"): _at_least(0),
    ("daemon", "users"): _usernames,
    ("daemon", "max_tweets_per_poll"): _between(MIN_PAGE_SIZE, MAX_PAGE_SIZE),
    ("twitter", "users"): _usernames,
    ("daemon", "log_level"): _one_of("debug", "info", "warning", "error"),
    ("daemon", "log_format"): _one_of("text", "json"),
    ("nostr", "key_derivation"): _one_of("nip06", "legacy"),
    ("nostr", "relays"): _urls(parse_relay_urls),
    ("nostr", "blossom_servers"): _urls(parse_blossom_urls),
    ("nostr", "nip05_domain"): _hostname,
    ("twitter", "api_url"): _urls(lambda v: parse_urls(v, ("http", "https"), "API")),
    ("state", "lease_seconds"): _between(5, 3600),
    ("http", "listen"): _listen,
    ("rate_limits", "max_wait_seconds"): _at_least(1),
    ("rate_limits", "low_budget_fraction"): _fraction,
    ("rate_limits", "requests_per_window"): _at_least(1),
    ("rate_limits", "window_seconds"): _at_least(1),
    ("rate_limits", "safety_factor"): _at_least(1),
    ("alerts", "urls"): _alert_urls,
    ("alerts", "user_failures"): _at_least(1),
    ("alerts", "relay_down_seconds"): _at_least(0),
    ("alerts", "outbox_age_seconds"): _at_least(0),
    ("media", "max_dimension"): _between(16, 16384),
    ("media", "format"): _one_of("keep", "jpeg", "webp"),
    ("media", "quality"): _between(1, 100),
    ("filters", "include"): _patterns,
    ("filters", "exclude"): _patterns,
    ("filters", "min_length"): _at_least(0),
    ("users", "relays"): _urls(parse_relay_urls),
    ("users", "blossom_servers"): _urls(parse_blossom_urls),
}


class _Problems:
    """The errors found in one config file, in the order they were found."""

    def __init__(self, path: Path) -> None:
        self.path = path
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
    check = VALUE_CHECKS.get((kind, key))
    problem = check(value) if check is not None else None
    if problem:
        problems.add(f"[{where}] {key} {problem}")
        return False
    return True


def load_config(path: Path) -> ConfigFile:
    """Read and validate a TOML config file. Unknown tables or keys raise ConfigError naming key and file."""
    return parse_config(read_config_text(path), path)


def read_config_text(path: Path) -> str:
    """The text of a config file, or ConfigError (exit 2) naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.__class__.__name__}") from None


def parse_config(text: str, path: Path) -> ConfigFile:
    """Validate the TOML ``text`` of the config file at ``path`` (named in every error); no I/O.

    On errors, one ConfigError with the first of them, saying how many more ``config check`` would list.
    """
    config, problems = check_config(text, path)
    if problems:
        more = len(problems) - 1
        suffix = f" ({more} more: run nostrweet config check)" if more else ""
        raise ConfigError(problems[0] + suffix)
    return config


def check_config(text: str, path: Path) -> tuple[ConfigFile, list[str]]:
    """Every error of the config file at once, one line each naming the file and the key; no I/O.

    The ConfigFile holds the good parts only; it is meant for use only when the list is empty.
    """
    problems = _Problems(path)
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
