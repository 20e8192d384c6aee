"""The daemon's statistics: counters per user and one summary record every ``--stats-interval`` s.

The record is a plain dict (see :func:`build_stats_record`); :func:`log_stats` logs it as one line
of text, or, with ``--log-format json``, as one JSON object with ``"event": "stats"`` (through the
``fields`` extra of :class:`nostrweet.logs.JsonFormatter`). ``docs/DAEMON.md`` explains each field.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("nostrweet.daemon.stats")


@dataclass(slots=True)
class UserStats:
    """Counters of one watched user since the daemon started."""

    polls: int = 0
    new_tweets: int = 0
    posted: int = 0
    errors: int = 0
    last_poll: float | None = None
    last_error: str | None = None
    last_duration: float | None = None  # seconds the last poll took


def iso(epoch: float | None) -> str | None:
    """UTC ISO-8601 time of an epoch value (seconds), or None."""
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def build_stats_record(
    *,
    now: float,
    started: float,
    users: Mapping[str, UserStats],
    backoff: Mapping[str, float],
    next_poll: Mapping[str, float],
    budgets: Mapping[str, Mapping[str, int | float | None]],
    relays: Mapping[str, Mapping[str, Any]],
    effective_interval: float,
    poll_interval: float,
) -> dict[str, Any]:
    """The summary record (pure): per user, totals, API budget per endpoint, relay status, intervals."""
    per_user: dict[str, dict[str, Any]] = {}
    for name in sorted(users):
        s = users[name]
        per_user[name] = {
            "last_poll": iso(s.last_poll),
            "polls": s.polls,
            "new_tweets": s.new_tweets,
            "posted": s.posted,
            "errors": s.errors,
            "backoff": round(backoff.get(name, 0.0), 1),
            "next_poll_in": round(max(0.0, next_poll[name] - now), 1) if name in next_poll else None,
        }
    totals = {
        "users": len(users),
        "polls": sum(s.polls for s in users.values()),
        "new_tweets": sum(s.new_tweets for s in users.values()),
        "posted": sum(s.posted for s in users.values()),
        "errors": sum(s.errors for s in users.values()),
        "backing_off": sum(1 for v in backoff.values() if v > 0),
    }
    relay_status = {
        url: {
            "connected": bool(info.get("connected", False)),
            "accepted": int(info.get("accepted", 0) or 0),
            "rejected": int(info.get("rejected", 0) or 0),
            "pending": int(info.get("pending", 0) or 0),
        }
        for url, info in sorted(relays.items())
    }
    return {
        "event": "stats",
        "uptime": round(now - started, 1),
        "poll_interval": poll_interval,
        "effective_interval": round(effective_interval, 1),
        "totals": totals,
        "users": per_user,
        "api_budget": {endpoint: dict(b) for endpoint, b in sorted(budgets.items())},
        "relays": relay_status,
    }


def format_stats_text(record: Mapping[str, Any]) -> str:
    """A compact one-line rendering of a stats record for the text log."""
    t = record["totals"]
    parts = [
        f"stats: up {_duration(record['uptime'])}",
        f"users {t['users']}",
        f"polls {t['polls']}",
        f"new {t['new_tweets']}",
        f"posted {t['posted']}",
        f"errors {t['errors']}",
        f"backing-off {t['backing_off']}",
        f"interval {record['effective_interval']:g}s",
    ]
    budgets = record.get("api_budget") or {}
    if budgets:
        parts.append(
            "budget " + " ".join(f"{ep}={b.get('remaining')}/{b.get('limit')}" for ep, b in budgets.items())
        )
    relays = record.get("relays") or {}
    if relays:
        parts.append(
            "relays "
            + " ".join(
                f"{url}[{'up' if r['connected'] else 'down'} ok={r['accepted']} "
                f"rej={r['rejected']} pend={r['pending']}]"
                for url, r in relays.items()
            )
        )
    return " | ".join(parts)


def _duration(seconds: float) -> str:
    s = int(seconds)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h{m:02d}m{sec:02d}s"


def log_stats(record: Mapping[str, Any], logger: logging.Logger = log) -> None:
    """Log one stats record: text as a compact line, JSON as the record's own fields."""
    logger.info(format_stats_text(record), extra={"fields": dict(record)})
