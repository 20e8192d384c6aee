"""Delivering prepared units (SPEC §4): records written ``pending``, events sent level by level, answers
written; and what publishing a mirror identity's own events needs from the publisher.

:class:`UnitSender` does a delivery in three steps, so the publisher can overlap them with a relay's
work on the round before: :meth:`~UnitSender.save_pending` (one transaction, always before the
events go out), :meth:`~UnitSender.send` (each level's events in flight at once through
:meth:`RelayPool.publish_many`; the answers are applied to the records in memory) and
:meth:`~UnitSender.save_answers` (one transaction).

:mod:`~nostrweet.publish.identity` builds kind 0, 10002 and 10063 events and hands them on as
:class:`~nostrweet.publish.outcome.Unit` s to be delivered; the publisher is what delivers them
(:class:`UnitDelivery`). Naming only what is used here keeps the arrow one way: ``publisher`` imports
``identity``, and ``identity`` imports this module, never ``publisher``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from nostrweet.cache.layout import EventSubject
from nostrweet.nostr.keys import MirrorKey
from nostrweet.nostr.record import EventRecord, apply_answer
from nostrweet.publish.outcome import PublishOutcome, Unit

if TYPE_CHECKING:
    from nostrweet.nostr.relays import RelayPool
    from nostrweet.publish.progress import ProgressCount
    from nostrweet.publish.records import PublishRecords

IN_FLIGHT = 8
"""Events awaiting their OK at once. Measured (docs/PERFORMANCE.md, B2): 8 is the fastest against both
local relays; 64 and 256 are slower, because each nostr-sdk send in flight is polled from Python."""


class UnitSender:
    """Writes units' records, sends their events level by level and writes the answers."""

    def __init__(
        self, pool: Callable[[], RelayPool], records: PublishRecords, clock: Callable[[], float]
    ) -> None:
        self.pool = pool
        """The pool to send through (the publisher's, as it is when a level goes out)."""
        self.records = records
        self.clock = clock

    def save_pending(self, units: Iterable[Unit]) -> None:
        """Write the records of units new or with new targets, those targets ``pending`` (one
        transaction): a record exists before its event is sent."""
        fresh = [u.record for u in units if u.record.ensure_relays(u.targets) or u.record.stored_name is None]
        self.records.save_many(fresh)

    async def send(self, levels: Sequence[Sequence[Unit]], progress: ProgressCount) -> list[Unit]:
        """Send level after level (progress' parts), a level's events all in flight at once; each answer
        is applied to its record in memory (not written). The units sent."""
        sent: list[Unit] = []
        for level in progress.split(levels):
            sendable = [u for u in level if u.targets]
            if not sendable:
                continue
            auth_keys = {u.auth_key.pubkey_hex: u.auth_key for u in sendable if u.auth_key is not None}
            answers = await self.pool().publish_many(
                [(u.event, u.targets) for u in sendable], in_flight=IN_FLIGHT, auth_keys=auth_keys
            )
            now = self.clock()
            for unit, answer in zip(sendable, answers, strict=True):
                for relay in unit.targets:
                    got = answer.get(relay)
                    outcome, message = (
                        (got.outcome, got.message) if got is not None else ("pending", "no answer")
                    )
                    unit.record.relays[relay] = apply_answer(
                        unit.record.relays.get(relay), outcome, message, now
                    )
                unit.sent = True
            sent.extend(sendable)
            progress.advance(u.subject_id for u in level if u.record.subject is EventSubject.TWEET)
        return sent

    def save_answers(self, sent: Iterable[Unit]) -> None:
        """Write the answers of units sent (one transaction)."""
        self.records.save_many(u.record for u in sent)

    async def deliver(self, levels: Sequence[Sequence[Unit]], progress: ProgressCount) -> None:
        """The three steps in a row."""
        self.save_pending(u for level in levels for u in level)
        self.save_answers(await self.send(levels, progress))


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
