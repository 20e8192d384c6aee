"""Global options (SPEC §1) resolved into one typed value, and :class:`Secret`, how secrets travel.

Precedence for every option: command-line flag, then environment variable, then config file, then
default. Typer already merges the flag and the environment; what it hands us as ``None`` is then
looked up in the config file (:mod:`nostrweet.config`), then defaulted here.

The config file's names and the option-value parsers are re-exported from here, where callers have
always imported them.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import msgspec

from nostrweet.config import Checks, ConfigFile, UserOverrides, load_config, parse_config
from nostrweet.errors import InputError, MissingCredentialError
from nostrweet.secret import Secret as Secret
from nostrweet.values import parse_blossom_urls, parse_relay_urls, split_list

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_DATA_DIR",
    "LOG_LEVELS",
    "ConfigFile",
    "GlobalOptions",
    "KeyDerivation",
    "LogFormat",
    "Secret",
    "UserOverrides",
    "load_config",
    "parse_blossom_urls",
    "parse_config",
    "parse_relay_urls",
    "resolve_global_options",
    "rust_log_level",
    "split_list",
]

DEFAULT_DATA_DIR = "./downloads"
DEFAULT_API_URL = "https://api.x.com"

KeyDerivation = Literal["nip06", "legacy"]
LogFormat = Literal["text", "json"]


LOG_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


_RUST_LEVELS = {"trace": "debug", "debug": "debug", "info": "info", "warn": "warning", "error": "error"}


def rust_log_level(value: str) -> str | None:
    """The level part of the earlier tool's ``RUST_LOG`` (``info``, ``warn``, ``nostrweet=debug,hyper=info``)
    as one of :data:`LOG_LEVELS`: the directive for nostrweet, else the one without a target; None when
    neither names a level we know (``off`` keeps only errors)."""
    chosen: str | None = None
    for directive in value.replace(" ", "").lower().split(","):
        target, _, level = directive.rpartition("=")
        level = "error" if level == "off" else _RUST_LEVELS.get(level, "")
        if not level:
            continue
        if target.split("::")[0] == "nostrweet":
            return level
        if not target:
            chosen = level
    return chosen


class GlobalOptions(msgspec.Struct, frozen=True):
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
    warnings: tuple[str, ...] = ()
    state_url: str | None = None
    """Where the state lives (SPEC §7); None is the default SQLite file in the data directory."""

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


COMMAND_LINE_MNEMONIC_WARNING = (
    "the mnemonic given with -m/--mnemonic is visible to other users in ps and stays in your shell "
    "history: use --mnemonic-file FILE (mode 0600) instead"
)


def mnemonic_file_warning(path: Path, mode: int) -> str | None:
    """A warning when a mnemonic file of this ``st_mode`` can be read or written by group or others."""
    if mode & 0o077 == 0:
        return None
    return f"mnemonic file {path} is open to other users (mode {mode & 0o777:04o}): run 'chmod 600 {path}'"


def _read_mnemonic_file(path: Path, warnings: list[str]) -> Secret:
    try:
        path = path.expanduser()
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"mnemonic file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read mnemonic file {path}: {exc.__class__.__name__}") from None
    phrase = " ".join(text.split())
    if not phrase:
        raise InputError(f"mnemonic file {path} is empty")
    with contextlib.suppress(OSError):
        warning = mnemonic_file_warning(path, path.stat().st_mode)
        if warning:
            warnings.append(warning)
    return Secret(phrase)


def _read_token_file(path: Path, warnings: list[str]) -> Secret:
    """The bearer token from a file (surrounding whitespace ignored); a warning if others can read it."""
    try:
        path = path.expanduser()
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise InputError(f"bearer token file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read bearer token file {path}: {exc.__class__.__name__}") from None
    if not text:
        raise InputError(f"bearer token file {path} is empty")
    with contextlib.suppress(OSError):
        info = path.stat()
        mode = info.st_mode
        # as libpq does for its password file: a root-owned file that only its group can also read is
        # how Kubernetes mounts a secret for the pod's fsGroup; that is fine
        if mode & 0o007 or (mode & 0o070 and info.st_uid != 0):
            warnings.append(
                f"bearer token file {path} is open to other users (mode {mode & 0o777:04o}): "
                f"run 'chmod 600 {path}'"
            )
    return Secret(text)


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
    mnemonic_from_command_line: bool = False,
    state_url: str | None = None,
    bearer_token_file: str | None = None,
    config_checks: Checks | None = None,
) -> GlobalOptions:
    """Merge flag/env values (already merged by the CLI) with the config file and defaults.

    ``mnemonic_from_command_line`` says the phrase came from ``-m`` itself (not its environment
    variable): the options then carry a warning that it shows in ``ps``. ``config_checks`` are the
    config file's value checks that need an I/O shell (:func:`nostrweet.config.check_config`).
    """
    warnings: list[str] = []
    config = load_config(Path(config_path).expanduser(), config_checks) if config_path else ConfigFile()

    # NOSTRWEET_DATA_DIR arrives as data_dir; the earlier tool's container image sets NOSTRWEET_OUTPUT_DIR
    legacy_dir = os.environ.get("NOSTRWEET_OUTPUT_DIR")
    data = data_dir or legacy_dir or config.get("daemon", "data_dir") or DEFAULT_DATA_DIR
    token: str | Secret | None = bearer_token or config.get("twitter", "bearer_token")
    token_file = bearer_token_file or config.get("twitter", "bearer_token_file")
    if not bearer_token and token_file:  # the flag or its env var wins; a file beats the config's text
        token = _read_token_file(Path(str(token_file)), warnings)
    api_url = (twitter_api_url or config.get("twitter", "api_url") or DEFAULT_API_URL).rstrip("/")
    parts = urlsplit(api_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"invalid --twitter-api-url {api_url!r}: use http:// or https://")

    secret: Secret | None = None
    if mnemonic:
        secret = Secret(" ".join(mnemonic.split()))
        if mnemonic_from_command_line:
            warnings.append(COMMAND_LINE_MNEMONIC_WARNING)
    elif mnemonic_file:
        secret = _read_mnemonic_file(Path(mnemonic_file), warnings)
    elif config.get("nostr", "mnemonic"):
        secret = Secret(" ".join(str(config.get("nostr", "mnemonic")).split()))
    elif config.get("nostr", "mnemonic_file"):
        secret = _read_mnemonic_file(Path(str(config.get("nostr", "mnemonic_file"))), warnings)

    derivation = (key_derivation or config.get("nostr", "key_derivation") or "nip06").lower()
    if derivation not in ("nip06", "legacy"):
        raise InputError(f"invalid key derivation {derivation!r}: use nip06 or legacy")

    if verbose or quiet:
        level = logging.ERROR if quiet else (logging.DEBUG if verbose else logging.INFO)
    else:
        name = (
            os.environ.get("NOSTRWEET_LOG_LEVEL")
            or rust_log_level(os.environ.get("RUST_LOG", ""))
            or config.get("daemon", "log_level")
            or "info"
        ).lower()
        if name not in LOG_LEVELS:
            raise InputError(f"invalid log level {name!r}: use one of {', '.join(LOG_LEVELS)}")
        level = LOG_LEVELS[name]

    fmt = (log_format or config.get("daemon", "log_format") or "text").lower()
    if fmt not in ("text", "json"):
        raise InputError(f"invalid log format {fmt!r}: use text or json")

    return GlobalOptions(
        data_dir=Path(data).expanduser(),
        bearer_token=token if isinstance(token, Secret) else (Secret(token) if token else None),
        mnemonic=secret,
        twitter_api_url=api_url,
        key_derivation=derivation,  # type: ignore[arg-type]
        config=config,
        log_level=level,
        log_format=fmt,  # type: ignore[arg-type]
        verbosity=0 if quiet else verbose,
        warnings=tuple(warnings),
        state_url=state_url or config.get("state", "url") or None,
    )
