"""The PyPI ``nostr-relay`` package run as a subprocess from its own venv (``.venv-nostr-relay``).

It is a second relay implementation, independent of nostr-sdk, so the wrapper is tested against two
relays that do not share code. :class:`RelayProcess` writes a config (sqlite in a temporary folder,
127.0.0.1, a fixed free port), starts ``nostr-relay serve --use-uvicorn``, waits until the port takes
connections, and can be stopped and started again on the same port (a relay that is down for part of a
run). The venv is created by ``tests/fakes/install_nostr_relay.sh``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
RELAY_VENV = REPO_ROOT / ".venv-nostr-relay"
INSTALL_SCRIPT = REPO_ROOT / "tests" / "fakes" / "install_nostr_relay.sh"
RELAY_BIN = RELAY_VENV / "bin" / "nostr-relay"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Block until 127.0.0.1:port accepts a TCP connection; RuntimeError on timeout or process exit."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"relay process exited early with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def ensure_installed() -> Path:
    """Create the relay's venv if needed (idempotent) and return the ``nostr-relay`` executable."""
    if not RELAY_BIN.exists():
        subprocess.run([str(INSTALL_SCRIPT)], check=True, timeout=600)
    if not RELAY_BIN.exists():
        raise RuntimeError(f"{RELAY_BIN} is missing after running {INSTALL_SCRIPT}")
    return RELAY_BIN


def write_config(
    workdir: Path, port: int, *, recent_only: bool = False, oldest_event: int = 31536000
) -> Path:
    """Write a nostr-relay config (JSON is valid YAML) and return its path."""
    validators = ["nostr_relay.validators.is_signed"]
    if recent_only:
        validators.append("nostr_relay.validators.is_recent")
    config = {
        "DEBUG": False,
        "relay_name": "nostrweet test relay",
        "relay_description": "started by the nostrweet test suite",
        "storage": {
            "sqlalchemy.url": f"sqlite+aiosqlite:///{workdir / 'nostr.sqlite3'}",
            "num_concurrent_reqs": 10,
            "num_concurrent_adds": 2,
            "validators": validators,
        },
        "verification": {"nip05_verification": "disabled"},
        "gunicorn": {"bind": f"127.0.0.1:{port}", "workers": 1, "loglevel": "warning"},
        "authentication": {"enabled": False},
        "message_timeout": 1800,
        "subscription_limit": 32,
        "max_limit": 6000,
        "hellthread_limit": 100,
        "oldest_event": oldest_event,
        "logging": {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {"console": {"class": "logging.StreamHandler", "level": "WARNING"}},
            "root": {"handlers": ["console"], "level": "WARNING"},
        },
    }
    path = workdir / "config.yaml"
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return path


class RelayProcess:
    """One PyPI nostr-relay subprocess on a fixed port; stop() and start() keep the port and the data."""

    def __init__(self, workdir: Path, *, port: int | None = None, recent_only: bool = False) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.recent_only = recent_only
        self.config_path = write_config(self.workdir, self.port, recent_only=recent_only)
        self.log_path = self.workdir / "relay.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The relay's ws:// URL."""
        return f"ws://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the subprocess is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        """Start the relay and wait until it accepts connections."""
        if self.running:
            return
        binary = ensure_installed()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NOSTRWEET_", "PYTHON"))}
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [str(binary), "-c", str(self.config_path), "serve", "--use-uvicorn"],
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        try:
            wait_for_port(self.port, timeout, self._proc)
        except RuntimeError as exc:
            self.stop()
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{exc}; relay log:\n{tail}") from None

    def stop(self) -> None:
        """Stop the relay (SIGTERM, then SIGKILL after 5 s) and wait until the port is free."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def __enter__(self) -> RelayProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
