"""Relay fixtures: two independent relay implementations on 127.0.0.1, each started by the test.

- ``sdk_relay``: nostr-sdk's built-in ``LocalRelay``, in-process (ws URL). ``sdk_relay_server`` is the
  :class:`SdkRelay` behind it, with ``stop()``/``start()`` on the same port.
- ``sdk_relay_auth``: the same with NIP-42 AUTH required for writing.
- ``pypi_relay``: the PyPI ``nostr-relay`` package as a subprocess from ``.venv-nostr-relay`` (ws URL);
  ``pypi_relay_process`` is the :class:`RelayProcess` behind it (``stop()``/``start()``).
- ``pypi_relay_recent_only``: the same with the ``is_recent`` validator on (rejects old ``created_at``).
- ``dead_relay_url``: a ws URL on a port nobody listens on.

All are function-scoped, so each test starts with empty relays. They work from sync and async tests:
the in-process relay runs its own event loop in a background thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import nostr_sdk
import pytest

from tests.fakes.nostr_relay_proc import RelayProcess, free_port, wait_for_port

T = TypeVar("T")


class _LoopThread:
    """An asyncio loop in a daemon thread, to drive nostr-sdk's relay from sync or async code."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="sdk-relay-loop", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)


class SdkRelay:
    """nostr-sdk's ``LocalRelay`` on a fixed 127.0.0.1 port; stop() and start() keep the port.

    Its storage is in memory, so a restart starts empty (unlike :class:`RelayProcess`).
    """

    def __init__(
        self, *, port: int | None = None, auth: bool = False, notes_per_minute: int = 100_000
    ) -> None:
        self.port = port or free_port()
        self.auth = auth
        self.notes_per_minute = notes_per_minute
        self._relay: Any = None
        self._loop = _LoopThread()

    @property
    def url(self) -> str:
        """The relay's ws:// URL."""
        return f"ws://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the relay serves right now."""
        return self._relay is not None

    def start(self) -> None:
        """Start serving on the port and wait until it accepts connections."""
        if self._relay is not None:
            return
        limit = nostr_sdk.RateLimit(max_reqs=500, notes_per_minute=self.notes_per_minute)
        builder = nostr_sdk.LocalRelayBuilder().addr("127.0.0.1").port(self.port).rate_limit(limit)
        if self.auth:
            mode = nostr_sdk.LocalRelayBuilderNip42Mode.WRITE
            builder = builder.nip42(nostr_sdk.LocalRelayBuilderNip42(mode=mode))
        relay = builder.build()

        async def run() -> None:
            await relay.run()

        self._loop.run(run())
        self._relay = relay
        wait_for_port(self.port, timeout=10)

    def stop(self) -> None:
        """Stop serving (connected clients see the socket close)."""
        relay, self._relay = self._relay, None
        if relay is None:
            return

        async def shutdown() -> None:
            result = relay.shutdown()
            if asyncio.iscoroutine(result):
                await result
            await asyncio.sleep(0.05)

        self._loop.run(shutdown())

    def close(self) -> None:
        """Stop and end the background loop."""
        self.stop()
        self._loop.close()


@pytest.fixture
def sdk_relay_server() -> Iterator[SdkRelay]:
    """nostr-sdk's in-process LocalRelay (the object, with stop()/start())."""
    relay = SdkRelay()
    relay.start()
    yield relay
    relay.close()


@pytest.fixture
def sdk_relay(sdk_relay_server: SdkRelay) -> str:
    """ws URL of nostr-sdk's in-process LocalRelay."""
    return sdk_relay_server.url


@pytest.fixture
def sdk_relay_auth() -> Iterator[str]:
    """ws URL of an in-process LocalRelay that requires NIP-42 AUTH before accepting events."""
    relay = SdkRelay(auth=True)
    relay.start()
    yield relay.url
    relay.close()


@pytest.fixture
def pypi_relay_process(tmp_path: Path) -> Iterator[RelayProcess]:
    """The PyPI nostr-relay subprocess (the object, with stop()/start())."""
    proc = RelayProcess(tmp_path / "pypi-relay")
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def pypi_relay(pypi_relay_process: RelayProcess) -> str:
    """ws URL of the PyPI nostr-relay subprocess."""
    return pypi_relay_process.url


@pytest.fixture
def pypi_relay_recent_only_process(tmp_path: Path) -> Iterator[RelayProcess]:
    """The PyPI nostr-relay with its ``is_recent`` validator on (events older than a year are rejected)."""
    proc = RelayProcess(tmp_path / "pypi-relay-recent", recent_only=True)
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def pypi_relay_recent_only(pypi_relay_recent_only_process: RelayProcess) -> str:
    """ws URL of the PyPI nostr-relay that rejects old ``created_at`` (``invalid: ... is too old``)."""
    return pypi_relay_recent_only_process.url


@pytest.fixture
def dead_relay_url() -> str:
    """A ws URL on 127.0.0.1 where nothing listens."""
    return f"ws://127.0.0.1:{free_port()}"
