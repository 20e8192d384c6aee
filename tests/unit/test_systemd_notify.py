"""sd_notify over a real unix datagram socket, as systemd listens for it."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from nostrweet.daemon.systemd_notify import SystemdNotifier, notify_address


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)
    yield path, sock
    sock.close()


def test_ready_watchdog_stopping_arrive_in_order(listener: tuple[str, socket.socket]) -> None:
    path, sock = listener
    notifier = SystemdNotifier({"NOTIFY_SOCKET": path})
    assert notifier.enabled
    assert notifier.ready("watching 2 user(s)")
    notifier.after_round(object())
    notifier.after_poll("jack", None)  # nothing per poll
    assert notifier.stopping()
    got = [sock.recv(4096).decode() for _ in range(3)]
    assert got == ["READY=1\nSTATUS=watching 2 user(s)", "WATCHDOG=1", "STOPPING=1"]


def test_abstract_socket(tmp_path: Path) -> None:
    name = f"nostrweet-test-{tmp_path.name}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5)
    try:
        assert SystemdNotifier({"NOTIFY_SOCKET": "@" + name}).notify("WATCHDOG=1")
        assert sock.recv(100) == b"WATCHDOG=1"
    finally:
        sock.close()


def test_no_notify_socket_is_a_no_op() -> None:
    notifier = SystemdNotifier({})
    assert not notifier.enabled
    assert notifier.ready() is False
    notifier.after_round(object())


def test_a_vanished_socket_never_raises(tmp_path: Path) -> None:
    assert SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")}).ready() is False


def test_a_full_listener_never_blocks_the_sender(listener: tuple[str, socket.socket]) -> None:
    path, _sock = listener  # never read: its queue fills up
    notifier = SystemdNotifier({"NOTIFY_SOCKET": path})
    results = [notifier.notify("WATCHDOG=1") for _ in range(2000)]
    assert results[0] is True and results[-1] is False  # dropped, not waited for


@pytest.mark.parametrize(
    ("value", "expected"),
    [("/run/systemd/notify", "/run/systemd/notify"), ("@abc", "\0abc"), ("", None), ("relative", None)],
)
def test_notify_address(value: str, expected: str | None) -> None:
    assert notify_address({"NOTIFY_SOCKET": value}) == expected
