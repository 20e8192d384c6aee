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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nostrweet.alerts.monitor import AlertMonitor
from nostrweet.daemon.config import DaemonConfig
from nostrweet.daemon.control import PersistentControl, UserSync, watched_users
from nostrweet.daemon.coordination import StateCoordination
from nostrweet.daemon.lock import DaemonLock, default_instance_id
from nostrweet.daemon.pipeline import DaemonPipeline, summary_lines
from nostrweet.daemon.runner import Daemon, LoopHook, LoopSettings
from nostrweet.daemon.systemd_notify import SystemdNotifier
from nostrweet.errors import OperationalError
from nostrweet.nostr.keys import KeyDeriver
from nostrweet.secret import Secret
from nostrweet.settings import GlobalOptions
from nostrweet.state.engine import STATE_FILE, State, parse_state_url
from nostrweet.state.opening import open_data_state
from nostrweet.state.users import UserRepo

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
) -> None:
    """Run the daemon until SIGINT or SIGTERM (``keys``: a deriver already built, so PBKDF2 runs once).

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
            await _run_locked(options, config, keys, state, instance_id, admin_token)
        finally:
            state.close()
    finally:
        for lock in reversed(locks):
            lock.release()


async def _tell_stopping(stop: asyncio.Event, systemd: SystemdNotifier) -> None:
    """``STOPPING=1`` as soon as the first signal arrives (systemd then waits for the exit)."""
    await stop.wait()
    systemd.stopping()


async def _start_http(
    daemon: Daemon,
    pipeline: DaemonPipeline,
    repo: UserRepo,
    config: DaemonConfig,
    admin_token: Secret | None,
) -> Any:
    """The HTTP server (SPEC §8) on this loop, or None without ``--http`` (aiohttp loads only with it)."""
    if config.http_listen is None:
        return None
    from nostrweet.http.metrics import PollDurationHook
    from nostrweet.http.server import HttpServer, HttpSettings, Nip05Source

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
        HttpSettings(host, port, admin_token=admin_token, nip05=nip05, backfill_default=config.backfill),
    )

    def duration(user: str) -> float | None:
        stats = daemon.stats.get(user)
        return stats.last_duration if stats is not None else None

    daemon.hooks = (*daemon.hooks, PollDurationHook(server.metrics, duration))
    try:
        await server.start()
    except OSError as exc:
        raise OperationalError(f"cannot serve HTTP on {host}:{port}: {exc.strerror or exc}") from None
    return server


async def _run_locked(
    options: GlobalOptions,
    config: DaemonConfig,
    keys: KeyDeriver | None,
    state: State,
    instance_id: str,
    admin_token: Secret | None,
) -> None:
    coordination = StateCoordination(state, instance_id, lease_seconds=config.lease_seconds)
    await asyncio.to_thread(coordination.check_unique, time.time())
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    handler = SignalHandler(stop)
    handler.install(loop)
    systemd = SystemdNotifier()
    pipeline = DaemonPipeline(options, config, keys=keys, state=state)
    alerts = AlertMonitor(config.alerts, instance=instance_id)
    alerts.start()
    stopping = asyncio.ensure_future(_tell_stopping(stop, systemd))
    server: Any = None
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
        server = await _start_http(daemon, pipeline, repo, config, admin_token)
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
        await asyncio.to_thread(alerts.close)
        handler.uninstall(loop)
