"""The alert sender: Apprise to a real local json:// receiver, off the caller's thread, never stuck."""

from __future__ import annotations

import logging
import threading

import pytest

from nostrweet.alerts.config import resolve_alert_config, split_alert_urls
from nostrweet.alerts.incidents import Observation, Thresholds
from nostrweet.alerts.monitor import AlertMonitor
from nostrweet.alerts.sender import Alert, AlertSender, check_alert_urls, redact_url
from nostrweet.errors import InputError, TwitterAuthError
from tests.fakes.alert_receiver import AlertReceiver


def test_failure_and_success_types_reach_a_json_receiver(alert_receiver: AlertReceiver) -> None:
    sender = AlertSender([alert_receiver.url("alerts")], timeout=5)
    sender.start()
    assert sender.send(Alert("nostrweet: relay wss://r is down", "not connected for 10 min", failure=True))
    assert sender.send(Alert("nostrweet: relay wss://r is up again", "resolved", failure=False))
    sender.close(timeout=10)
    assert [(m["type"], m["title"]) for m in alert_receiver.messages] == [
        ("failure", "nostrweet: relay wss://r is down"),
        ("success", "nostrweet: relay wss://r is up again"),
    ]
    assert alert_receiver.paths == ["/alerts", "/alerts"]
    assert sender.sent == 2 and sender.failed == 0


def test_a_failing_target_is_logged_once_redacted_and_not_retried(
    alert_receiver: AlertReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    alert_receiver.status = 500
    url = f"json://alice:s3cr3tpassw0rd@127.0.0.1:{alert_receiver.port}/hook"
    check_alert_urls([url])
    sender = AlertSender([url], timeout=5)
    sender.start()
    with caplog.at_level(logging.INFO, logger="nostrweet.alerts"):
        sender.send(Alert("t", "b", failure=True))
        sender.close(timeout=10)
    assert len(alert_receiver.messages) == 1  # one try, no retry
    lines = [r.getMessage() for r in caplog.records if r.name == "nostrweet.alerts"]
    assert len(lines) == 1 and lines[0].startswith("alert not sent to json://alice:****@127.0.0.1")
    assert "s3cr3tpassw0rd" not in caplog.text
    assert sender.failed == 1


def test_send_never_waits_for_a_slow_target(alert_receiver: AlertReceiver) -> None:
    alert_receiver.hold = threading.Event()  # the receiver answers nothing until it is set
    sender = AlertSender([alert_receiver.url()], timeout=30)
    sender.start()
    try:
        assert all(sender.send(Alert(f"t{i}", "b", failure=True)) for i in range(5))
        # every send returned while the receiver still held its first answer: none waited for it
        assert (sender.sent, sender.failed) == (0, 0)
        assert alert_receiver.messages == []
    finally:
        alert_receiver.hold.set()
    sender.close(timeout=30)
    assert [m["title"] for m in alert_receiver.messages] == [f"t{i}" for i in range(5)]  # all, in order


def test_a_hanging_target_is_given_up_after_the_timeout() -> None:
    release = threading.Event()

    def hang(url: str, alert: Alert, timeout: float) -> bool:
        release.wait(30)
        return True

    sender = AlertSender(["json://127.0.0.1:9/x"], timeout=0.2, notify=hang)
    sender.start()
    sender.send(Alert("a", "b", failure=True))
    sender.send(Alert("c", "d", failure=False))
    sender.close(timeout=10)
    release.set()
    assert sender.failed == 2 and sender.sent == 0


def test_a_full_queue_drops_new_alerts_without_blocking() -> None:
    gate = threading.Event()
    seen: list[str] = []

    def slow(url: str, alert: Alert, timeout: float) -> bool:
        gate.wait(10)
        seen.append(alert.title)
        return True

    sender = AlertSender(["json://127.0.0.1:9/x"], timeout=20, queue_size=2, notify=slow)
    sender.start()
    results = [sender.send(Alert(str(i), "b", failure=True)) for i in range(6)]
    assert results.count(False) >= 3 and sender.dropped == results.count(False)
    gate.set()
    sender.close(timeout=10)
    assert seen == [str(i) for i, ok in enumerate(results) if ok]


def test_without_targets_nothing_is_queued() -> None:
    sender = AlertSender([])
    sender.start()
    assert sender.send(Alert("t", "b", failure=True)) is False
    sender.close()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("json://a/x", ["json://a/x"]),
        ("json://a/x,slack://T/B/C", ["json://a/x", "slack://T/B/C"]),
        ("json://a/x  json://b/y\n", ["json://a/x", "json://b/y"]),
        ("mailto://u:p@x.org?to=a@x.org,b@x.org", ["mailto://u:p@x.org?to=a@x.org,b@x.org"]),
        (["json://a/x, json://b/y", "json://c/z"], ["json://a/x", "json://b/y", "json://c/z"]),
        (None, []),
    ],
)
def test_split_alert_urls(value: object, expected: list[str]) -> None:
    assert split_alert_urls(value) == expected  # type: ignore[arg-type]


def test_unknown_scheme_is_bad_input_without_echoing_the_url() -> None:
    with pytest.raises(InputError) as info:
        check_alert_urls(["json://ok/x", "nosuch://TOPSECRETTOKEN@host"])
    assert "#2" in str(info.value) and "nosuch" in str(info.value)
    assert "TOPSECRETTOKEN" not in str(info.value)


def test_redact_url_masks_tokens() -> None:
    assert "TIiajkdnlazkcOXrIdevi7FQ" not in redact_url(
        "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"
    )
    assert redact_url("mailto://user:pass1234@example.com").count("pass1234") == 0
    assert redact_url("nosuch://secret") == "nosuch://…"


def test_resolve_alert_config_flags_over_file() -> None:
    table = {"urls": ["json://file/x"], "user_failures": 2, "relay_down_seconds": 5}
    assert resolve_alert_config(None, table).urls == ("json://file/x",)
    got = resolve_alert_config(["json://flag/x"], table)
    assert got.urls == ("json://flag/x",)
    assert got.thresholds == Thresholds(user_failures=2, relay_down_seconds=5.0, outbox_age_seconds=3600.0)
    assert resolve_alert_config(None, {}).thresholds == Thresholds()


class _Sched:
    def __init__(self, failures: int) -> None:
        self.failures = failures


class _Loop:
    def __init__(self) -> None:
        self.t = 0.0
        self.schedules: dict[str, _Sched] = {"jack": _Sched(0)}
        self.relays = {"wss://r": {"connected": True, "pending": 0}}

    class _C:
        def __init__(self, loop: _Loop) -> None:
            self.loop = loop

        def now(self) -> float:
            return self.loop.t

    @property
    def clock(self) -> _Loop._C:
        return _Loop._C(self)

    @property
    def pipeline(self) -> _Loop:
        return self

    def relay_status(self) -> dict[str, dict[str, object]]:
        return self.relays  # type: ignore[return-value]


def test_monitor_reads_the_loop_and_queues_one_alert_per_transition() -> None:
    got: list[Alert] = []

    def record(url: str, alert: Alert, timeout: float) -> bool:
        got.append(alert)
        return True

    config = resolve_alert_config(["json://127.0.0.1:9/x"], {"user_failures": 2, "relay_down_seconds": 10})
    monitor = AlertMonitor(config, AlertSender(config.urls, notify=record), instance="h:1")
    monitor.start()
    loop = _Loop()
    monitor.after_round(loop)
    loop.schedules["jack"] = _Sched(2)
    loop.relays["wss://r"]["connected"] = False
    monitor.after_poll("jack", TwitterAuthError("X API rejected the bearer token (HTTP 401)"))
    for t in (1.0, 5.0, 12.0, 13.0):
        loop.t = t
        monitor.after_round(loop)
    loop.schedules["jack"] = _Sched(0)
    loop.relays["wss://r"]["connected"] = True
    monitor.after_poll("jack", None)
    loop.t = 20.0
    monitor.after_round(loop)
    monitor.stopped("RuntimeError: boom", 21.0)
    monitor.close(timeout=5)
    assert [(a.failure, a.title) for a in got] == [
        (True, "nostrweet: @jack: polls keep failing"),
        (True, "nostrweet: X API refuses the bearer token"),
        (True, "nostrweet: relay wss://r is down"),
        (False, "nostrweet: @jack: polls work again"),
        (False, "nostrweet: relay wss://r is up again"),
        (False, "nostrweet: X API accepts the bearer token again"),
        (True, "nostrweet: daemon stopped"),
    ]
    assert all(a.body.endswith("(instance h:1)") for a in got)


def test_monitor_outbox_age_from_the_pipeline() -> None:
    got: list[Alert] = []
    config = resolve_alert_config(["json://127.0.0.1:9/x"], {"outbox_age_seconds": 100})
    monitor = AlertMonitor(config, AlertSender(config.urls, notify=lambda u, a, t: got.append(a) or True))
    monitor.start()
    loop = _Loop()
    ages: list[float | None] = [50.0, 150.0, 160.0, None]
    loop.outbox_oldest_age = lambda: ages.pop(0)  # type: ignore[attr-defined]
    for _ in range(4):
        monitor.after_round(loop)
    monitor.close(timeout=5)
    assert [(a.failure, a.title) for a in got] == [
        (True, "nostrweet: events wait in the outbox"),
        (False, "nostrweet: the outbox has caught up"),
    ]
    assert monitor.observe(Observation(99.0)) == []
