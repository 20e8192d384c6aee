"""Per-identity nostr-sdk clients for relays that ask for NIP-42 AUTH (created lazily, LRU-capped).

nostr-sdk's authenticator belongs to a whole ``Client`` and sees only the relay URL and the challenge,
never the event being sent, so one client cannot answer AUTH as whichever identity publishes. Events
of an identity bound for an AUTH-requiring relay therefore go through that identity's own client,
whose authenticator signs with its key. At most ``max_clients`` are kept; the least recently used is
shut down first (and ``on_evict`` lets the pool forget what it keeps about that client).
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

import nostr_sdk

from nostrweet.nostr.keys import MirrorKey
from nostrweet.nostr.relay_state import RelayState

NewClient = Callable[[Any], Any]
AddRelay = Callable[[Any, RelayState], Awaitable[None]]


class AuthClients:
    """One client per identity (by pubkey), each with the relays it has been used for."""

    def __init__(
        self, new_client: NewClient, add_relay: AddRelay, on_evict: Callable[[Any], None] | None = None
    ) -> None:
        self._new_client = new_client
        self._add_relay = add_relay
        self._on_evict = on_evict
        self._clients: OrderedDict[str, tuple[Any, set[str]]] = OrderedDict()

    async def client_for(
        self, key: MirrorKey, relays: Sequence[RelayState], *, max_clients: int, connect_timeout: float
    ) -> Any:
        """The identity's own client, with ``relays`` added and connected (at most ``connect_timeout``)."""
        entry = self._clients.get(key.pubkey_hex)
        if entry is None:
            authenticator = nostr_sdk.SignerAuthenticator(key.sdk_keys())
            client = self._new_client(authenticator)
            entry = (client, set())
            self._clients[key.pubkey_hex] = entry
            while len(self._clients) > max_clients:
                _, (old, _) = self._clients.popitem(last=False)
                if self._on_evict is not None:
                    self._on_evict(old)
                with contextlib.suppress(Exception):
                    await old.shutdown()
        else:
            self._clients.move_to_end(key.pubkey_hex)
        client, added = entry
        new = [r for r in relays if r.url not in added]
        for relay in new:
            await self._add_relay(client, relay)
            added.add(relay.url)
        if new:
            await client.try_connect(timedelta(seconds=connect_timeout))
        return client

    def __len__(self) -> int:
        return len(self._clients)

    def take_all(self) -> list[Any]:
        """Forget every client and return them, for the caller to shut down."""
        clients = [c for c, _ in self._clients.values()]
        self._clients.clear()
        return clients
