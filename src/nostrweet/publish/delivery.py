"""What publishing a mirror identity's own events needs from the publisher, as a small Protocol.

:mod:`~nostrweet.publish.identity` builds kind 0, 10002 and 10063 events and hands them on as
:class:`~nostrweet.publish.outcome.Unit` s to be delivered; the publisher is what delivers them. Naming
only what is used here keeps the arrow one way: ``publisher`` imports ``identity``, and ``identity``
imports this module, never ``publisher``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from nostrweet.cache.layout import EventSubject
from nostrweet.nostr.keys import MirrorKey
from nostrweet.nostr.record import EventRecord
from nostrweet.publish.outcome import PublishOutcome, Unit


class MirrorKeys(Protocol):
    """Where mirror keys come from (a KeyDeriver)."""

    def for_user(self, user_id: str | int) -> MirrorKey: ...


class IdentityRecords(Protocol):
    """The event records an identity's replaceable events are compared with and kept in."""

    def newest_for_user(self, subject: EventSubject, user_id: str) -> EventRecord | None: ...

    def get_or_create(
        self, event: Mapping[str, Any], subject: EventSubject, subject_id: str
    ) -> EventRecord: ...


class UnitDelivery(Protocol):
    """Delivers prepared units to the relays and says how each went (the publisher)."""

    @property
    def keys(self) -> MirrorKeys: ...

    @property
    def records(self) -> IdentityRecords: ...

    @property
    def relays(self) -> Sequence[str]: ...

    @property
    def blossom(self) -> Sequence[str]: ...

    @property
    def force(self) -> bool: ...

    @property
    def nip05_domain(self) -> str | None: ...

    @property
    def handoff_npubs(self) -> Mapping[str, str]:
        """Lower-case username -> the npub of the person who took the account over (SPEC §10)."""
        ...

    def clock(self) -> float: ...

    async def deliver_units(self, units: Sequence[Unit]) -> list[PublishOutcome]: ...
