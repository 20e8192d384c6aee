"""Global options (SPEC §1) and the TOML config file (SPEC §6), resolved into one typed value.

Precedence for every option: command-line flag, then environment variable, then config file, then
default. Typer already merges the flag and the environment; what it hands us as ``None`` is then
looked up in the config file, then defaulted here.
"""

from __future__ import annotations

import logging
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from nostrweet.errors import ConfigError, InputError, MissingCredentialError

DEFAULT_DATA_DIR = "./downloads"
DEFAULT_API_URL = "https://api.x.com"

KeyDerivation = Literal["nip06", "legacy"]
LogFormat = Literal["text", "json"]


class Secret:
    """A string that never shows itself in repr, str or f-strings. Use :meth:`reveal` to get it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret text itself. Never log what this returns."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**redacted**')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


# The tables and keys a config file may hold. Anything else is an error that names the key.
CONFIG_SCHEMA: dict[str, dict[str, type | tuple[type, ...]]] = {
    "twitter": {"bearer_token": str, "api_url": str},
    "nostr": {
        "mnemonic": str,
        "mnemonic_file": str,
        "key_derivation": str,
        "relays": list,
        "blossom_servers": list,
    },
    "daemon": {
        "data_dir": str,
        "users": list,
        "poll_interval": int,
        "max_concurrent": int,
        "stats_interval": int,
        "backfill": int,
        "log_level": str,
        "log_format": str,
    },
    "rate_limits": {
        "max_wait_seconds": int,
        "low_budget_fraction": (float, int),
        "timeline_limit": int,
        "timeline_window": int,
        "safety_factor": (float, int),
    },
}
USER_TABLE_SCHEMA: dict[str, type | tuple[type, ...]] = {
    "relays": list,
    "blossom_servers": list,
    "skip_retweets": bool,
    "skip_replies": bool,
    "key_file": str,
}


@dataclass(frozen=True)
class UserOverrides:
    """Per-user settings from a ``[users.<name>]`` table."""

    relays: tuple[str, ...] | None = None
    blossom_servers: tuple[str, ...] | None = None
    skip_retweets: bool = False
    skip_replies: bool = False
    key_file: Path | None = None


@dataclass(frozen=True)
class ConfigFile:
    """A parsed and validated config file."""

    path: Path | None = None
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, UserOverrides] = field(default_factory=dict)

    def get(self, table: str, key: str) -> Any:
        """A value from the file, or None."""
        return self.values.get(table, {}).get(key)


def _at_least(minimum: float) -> Any:
    def check(value: Any) -> str | None:
        return None if value >= minimum else f"must be at least {minimum:g}"

    return check


def _one_of(*choices: str) -> Any:
    def check(value: Any) -> str | None:
        return None if str(value).lower() in choices else f"must be one of {', '.join(choices)}"

    return check


def _fraction(value: Any) -> str | None:
    return None if 0 < value < 1 else "must be between 0 and 1"


def _urls(parser: Any) -> Any:
    def check(value: Any) -> str | None:
        try:
            parser(value)
        except InputError as exc:
            return str(exc)
        return None

    return check


def _usernames(value: Any) -> str | None:
    from nostrweet.cache.layout import normalize_username

    for name in split_list(value):
        try:
            normalize_username(name)
        except InputError as exc:
            return str(exc)
    return None


# Value checks beyond the type, per (table, key); each returns a problem or None.
VALUE_CHECKS: dict[tuple[str, str], Any] = {
    ("daemon", "poll_interval"): _at_least(1),
    ("daemon", "max_concurrent"): _at_least(1),
    ("daemon", "stats_interval"): _at_least(1),
    ("daemon", "backfill"): _at_least(0),
    ("daemon", "users"): _usernames,
    ("daemon", "log_level"): _one_of("debug", "info", "warning", "error"),
    ("daemon", "log_format"): _one_of("text", "json"),
    ("nostr", "key_derivation"): _one_of("nip06", "legacy"),
    ("nostr", "relays"): _urls(lambda v: parse_relay_urls(v)),
    ("nostr", "blossom_servers"): _urls(lambda v: parse_blossom_urls(v)),
    ("twitter", "api_url"): _urls(lambda v: _parse_urls(v, ("http", "https"), "API")),
    ("rate_limits", "max_wait_seconds"): _at_least(1),
    ("rate_limits", "low_budget_fraction"): _fraction,
    ("rate_limits", "timeline_limit"): _at_least(1),
    ("rate_limits", "timeline_window"): _at_least(1),
    ("rate_limits", "safety_factor"): _at_least(1),
    ("users", "relays"): _urls(lambda v: parse_relay_urls(v)),
    ("users", "blossom_servers"): _urls(lambda v: parse_blossom_urls(v)),
}


def _check_value(path: Path, where: str, table: str, key: str, value: Any) -> None:
    check = VALUE_CHECKS.get((table, key))
    problem = check(value) if check is not None else None
    if problem:
        raise ConfigError(f"{path}: [{where}] {key} {problem}")


def _type_name(expected: type | tuple[type, ...]) -> str:
    if isinstance(expected, tuple):
        return " or ".join(t.__name__ for t in expected)
    return expected.__name__


def _check(path: Path, where: str, key: str, value: Any, expected: type | tuple[type, ...]) -> None:
    ok = isinstance(value, expected) and not (isinstance(value, bool) and expected in (int, (float, int)))
    if not ok:
        raise ConfigError(
            f"{path}: [{where}] {key} must be {_type_name(expected)}, not {type(value).__name__}"
        )
    if isinstance(value, list) and not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{path}: [{where}] {key} must be a list of strings")


def load_config(path: Path) -> ConfigFile:
    """Read and validate a TOML config file. Unknown tables or keys raise ConfigError naming key and file."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.__class__.__name__}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    values: dict[str, dict[str, Any]] = {}
    users: dict[str, UserOverrides] = {}
    for table, content in raw.items():
        if table == "users":
            if not isinstance(content, dict):
                raise ConfigError(f"{path}: [users] must be a table of [users.<username>] tables")
            for username, overrides in content.items():
                users[_user_key(path, username)] = _parse_user_table(path, username, overrides)
            continue
        schema = CONFIG_SCHEMA.get(table)
        if schema is None:
            raise ConfigError(f"{path}: unknown key {table!r}")
        if not isinstance(content, dict):
            raise ConfigError(f"{path}: {table!r} must be a table")
        for key, value in content.items():
            expected = schema.get(key)
            if expected is None:
                raise ConfigError(f"{path}: unknown key {key!r} in [{table}]")
            _check(path, table, key, value, expected)
            _check_value(path, table, table, key, value)
        values[table] = dict(content)
    return ConfigFile(path=path, values=values, users=users)


def _user_key(path: Path, username: str) -> str:
    from nostrweet.cache.layout import normalize_username

    try:
        return normalize_username(username)
    except InputError:
        raise ConfigError(f"{path}: [users.{username}] is not a valid username") from None


def _parse_user_table(path: Path, username: str, table: Any) -> UserOverrides:
    where = f"users.{username}"
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [{where}] must be a table")
    for key, value in table.items():
        expected = USER_TABLE_SCHEMA.get(key)
        if expected is None:
            raise ConfigError(f"{path}: unknown key {key!r} in [{where}]")
        _check(path, where, key, value, expected)
        _check_value(path, where, "users", key, value)
    relays = table.get("relays")
    servers = table.get("blossom_servers")
    key_file = table.get("key_file")
    return UserOverrides(
        relays=tuple(parse_relay_urls(relays)) if relays is not None else None,
        blossom_servers=tuple(parse_blossom_urls(servers)) if servers is not None else None,
        skip_retweets=bool(table.get("skip_retweets", False)),
        skip_replies=bool(table.get("skip_replies", False)),
        key_file=Path(key_file).expanduser() if key_file else None,
    )


def split_list(values: list[str] | tuple[str, ...] | str | None) -> list[str]:
    """Flatten repeated and comma-separated values, dropping blanks and keeping first-seen order."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    out: list[str] = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if part and part not in out:
                out.append(part)
    return out


def _parse_urls(
    values: list[str] | tuple[str, ...] | str | None, schemes: tuple[str, ...], what: str
) -> list[str]:
    urls = []
    for url in split_list(values):
        parts = urlsplit(url)
        if parts.scheme.lower() not in schemes or not parts.hostname:
            raise InputError(f"invalid {what} URL {url!r}: use {' or '.join(s + '://' for s in schemes)}")
        urls.append(url.rstrip("/") if parts.path in ("", "/") else url)
    return urls


def parse_relay_urls(values: list[str] | tuple[str, ...] | str | None) -> list[str]:
    """Validate relay URLs (``ws://`` or ``wss://`` only)."""
    return _parse_urls(values, ("ws", "wss"), "relay")


def parse_blossom_urls(values: list[str] | tuple[str, ...] | str | None) -> list[str]:
    """Validate Blossom server URLs (``http://`` or ``https://`` only), without a trailing slash."""
    return [u.rstrip("/") for u in _parse_urls(values, ("http", "https"), "Blossom server")]


LOG_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


@dataclass(frozen=True)
class GlobalOptions:
    """The resolved global options of SPEC §1."""

    data_dir: Path
    bearer_token: Secret | None
    mnemonic: Secret | None
    twitter_api_url: str
    key_derivation: KeyDerivation
    config: ConfigFile
    log_level: int
    log_format: LogFormat
    verbosity: int = 0

    def require_bearer_token(self) -> Secret:
        """The bearer token, or exit 2 naming how to give it."""
        if self.bearer_token is None:
            raise MissingCredentialError(
                "this command needs an X API bearer token: use --bearer-token or TWITTER_BEARER_TOKEN"
            )
        return self.bearer_token

    def require_mnemonic(self) -> Secret:
        """The mnemonic, or exit 2 naming how to give it."""
        if self.mnemonic is None:
            raise MissingCredentialError(
                "this command needs a mnemonic: use --mnemonic-file, --mnemonic or NOSTRWEET_MNEMONIC"
            )
        return self.mnemonic


def _read_mnemonic_file(path: Path) -> Secret:
    try:
        text = path.expanduser().read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"mnemonic file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read mnemonic file {path}: {exc.__class__.__name__}") from None
    phrase = " ".join(text.split())
    if not phrase:
        raise InputError(f"mnemonic file {path} is empty")
    return Secret(phrase)


def resolve_global_options(
    *,
    data_dir: str | None,
    bearer_token: str | None,
    mnemonic: str | None,
    mnemonic_file: str | None,
    twitter_api_url: str | None,
    key_derivation: str | None,
    config_path: str | None,
    verbose: int,
    quiet: bool,
    log_format: str | None,
) -> GlobalOptions:
    """Merge flag/env values (already merged by the CLI) with the config file and defaults."""
    config = load_config(Path(config_path).expanduser()) if config_path else ConfigFile()

    data = data_dir or config.get("daemon", "data_dir") or DEFAULT_DATA_DIR
    token = bearer_token or config.get("twitter", "bearer_token")
    api_url = (twitter_api_url or config.get("twitter", "api_url") or DEFAULT_API_URL).rstrip("/")
    parts = urlsplit(api_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"invalid --twitter-api-url {api_url!r}: use http:// or https://")

    secret: Secret | None = None
    if mnemonic:
        secret = Secret(" ".join(mnemonic.split()))
    elif mnemonic_file:
        secret = _read_mnemonic_file(Path(mnemonic_file))
    elif config.get("nostr", "mnemonic"):
        secret = Secret(" ".join(str(config.get("nostr", "mnemonic")).split()))
    elif config.get("nostr", "mnemonic_file"):
        secret = _read_mnemonic_file(Path(str(config.get("nostr", "mnemonic_file"))))

    derivation = (key_derivation or config.get("nostr", "key_derivation") or "nip06").lower()
    if derivation not in ("nip06", "legacy"):
        raise InputError(f"invalid key derivation {derivation!r}: use nip06 or legacy")

    if verbose or quiet:
        level = logging.ERROR if quiet else (logging.DEBUG if verbose else logging.INFO)
    else:
        name = (os.environ.get("NOSTRWEET_LOG_LEVEL") or config.get("daemon", "log_level") or "info").lower()
        if name not in LOG_LEVELS:
            raise InputError(f"invalid log level {name!r}: use one of {', '.join(LOG_LEVELS)}")
        level = LOG_LEVELS[name]

    fmt = (log_format or config.get("daemon", "log_format") or "text").lower()
    if fmt not in ("text", "json"):
        raise InputError(f"invalid log format {fmt!r}: use text or json")

    return GlobalOptions(
        data_dir=Path(data).expanduser(),
        bearer_token=Secret(token) if token else None,
        mnemonic=secret,
        twitter_api_url=api_url,
        key_derivation=derivation,  # type: ignore[arg-type]
        config=config,
        log_level=level,
        log_format=fmt,  # type: ignore[arg-type]
        verbosity=verbose,
    )
