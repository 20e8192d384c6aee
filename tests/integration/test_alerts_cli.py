"""Alerts and sd_notify end to end: the real CLI daemon, the fake X API, two relays, a json:// receiver.

One daemon run covers both incidents of issue 10's test list, so that their waits overlap: a user whose
first poll fails (an injected HTTP 400 on its timeline, ``[alerts] user_failures = 1``) and recovers at
its next poll, after the daemon's 60 s backoff; and a relay that goes down (stopped, ``relay_down_seconds
= 1``) and comes back on the same port. The receiver must get exactly one ``failure`` and one ``success``
message for each, and nothing when the daemon stops on SIGTERM. The same run carries ``NOTIFY_SOCKET``:
systemd's datagrams arrive as READY=1, WATCHDOG=1 …, STOPPING=1.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.alert_receiver import AlertReceiver
from tests.fakes.relay_fixtures import SdkRelay
from tests.fakes.x_api import FakeXApi
from tests.integration.test_daemon import SMALL_USERS, TIMELINE, DaemonProc, daemons, wait_for

pytestmark = pytest.mark.integration

__all__ = ["daemons"]  # the fixture, imported so that pytest finds it here

SECRET_PASSWORD = "alert-pw-5e5e5e5e"


class NotifyListener:
    """systemd's side of NOTIFY_SOCKET: a unix datagram socket read by a thread, as systemd reads it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.datagrams: list[str] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                self.datagrams.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[NotifyListener]:
    listener = NotifyListener(str(tmp_path / "notify.sock"))
    yield listener
    listener.close()


def kinds(messages: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    return Counter((m["type"], m["title"]) for m in messages)


def test_one_alert_per_incident_and_one_when_resolved(
    tmp_path: Path,
    fake_x: FakeXApi,
    sdk_relay_server: SdkRelay,
    pypi_relay: str,
    alert_receiver: AlertReceiver,
    notify_socket: NotifyListener,
    daemons: list[DaemonProc],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _uid, user = SMALL_USERS[0]
    name = user.lower()
    relay = sdk_relay_server.url
    config = tmp_path / "nostrweet.toml"
    config.write_text("[alerts]\nuser_failures = 1\nrelay_down_seconds = 1\n")
    url = f"json://nostrweet:{SECRET_PASSWORD}@127.0.0.1:{alert_receiver.port}/alerts"
    fake_x.faults.fail_5xx(times=1, status=400, endpoint=TIMELINE)  # the first poll fails, the next works
    monkeypatch.setenv("NOTIFY_SOCKET", notify_socket.path)
    d = DaemonProc(
        tmp_path,
        tmp_path / "data",
        fake_x,
        [relay, pypi_relay],
        [user],
        config=config,
        extra=["--alert", url],
    )
    daemons.append(d.start())

    user_down = ("failure", f"nostrweet: @{name}: polls keep failing")
    user_up = ("success", f"nostrweet: @{name}: polls work again")
    relay_down = ("failure", f"nostrweet: relay {relay} is down")
    relay_up = ("success", f"nostrweet: relay {relay} is up again")

    wait_for(lambda: kinds(alert_receiver.messages)[user_down] == 1, 30, "the user's failure alert", d)
    sdk_relay_server.stop()
    wait_for(lambda: kinds(alert_receiver.messages)[relay_down] == 1, 30, "the relay's failure alert", d)
    sdk_relay_server.start()
    wait_for(lambda: kinds(alert_receiver.messages)[relay_up] == 1, 40, "the relay's resolved alert", d)
    # the user's next poll comes after its 60 s backoff
    wait_for(lambda: kinds(alert_receiver.messages)[user_up] == 1, 90, "the user's resolved alert", d)
    assert d.stop() == 0
    assert kinds(alert_receiver.messages) == Counter([user_down, user_up, relay_down, relay_up])
    assert all(m["message"] for m in alert_receiver.messages)

    # the alert URL's password shows nowhere in the log; the targets are named in their masked form
    log = d.log_text()
    assert SECRET_PASSWORD not in log
    assert f"alert sent to json://nostrweet:****@127.0.0.1:{alert_receiver.port}/alerts" in log
    # each transition is one structured record
    actions = [
        (r.get("action"), r.get("incident")) for r in d.lines() if r.get("logger") == "nostrweet.alerts"
    ]
    assert Counter(a for a in actions if a[0] and a[0].startswith("alert_")) == Counter(
        [
            ("alert_open", "user"),
            ("alert_resolved", "user"),
            ("alert_open", "relay"),
            ("alert_resolved", "relay"),
        ]
    )

    # systemd: ready once, a watchdog ping per round, stopping at the end
    time.sleep(0.5)
    datagrams = list(notify_socket.datagrams)
    assert datagrams[0].startswith("READY=1\nSTATUS=watching 1 user(s)")
    assert datagrams.count("WATCHDOG=1") >= 5
    assert datagrams[-1] == "STOPPING=1" or datagrams[-2:] == ["STOPPING=1", "STOPPING=1"]
    assert "READY=1" not in "".join(datagrams[1:])
