"""Running the daemon as a process: signals, the startup summary, and a clean exit (SPEC §5).

- The first SIGINT or SIGTERM stops new work; what is in flight gets up to ``grace`` (10) seconds,
  then the process exits 0. A watchdog makes sure it is gone within ``grace`` + 1.5 s even if
  something hangs.
- A second signal exits at once (``os._exit``, code 128 + signal number). Every write is atomic
  (temp file, fsync, rename), so even then no file is left half-written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nostrweet.alerts.monitor import AlertMonitor
from nostrweet.daemon.config import DaemonConfig
from nostrweet.daemon.control import UserSync, watched_users
from nostrweet.daemon.coordination import StateCoordination
from nostrweet.daemon.lock import DaemonLock, default_instance_id
from nostrweet.daemon.pipeline import DaemonPipeline, summary_lines
from nostrweet.daemon.runner import Daemon, LoopHook, LoopSettings
from nostrweet.daemon.systemd_notify import SystemdNotifier
from nostrweet.nostr.keys import KeyDeriver
from nostrweet.secret import Secret
from nostrweet.settings import GlobalOptions
from nostrweet.state.engine import STATE_FILE, State, parse_state_url
from nostrweet.state.opening import open_data_state
from nostrweet.state.users import UserRepo

HttpStarter = Callable[[Daemon, DaemonPipeline, UserRepo, DaemonConfig, Secret | None], Awaitable[Any]]
"""Starts the HTTP server on the daemon's loop (returns it, with an async ``close``; None: not serving)."""

if TYPE_CHECKING:
    from nostrweet.webhooks.loop import WebhookLoopHook

log = logging.getLogger("nostrweet.daemon")

GRACE_SECONDS = 10.0
WATCHDOG_EXTRA = 1.5


def _hard_exit(code: int) -> None:
    for stream in (sys.stderr, sys.stdout):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


class SignalHandler:
    """First signal: set ``stop`` and arm the watchdog. Second signal: exit at once."""

    def __init__(
        self,
        stop: asyncio.Event,
        *,
        grace: float = GRACE_SECONDS,
        exit_now: Callable[[int], None] = _hard_exit,
    ) -> None:
        self.stop = stop
        self.grace = grace
        self.exit_now = exit_now
        self.signals = 0
        self.watchdog: threading.Timer | None = None

    def __call__(self, signum: int) -> None:
        self.signals += 1
        name = signal.Signals(signum).name
        if self.signals == 1:
            log.info(
                "%s: stopping; in-flight work has %.0f s to finish (send it again to exit at once)",
                name,
                self.grace,
            )
            self.stop.set()
            self.watchdog = threading.Timer(self.grace + WATCHDOG_EXTRA, self.exit_now, args=(0,))
            self.watchdog.daemon = True
            self.watchdog.start()
        else:
            log.warning("%s again: exiting now", name)
            self.exit_now(128 + signum)

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        """Handle SIGINT and SIGTERM on ``loop``."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self, int(sig))

    def uninstall(self, loop: asyncio.AbstractEventLoop) -> None:
        """Stop handling the signals and disarm the watchdog."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if self.watchdog is not None:
            self.watchdog.cancel()


async def run_daemon(
    options: GlobalOptions,
    config: DaemonConfig,
    keys: KeyDeriver | None = None,
    *,
    admin_token: Secret | None = None,
    http: HttpStarter | None = None,
) -> None:
    """Run the daemon until SIGINT or SIGTERM (``keys``: a deriver already built, so PBKDF2 runs once;
    ``http``: what starts the HTTP server, ``nostrweet.http.daemon_server.start_daemon_http``).

    First it takes the data directory's daemon lock, and the lock of a SQLite state kept elsewhere
    (SPEC §7): if another daemon holds one, this one exits 1 at once, naming it. Then it opens the state.
    """
    instance_id = config.instance_id or default_instance_id()
    locks = [DaemonLock(options.data_dir)]
    target = parse_state_url(options.state_url) if options.state_url else None
    if target is not None and target.path is not None:
        default = (Path(options.data_dir) / STATE_FILE).resolve()
        if target.path.resolve() != default:
            locks.append(DaemonLock.for_sqlite_state(target.path.resolve(), target.shown))
    try:
        for lock in locks:
            lock.acquire(instance_id)
        state = await asyncio.to_thread(open_data_state, options.data_dir, options.state_url, now=time.time())
        try:
            await _run_locked(options, config, keys, state, instance_id, admin_token, http)
        finally:
            state.close()
    finally:
        for lock in reversed(locks):
            lock.release()


async def _tell_stopping(stop: asyncio.Event, systemd: SystemdNotifier) -> None:
    """``STOPPING=1`` as soon as the first signal arrives (systemd then waits for the exit)."""
    await stop.wait()
    systemd.stopping()


def _webhook_hook(
    options: GlobalOptions, config: DaemonConfig, pipeline: DaemonPipeline, state: State, instance_id: str
) -> WebhookLoopHook | None:
    """The config's webhooks (SPEC §12): told of every tweet the pipeline archives, publishes or
    retracts, and of failing users; delivered in the background. None without any."""
    if not options.config.webhooks:
        return None
    from nostrweet.state.webhooks import WebhookQueue
    from nostrweet.webhook_config import load_webhooks
    from nostrweet.webhooks.loop import WebhookLoopHook
    from nostrweet.webhooks.sender import Webhooks

    webhooks = Webhooks(load_webhooks(options.config.webhooks), WebhookQueue(state), instance_id=instance_id)
    pipeline.store.events = webhooks
    return WebhookLoopHook(webhooks, failures_threshold=config.alerts.thresholds.user_failures)


async def _run_locked(
    options: GlobalOptions,
    config: DaemonConfig,
    keys: KeyDeriver | None,
    state: State,
    instance_id: str,
    admin_token: Secret | None,
    http: HttpStarter | None,
) -> None:
    coordination = StateCoordination(state, instance_id, lease_seconds=config.lease_seconds)
    await asyncio.to_thread(coordination.check_unique, time.time())
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    handler = SignalHandler(stop)
    handler.install(loop)
    systemd = SystemdNotifier()
    pipeline = DaemonPipeline(options, config, keys=keys, state=state)
    coordination.moved = pipeline.forget  # a user taken or handed back: its row is read again
    alerts = AlertMonitor(config.alerts, instance=instance_id)
    alerts.start()
    stopping = asyncio.ensure_future(_tell_stopping(stop, systemd))
    server: Any = None
    webhook_hook: WebhookLoopHook | None = None
    try:
        log.info(
            "daemon %s starting: %d user(s), poll interval %d s, at most %d at once, data dir %s, state %s",
            instance_id,
            len(config.users),
            config.poll_interval,
            config.max_concurrent,
            options.data_dir,
            state.shown,
        )
        repo = UserRepo(state)
        watched = watched_users(config.users, await asyncio.to_thread(repo.load_all))
        for name, backfill in watched.backfills.items():
            pipeline.set_backfill(name, backfill)
        lines = await pipeline.start()
        pipeline.settle_for_the_loop()
        for line in summary_lines(lines, config.relays):
            log.info("%s", line)
        settings = LoopSettings(
            poll_interval=config.poll_interval,
            max_concurrent=config.max_concurrent,
            stats_interval=config.stats_interval,
            cap_requests=config.requests_per_window,
            cap_window=config.window_seconds,
            safety=config.safety,
            grace=GRACE_SECONDS,
        )
        hooks: list[LoopHook] = [alerts, systemd]
        webhook_hook = _webhook_hook(options, config, pipeline, state, instance_id)
        if webhook_hook is not None:
            hooks.append(webhook_hook)
        daemon = Daemon(
            pipeline,
            watched.users,
            settings,
            hooks=hooks,
            coordination=coordination,
            paused=sorted(watched.paused),
            fixed=config.users,
            instance=instance_id,
            tweet_count=pipeline.tweet_count,
        )
        # users added, removed or paused through another instance's admin API (a shared state)
        daemon.hooks = (
            *daemon.hooks,
            UserSync(daemon, repo, config.users, set_backfill=pipeline.set_backfill),
        )
        server = await http(daemon, pipeline, repo, config, admin_token) if http is not None else None
        systemd.ready(f"watching {len(watched.users)} user(s)")
        await daemon.run(stop)
    except Exception as exc:  # not a signal: say so to the alert targets before the error ends the process
        alerts.stopped(f"{exc.__class__.__name__}: {exc}", time.time())
        raise
    finally:
        if not stopping.done():
            stopping.cancel()
            systemd.stopping()
        try:
            await asyncio.wait_for(pipeline.aclose(), timeout=1.0)
        except (TimeoutError, Exception) as exc:
            log.debug("closing connections: %s", exc.__class__.__name__)
        if server is not None:
            await server.close()
        if webhook_hook is not None:
            await webhook_hook.aclose()
        await asyncio.to_thread(alerts.close)
        handler.uninstall(loop)
