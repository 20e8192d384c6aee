"""The daemon's HTTP server put together (SPEC §8): the admin API's control over the loop, NIP-05 from the
mirror keys, the poll-duration histogram, and the webhook delivery log.

``cli/daemon_cmd.py`` hands :func:`start_daemon_http` to :func:`nostrweet.daemon.service.run_daemon`,
so the daemon package never imports this one (the arrow points from ``http`` to ``daemon``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nostrweet.daemon.config import DaemonConfig
from nostrweet.daemon.control import PersistentControl
from nostrweet.daemon.pipeline import DaemonPipeline
from nostrweet.daemon.runner import Daemon
from nostrweet.errors import OperationalError
from nostrweet.http.metrics import PollDurationHook
from nostrweet.http.server import HttpServer, HttpSettings, Nip05Source
from nostrweet.secret import Secret
from nostrweet.state.engine import State
from nostrweet.state.records import RecordRepo
from nostrweet.state.users import UserRepo
from nostrweet.state.webhooks import WebhookQueue
from nostrweet.textsafe import printable

__all__ = ["start_daemon_http"]


def _webhook_log(state: State) -> Callable[[int], list[dict[str, Any]]]:
    """The newest webhook deliveries as the admin API shows them (the URL as scheme and host only)."""
    from nostrweet.webhooks.sender import shown_url

    queue = WebhookQueue(state)

    def newest(limit: int) -> list[dict[str, Any]]:
        return [
            {
                "id": d.delivery_id,
                "event": d.event,
                "username": d.username,
                "webhook": shown_url(d.webhook),
                "queued_at": d.created_at,
                "attempts": d.attempts,
                "delivered_at": d.delivered_at,
                "next_try_at": None if d.delivered_at is not None else d.next_at,
                "last_error": d.last_error,
            }
            for d in queue.log(limit)
        ]

    return newest


def _outbox_events(state: State) -> Callable[[str, int], list[dict[str, Any]]]:
    """A relay's events not accepted there, oldest first, as the admin API shows them."""
    repo = RecordRepo(state)

    def unaccepted(relay: str, limit: int) -> list[dict[str, Any]]:
        return [
            {
                "id": row["event_id"],
                "kind": row["kind"],
                "subject": row["subject"],
                "subject_id": row["subject_id"],
                "created_at": row["created_at"],
                "status": row["status"],
                "attempts": row["attempts"],
                "message": printable(str(row["message"] or ""))[:200],
                "next_try_at": row["next_attempt"],
            }
            for row in repo.unaccepted(relay, limit)
        ]

    return unaccepted


async def start_daemon_http(
    daemon: Daemon,
    pipeline: DaemonPipeline,
    repo: UserRepo,
    config: DaemonConfig,
    admin_token: Secret | None,
) -> HttpServer | None:
    """The HTTP server (SPEC §8) on the daemon's loop, or None without ``--http``."""
    if config.http_listen is None:
        return None

    control = PersistentControl(
        daemon, repo, set_backfill=pipeline.set_backfill, retry_relay=pipeline.retry_relay
    )
    nip05 = None
    if config.nip05_domain:
        pubkeys: dict[str, str] = {}

        def lookup(name: str | None) -> dict[str, str]:
            wanted = [name] if name is not None else list(daemon.users)
            out = {}
            for user in wanted:
                if user not in daemon.stats:
                    continue
                if user not in pubkeys:
                    user_id = pipeline.user_id(user)
                    if user_id is None:
                        continue
                    pubkeys[user] = pipeline.keys.for_user(user_id).pubkey_hex
                out[user] = pubkeys[user]
            return out

        nip05 = Nip05Source(
            lookup,
            config.relays,
            lambda user: config.overrides[user].relays if user in config.overrides else None,
        )
    host, port = config.http_listen
    server = HttpServer(
        control,
        HttpSettings(
            host,
            port,
            admin_token=admin_token,
            nip05=nip05,
            backfill_default=config.backfill,
            webhook_log=_webhook_log(repo.state),
            outbox_events=_outbox_events(repo.state),
        ),
    )

    def duration(user: str) -> float | None:
        stats = daemon.stats.get(user)
        return stats.last_duration if stats is not None else None

    daemon.hooks = (*daemon.hooks, PollDurationHook(server.metrics, duration))
    pipeline.pool.on_ok_latency = server.metrics.observe_ok_latency
    try:
        await server.start()
    except OSError as exc:
        raise OperationalError(f"cannot serve HTTP on {host}:{port}: {exc.strerror or exc}") from None
    return server
