"""The daemon's settings: command-line flags over the config file (SPEC §6) over the defaults.

Flags (and their environment variables) win over ``[daemon]``, ``[nostr]`` and ``[rate_limits]``;
``-u`` given on the command line replaces the file's users rather than adding to them. The file's users
are those of ``[twitter] users`` (where the seed's example puts them) and ``[daemon] users`` together. Per-user
tables ``[users.<name>]`` apply to the watched users of that name; a table for a user that is not
watched is ignored with a warning.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nostrweet.alerts.config import AlertConfig, resolve_alert_config
from nostrweet.cache.layout import normalize_username
from nostrweet.config import UserOverrides
from nostrweet.daemon import scheduler
from nostrweet.domains import resolve_nip05_domain
from nostrweet.errors import InputError
from nostrweet.listen import parse_listen
from nostrweet.settings import GlobalOptions
from nostrweet.shaping.filters import FilterBook
from nostrweet.values import parse_blossom_urls, parse_relay_urls, split_list

log = logging.getLogger("nostrweet.daemon")

DEFAULT_POLL_INTERVAL = 300
MIN_POLL_INTERVAL = 1  # seconds; a test server may use windows of a few seconds
MAX_POLL_INTERVAL = 7 * 24 * 3600  # a week: anything longer never polls in practice
DEFAULT_MAX_CONCURRENT = 3
DEFAULT_STATS_INTERVAL = 60
DEFAULT_BACKFILL = 20
DEFAULT_MAX_429_WAIT = 900
DEFAULT_LOW_FRACTION = 0.1
DEFAULT_DELETION_INTERVAL = 3600  # seconds between two deletion checks (SPEC §10)
DEFAULT_DELETION_WINDOW = 7 * 24 * 3600  # tweets younger than this are re-checked
DEFAULT_LEASE_SECONDS = 30
INSTANCE_ID_RE = re.compile(r"^[A-Za-z0-9._:@-]{1,100}$")


@dataclass(frozen=True)
class DaemonConfig:
    """Everything the daemon needs besides the global options."""

    users: tuple[str, ...]
    relays: tuple[str, ...]
    blossom_servers: tuple[str, ...]
    poll_interval: int = DEFAULT_POLL_INTERVAL
    max_concurrent: int = DEFAULT_MAX_CONCURRENT
    stats_interval: int = DEFAULT_STATS_INTERVAL
    backfill: int = DEFAULT_BACKFILL
    max_tweets_per_poll: int | None = None  # the page size of a timeline request; None: as many as X gives
    overrides: Mapping[str, UserOverrides] = field(default_factory=dict)
    filters: FilterBook = field(default_factory=FilterBook)
    requests_per_window: int | None = None  # our own cap on timeline requests ...
    window_seconds: int | None = None  # ... per this many seconds; never an assumption about X
    safety: float = scheduler.DEFAULT_SAFETY
    max_429_wait: float = DEFAULT_MAX_429_WAIT
    low_budget_fraction: float = DEFAULT_LOW_FRACTION
    nip05_domain: str | None = None  # mirrors' kind 0 carry nip05 <username>@<domain>
    alerts: AlertConfig = field(default_factory=AlertConfig)  # SPEC §9: targets and thresholds
    deletion_interval: int = DEFAULT_DELETION_INTERVAL
    deletion_window: int = DEFAULT_DELETION_WINDOW
    instance_id: str | None = None  # names this instance (SPEC §7); None: host name and pid
    lease_seconds: int = DEFAULT_LEASE_SECONDS  # [state] lease_seconds: how long a user's lease lasts
    http_listen: tuple[str, int] | None = None  # SPEC §8: --http HOST:PORT; None serves nothing
    admin_token_file: Path | None = None  # SPEC §8: the admin API's token; None turns the API off

    def relays_for(self, username: str) -> tuple[str, ...]:
        """The relays a user's events go to: its ``[users.<name>] relays`` if set, else the global ones."""
        found = self.overrides.get(username)
        if found is not None and found.relays is not None:
            return found.relays
        return self.relays

    def blossom_for(self, username: str) -> tuple[str, ...]:
        """The Blossom servers of a user: its override if set, else the global ones."""
        found = self.overrides.get(username)
        if found is not None and found.blossom_servers is not None:
            return found.blossom_servers
        return self.blossom_servers

    def all_relays(self) -> tuple[str, ...]:
        """Every relay some watched user publishes to (the pool connects to these)."""
        out = list(self.relays)
        for user in self.users:
            for url in self.relays_for(user):
                if url not in out:
                    out.append(url)
        return tuple(out)


def _pick(flag: Any, config: GlobalOptions, table: str, key: str, default: Any) -> Any:
    if flag is not None:
        return flag
    value = config.config.get(table, key)
    return default if value is None else value


def _optional_int(config: GlobalOptions, table: str, key: str) -> int | None:
    value = config.config.get(table, key)
    return None if value is None else int(value)


def _poll_interval(flag: int | None, options: GlobalOptions) -> int:
    """The poll interval from the flag (or its environment variable) or the file, within its bounds."""
    value = _pick(flag, options, "daemon", "poll_interval", DEFAULT_POLL_INTERVAL)
    where = "--poll-interval" if flag is not None else "[daemon] poll_interval"
    if not isinstance(value, int) or not MIN_POLL_INTERVAL <= value <= MAX_POLL_INTERVAL:
        raise InputError(
            f"{where} must be a whole number of seconds from {MIN_POLL_INTERVAL} to {MAX_POLL_INTERVAL} (7 days)"
        )
    return value


def _http_listen(flag: str | None, options: GlobalOptions) -> tuple[str, int] | None:
    """``--http`` (or ``NOSTRWEET_HTTP``) over ``[http] listen``; None: no HTTP server."""
    if flag is not None and flag.strip():
        return parse_listen(flag, "--http")
    value = options.config.get("http", "listen")
    return parse_listen(value, "[http] listen") if value else None


def _admin_token_file(flag: str | None, options: GlobalOptions) -> Path | None:
    """``--admin-token-file`` (or ``NOSTRWEET_ADMIN_TOKEN_FILE``) over ``[admin] token_file``."""
    value = flag if flag is not None and flag.strip() else options.config.get("admin", "token_file")
    return Path(value).expanduser() if value else None


def resolve_daemon_config(
    options: GlobalOptions,
    *,
    users: Sequence[str] | None,
    relays: Sequence[str] | None,
    blossom_servers: Sequence[str] | None,
    poll_interval: int | None,
    max_concurrent: int | None,
    stats_interval: int | None,
    backfill: int | None,
    nip05_domain: str | None = None,
    alerts: Sequence[str] | None = None,
    instance_id: str | None = None,
    http: str | None = None,
    admin_token_file: str | None = None,
) -> DaemonConfig:
    """Merge the daemon's flags with the config file. Raises InputError (exit 2) on bad or missing input."""
    cfg = options.config
    file_users = [*split_list(cfg.get("twitter", "users")), *split_list(cfg.get("daemon", "users"))]
    raw_users = split_list(list(users)) if users else file_users
    names = tuple(dict.fromkeys(normalize_username(u) for u in raw_users))
    if not names:
        raise InputError("no user to watch: use -u/--user USERNAME or [twitter] users in the config file")
    overrides = {name: cfg.users[name] for name in names if name in cfg.users}
    for name in cfg.users:
        if name not in names:
            log.warning("config [users.%s] ignored: that user is not watched", name)
    relay_urls = tuple(
        parse_relay_urls(list(relays)) if relays else parse_relay_urls(cfg.get("nostr", "relays"))
    )
    servers = tuple(
        parse_blossom_urls(list(blossom_servers))
        if blossom_servers
        else parse_blossom_urls(cfg.get("nostr", "blossom_servers"))
    )
    if instance_id is not None and not INSTANCE_ID_RE.match(instance_id):
        raise InputError("--instance-id must be 1 to 100 letters, digits or . _ : @ - (for example host-1)")
    result = DaemonConfig(
        users=names,
        instance_id=instance_id,
        lease_seconds=int(_pick(None, options, "state", "lease_seconds", DEFAULT_LEASE_SECONDS)),
        relays=relay_urls,
        blossom_servers=servers,
        poll_interval=_poll_interval(poll_interval, options),
        max_concurrent=int(
            _pick(max_concurrent, options, "daemon", "max_concurrent", DEFAULT_MAX_CONCURRENT)
        ),
        stats_interval=int(
            _pick(stats_interval, options, "daemon", "stats_interval", DEFAULT_STATS_INTERVAL)
        ),
        backfill=int(_pick(backfill, options, "daemon", "backfill", DEFAULT_BACKFILL)),
        max_tweets_per_poll=_optional_int(options, "daemon", "max_tweets_per_poll"),
        overrides=overrides,
        filters=cfg.filter_book(),
        nip05_domain=resolve_nip05_domain(nip05_domain, cfg.get("nostr", "nip05_domain")),
        alerts=resolve_alert_config(alerts, cfg.values.get("alerts", {})),
        http_listen=_http_listen(http, options),
        admin_token_file=_admin_token_file(admin_token_file, options),
        requests_per_window=_optional_int(options, "rate_limits", "requests_per_window"),
        window_seconds=_optional_int(options, "rate_limits", "window_seconds"),
        safety=float(_pick(None, options, "rate_limits", "safety_factor", scheduler.DEFAULT_SAFETY)),
        max_429_wait=float(_pick(None, options, "rate_limits", "max_wait_seconds", DEFAULT_MAX_429_WAIT)),
        low_budget_fraction=float(
            _pick(None, options, "rate_limits", "low_budget_fraction", DEFAULT_LOW_FRACTION)
        ),
        deletion_interval=int(_pick(None, options, "daemon", "deletion_interval", DEFAULT_DELETION_INTERVAL)),
        deletion_window=int(_pick(None, options, "daemon", "deletion_window", DEFAULT_DELETION_WINDOW)),
    )
    if (result.requests_per_window is None) != (result.window_seconds is None):
        raise InputError(
            "[rate_limits] requests_per_window and window_seconds go together: set both or neither"
        )
    if not result.all_relays():
        raise InputError("no relay given: use -r/--relay URL, NOSTRWEET_RELAYS or [nostr] relays")
    for name in names:
        if not result.relays_for(name):
            raise InputError(f"no relay for @{name}: give -r/--relay or [users.{name}] relays")
    return result
