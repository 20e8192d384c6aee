"""The daemon's alert hook: each loop round becomes an :class:`Observation`, its transitions alerts.

:class:`AlertMonitor` is called by the daemon's loop (``after_round``, ``after_poll``) and by the
service when the daemon stops for another reason than a signal (``stopped``). It reads what the loop
already knows (failures in a row per user, each relay's ``connected``), feeds the pure tracker
(:mod:`nostrweet.alerts.incidents`) and hands every transition to the :class:`AlertSender`, which
sends in its own thread. Nothing here waits on the network.

The age of the oldest event waiting in the outbox comes from the pipeline's ``outbox_oldest_age()``
(seconds, or None when nothing waits) when it has one; a pipeline without it leaves that condition
unobserved (the relay's ``pending`` counters count answers, not what still waits).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from nostrweet.alerts.config import AlertConfig
from nostrweet.alerts.incidents import Observation, TrackerState, Transition, step
from nostrweet.alerts.sender import Alert, AlertSender
from nostrweet.errors import TwitterAuthError

log = logging.getLogger("nostrweet.alerts")


class _Clock(Protocol):
    def now(self) -> float: ...


class _Pipeline(Protocol):
    def relay_status(self) -> Mapping[str, Mapping[str, Any]]: ...


class LoopView(Protocol):
    """What the hook reads from the daemon's loop (:class:`nostrweet.daemon.runner.Daemon`)."""

    @property
    def clock(self) -> _Clock: ...

    @property
    def pipeline(self) -> _Pipeline: ...

    @property
    def schedules(self) -> Mapping[str, Any]: ...


class AlertMonitor:
    """Tracks incidents round by round and sends one alert per transition."""

    def __init__(self, config: AlertConfig, sender: AlertSender | None = None, *, instance: str = "") -> None:
        self.config = config
        self.sender = sender or AlertSender(config.urls)
        self.instance = instance
        self.state = TrackerState()
        self.x_auth_error: str | None = None

    def start(self) -> None:
        """Start the sender's worker."""
        self.sender.start()

    # -- the loop's hook -----------------------------------------------------------------------
    def after_poll(self, user: str, error: BaseException | None) -> None:
        """A poll ended: a 401/403 from X opens the token incident; a poll that worked ends it."""
        if isinstance(error, TwitterAuthError):
            self.x_auth_error = str(error)
        elif error is None:
            self.x_auth_error = None

    def after_round(self, loop: LoopView) -> None:
        """One observation of the loop's state; alerts for what opened or ended."""
        now = loop.clock.now()
        failures = {user: int(getattr(s, "failures", 0)) for user, s in loop.schedules.items()}
        status = loop.pipeline.relay_status()
        connected = {url: bool(info.get("connected", False)) for url, info in status.items()}
        self.observe(
            Observation(
                now=now,
                user_failures=failures,
                relays_connected=connected,
                x_auth_error=self.x_auth_error,
                outbox_oldest_age=self._outbox_age(loop.pipeline),
            )
        )

    def stopped(self, reason: str, now: float) -> None:
        """The daemon stops for ``reason`` (not a signal): one last alert, sent before the exit."""
        self.observe(Observation(now=now, stopping=reason))

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (for up to ``timeout`` s) and stop the sender."""
        self.sender.close(timeout)

    # -- inside ----------------------------------------------------------------------------------
    def observe(self, obs: Observation) -> list[Transition]:
        """Feed one observation to the tracker; queue an alert per transition."""
        self.state, transitions = step(self.state, obs, self.config.thresholds)
        for t in transitions:
            level = logging.WARNING if t.change == "open" else logging.INFO
            log.log(
                level,
                "%s: %s",
                t.title,
                t.body,
                extra={
                    "fields": {
                        "action": f"alert_{t.change}",
                        "incident": t.incident.kind,
                        **({"user": t.incident.subject} if t.incident.kind == "user" else {}),
                        **({"relay": t.incident.subject} if t.incident.kind == "relay" else {}),
                    }
                },
            )
            body = f"{t.body}\n(instance {self.instance})" if self.instance else t.body
            self.sender.send(Alert(title=t.title, body=body, failure=t.change == "open"))
        return transitions

    @staticmethod
    def _outbox_age(pipeline: _Pipeline) -> float | None:
        exact = getattr(pipeline, "outbox_oldest_age", None)
        if not callable(exact):
            return None
        value = exact()
        return None if value is None else float(value)
