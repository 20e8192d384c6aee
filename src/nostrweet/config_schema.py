"""The config file's schema (SPEC §6): which tables and keys it may hold, their types, and the value
rules beyond the type (ranges, choices, URLs, usernames, patterns, npubs). Pure data and small checks;
:mod:`nostrweet.config` walks a file against them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nostrweet.domains import parse_nip05_domain
from nostrweet.errors import InputError
from nostrweet.names import normalize_username
from nostrweet.shaping.filters import FILTER_KEYS, invalid_pattern
from nostrweet.values import parse_blossom_urls, parse_relay_urls, parse_urls, split_list

__all__ = [
    "CONFIG_SCHEMA",
    "MAX_PAGE_SIZE",
    "MIN_PAGE_SIZE",
    "USER_TABLE_SCHEMA",
    "VALUE_CHECKS",
    "Check",
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


# Value checks beyond the type, per (table, key); each returns a problem or None. A check that needs
# an I/O shell (``[alerts] urls``: Apprise) is the caller's, handed to the walk as an extra check.
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
