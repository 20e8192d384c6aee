"""Prometheus metrics of the daemon (SPEC §8), with the official ``prometheus-client`` library.

Most metrics are read from a :class:`~nostrweet.daemon.control.DaemonSnapshot` at scrape time by
:class:`SnapshotCollector`, so a user added through the admin API is in the next scrape. The poll
duration is a histogram observed when each poll ends (:class:`PollDurationHook`, a loop hook). Each server
has its own registry: nothing global, so two daemons in one test process do not mix.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from nostrweet import __version__
from nostrweet.daemon.control import DaemonSnapshot

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
POLL_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
OK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Seconds from EVENT to OK: a local relay answers in milliseconds, a far one in a second or more."""
RESULTS = ("accepted", "duplicate", "rejected", "failed")


class SnapshotCollector(Collector):
    """The SPEC §8 metrics, from the daemon's snapshot at each scrape."""

    def __init__(self, snapshot: Callable[[], DaemonSnapshot]) -> None:
        self.snapshot = snapshot
        self.given: DaemonSnapshot | None = None  # the snapshot of the render under way (Metrics.render)

    def collect(self) -> Iterator[Metric]:
        """Every metric of one snapshot."""
        snap = self.given if self.given is not None else self.snapshot()
        users = sorted(snap.users.items())
        cached = CounterMetricFamily(
            "nostrweet_tweets_cached", "Tweets of the user in the archive.", labels=["user"]
        )
        polls = CounterMetricFamily("nostrweet_polls", "Polls of the user since start.", labels=["user"])
        last = GaugeMetricFamily(
            "nostrweet_user_last_poll_timestamp_seconds", "When the user was last polled.", labels=["user"]
        )
        paused = GaugeMetricFamily("nostrweet_user_paused", "1 while the user is paused.", labels=["user"])
        backoff = GaugeMetricFamily(
            "nostrweet_user_backoff_seconds", "The user's backoff delay (0 when healthy).", labels=["user"]
        )
        failures = GaugeMetricFamily(
            "nostrweet_user_failures", "Failed polls of the user in a row.", labels=["user"]
        )
        for name, v in users:
            cached.add_metric([name], v.tweets_cached)
            polls.add_metric([name], v.polls)
            if v.last_poll is not None:
                last.add_metric([name], v.last_poll)
            paused.add_metric([name], 1.0 if v.paused else 0.0)
            backoff.add_metric([name], v.backoff_seconds)
            failures.add_metric([name], v.failures)
        yield from (cached, polls, last, paused, backoff, failures)

        published = CounterMetricFamily(
            "nostrweet_events_published",
            "Relay answers to published events since start.",
            labels=["relay", "result"],
        )
        pending = GaugeMetricFamily(
            "nostrweet_outbox_pending", "Events not yet accepted by the relay.", labels=["relay"]
        )
        connected = GaugeMetricFamily(
            "nostrweet_relay_connected", "1 while the relay is connected.", labels=["relay"]
        )
        for url, info in snap.relays.items():
            for result in RESULTS:
                value = _count(info, result)
                if value is not None:
                    published.add_metric([url, result], value)
            pending.add_metric([url], _count(info, "pending") or 0)
            connected.add_metric([url], 1.0 if info.get("connected") else 0.0)
        yield from (published, pending, connected)

        remaining = GaugeMetricFamily(
            "nostrweet_x_rate_limit_remaining", "X API requests left until the reset.", labels=["endpoint"]
        )
        reset = GaugeMetricFamily(
            "nostrweet_x_rate_limit_reset_timestamp_seconds", "When the X budget resets.", labels=["endpoint"]
        )
        for endpoint, b in sorted(snap.budgets.items()):
            left, at = b.get("remaining"), b.get("reset")
            if isinstance(left, int | float):
                remaining.add_metric([endpoint], left)
            if isinstance(at, int | float):
                reset.add_metric([endpoint], at)
        yield from (remaining, reset)

        errors = CounterMetricFamily("nostrweet_errors", "Errors since start, by kind.", labels=["kind"])
        errors.add_metric(["poll"], sum(v.errors_total for _n, v in users))
        yield errors

        held = snap.leases_held
        if held is None:  # no leases (one instance): it polls every user it watches
            held = sum(1 for _n, v in users if not v.paused)
        yield GaugeMetricFamily("nostrweet_leases_held", "Users this instance polls.", value=held)
        tweets = GaugeMetricFamily(
            "nostrweet_archive_tweets", "Tweets in the archive.", value=snap.tweets_cached
        )
        yield tweets
        yield GaugeMetricFamily(
            "nostrweet_uptime_seconds", "Seconds since start.", value=snap.now - snap.started
        )
        build = GaugeMetricFamily("nostrweet_build_info", "The running version.", labels=["version"])
        build.add_metric([__version__], 1.0)
        yield build


def _count(info: Any, key: str) -> int | None:
    value = info.get(key)
    return int(value) if isinstance(value, int | float) else None


class Metrics:
    """One server's registry: the snapshot collector and the poll duration histogram."""

    def __init__(self, snapshot: Callable[[], DaemonSnapshot]) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.collector = SnapshotCollector(snapshot)
        self.registry.register(self.collector)
        self._rendering = threading.Lock()
        self.poll_duration = Histogram(
            "nostrweet_poll_duration_seconds",
            "How long one poll of a user took (fetch, cache, publish).",
            ["result"],
            buckets=POLL_BUCKETS,
            registry=self.registry,
        )
        self.ok_latency = Histogram(
            "nostrweet_relay_ok_latency_seconds",
            "From an EVENT frame sent to the relay's OK for it.",
            ["relay"],
            buckets=OK_BUCKETS,
            registry=self.registry,
        )

    def observe_ok_latency(self, relay: str, seconds: float) -> None:
        """One OK's latency (the relay pool calls this for every OK)."""
        self.ok_latency.labels(relay).observe(seconds)

    def render(self, snap: DaemonSnapshot | None = None) -> bytes:
        """The text exposition format, of ``snap`` (read now when None). With ``snap``, safe to call from a
        worker thread: nothing of the daemon is read then, and the histograms have their own locks."""
        with self._rendering:
            self.collector.given = snap
            try:
                return generate_latest(self.registry)
            finally:
                self.collector.given = None


class PollDurationHook:
    """A loop hook (:class:`~nostrweet.daemon.runner.LoopHook`): observes each poll's duration."""

    def __init__(self, metrics: Metrics, duration_of: Callable[[str], float | None]) -> None:
        self.metrics = metrics
        self.duration_of = duration_of

    def after_round(self, loop: Any) -> None:
        """Nothing per round."""

    def after_poll(self, user: str, error: BaseException | None) -> None:
        """Observe the poll that just ended."""
        seconds = self.duration_of(user)
        if seconds is not None:
            self.metrics.poll_duration.labels("error" if error else "ok").observe(seconds)
