"""PURE: a daemon snapshot as the HTTP server shows it: ``/healthz``, ``/readyz``, the API's users, the page.

No I/O: every function takes a :class:`~nostrweet.daemon.control.DaemonSnapshot` and returns plain values.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from nostrweet.daemon.control import DaemonSnapshot, UserView
from nostrweet.logs import scrub

STALL_INTERVALS = 3  # /healthz says "stalled" once the loop has not gone round for this many poll intervals


def rfc3339(epoch: float | None) -> str | None:
    """UTC RFC 3339 time of an epoch value, or None."""
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def is_stalled(snap: DaemonSnapshot) -> bool:
    """True once the loop has made no progress for 3 poll intervals (SPEC §8)."""
    return snap.now - snap.last_progress > STALL_INTERVALS * snap.poll_interval


def user_fields(view: UserView, now: float) -> dict[str, Any]:
    """The ``/healthz`` fields of one user."""
    return {
        "last_poll": rfc3339(view.last_poll),
        "lag_seconds": None if view.last_success is None else round(max(0.0, now - view.last_success), 1),
        "backoff_seconds": round(view.backoff_seconds, 1),
        "errors": view.failures,
        "paused": view.paused,
    }


def relay_fields(info: Mapping[str, Any]) -> dict[str, Any]:
    """The ``/healthz`` fields of one relay."""
    return {"connected": bool(info.get("connected", False)), "pending": int(info.get("pending", 0) or 0)}


def last_poll(snap: DaemonSnapshot) -> float | None:
    """The newest poll of any user."""
    polls = [v.last_poll for v in snap.users.values() if v.last_poll is not None]
    return max(polls) if polls else None


def events_posted(snap: DaemonSnapshot) -> int:
    """Events accepted by at least one relay since the daemon started."""
    return sum(v.posted for v in snap.users.values())


def health(snap: DaemonSnapshot) -> tuple[int, dict[str, Any]]:
    """``GET /healthz``: 200 while the loop goes round, 503 once it stalled; the JSON body."""
    stalled = is_stalled(snap)
    body = {
        "status": "stalled" if stalled else "ok",
        "uptime_seconds": round(snap.now - snap.started, 1),
        "instance": snap.instance,
        "last_poll": rfc3339(last_poll(snap)),
        "tweets_cached": snap.tweets_cached,
        "events_posted": events_posted(snap),
        "users": {name: user_fields(v, snap.now) for name, v in sorted(snap.users.items())},
        "relays": {url: relay_fields(info) for url, info in snap.relays.items()},
    }
    return (503 if stalled else 200), body


def readiness(snap: DaemonSnapshot) -> tuple[int, dict[str, Any]]:
    """``GET /readyz``: 200 once the state is loaded and a relay is connected, else 503."""
    connected = sum(1 for info in snap.relays.values() if info.get("connected"))
    ready = snap.state_loaded and connected > 0
    body = {"ready": ready, "state_loaded": snap.state_loaded, "relays_connected": connected}
    return (200 if ready else 503), body


def api_user(name: str, view: UserView, now: float) -> dict[str, Any]:
    """One user as the admin API answers it: the username and the ``/healthz`` fields."""
    return {"username": name, **user_fields(view, now)}


def api_users(snap: DaemonSnapshot) -> dict[str, Any]:
    """``GET /api/v1/users``."""
    return {"users": [api_user(name, v, snap.now) for name, v in sorted(snap.users.items())]}


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = int(max(0.0, seconds))
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min"


def page_values(snap: DaemonSnapshot, refresh: int) -> dict[str, Any]:
    """What the dashboard template shows (strings ready to print; Jinja2 escapes them)."""
    now = snap.now
    status, _ = health(snap)
    users = []
    for name, v in sorted(snap.users.items()):
        if v.paused:
            state = "paused"
        elif v.backoff_seconds > 0:
            state = "backing off"
        else:
            state = "ok"
        users.append(
            {
                "name": name,
                "state": state,
                "last_poll": rfc3339(v.last_poll) or "never",
                "lag": _ago(None if v.last_success is None else now - v.last_success),
                "new": v.new_tweets,
                "posted": v.posted,
                "errors": v.failures,
                "errors_total": v.errors_total,
                "backoff": _ago(v.backoff_seconds) if v.backoff_seconds > 0 else "—",
                "paused": v.paused,
                "cached": v.tweets_cached,
                "next_poll": "—" if v.paused or v.next_poll is None else _ago(v.next_poll - now),
            }
        )
    relays = [
        {
            "url": url,
            "connected": bool(info.get("connected")),
            "pending": int(info.get("pending", 0) or 0),
            "accepted": int(info.get("accepted", 0) or 0),
            "rejected": int(info.get("rejected", 0) or 0),
        }
        for url, info in snap.relays.items()
    ]
    budgets = []
    for endpoint, b in sorted(snap.budgets.items()):
        reset = b.get("reset")
        budgets.append(
            {
                "endpoint": endpoint,
                "remaining": "?" if b.get("remaining") is None else b.get("remaining"),
                "limit": "?" if b.get("limit") is None else b.get("limit"),
                "reset": rfc3339(float(reset)) if isinstance(reset, int | float) else "—",
                "reset_in": _ago(float(reset) - now) if isinstance(reset, int | float) else "—",
            }
        )
    errors = [
        {"at": rfc3339(e.at), "user": e.user, "message": scrub(e.message)}
        for e in reversed(snap.recent_errors)
    ]
    return {
        "status": "ok" if status == 200 else "stalled",
        "instance": snap.instance,
        "now": rfc3339(now),
        "uptime": _ago(now - snap.started),
        "interval": round(snap.effective_interval),
        "tweets_cached": snap.tweets_cached,
        "events_posted": events_posted(snap),
        "refresh": refresh,
        "users": users,
        "relays": relays,
        "budgets": budgets,
        "errors": errors,
    }
