"""The outbox: every event some configured relay has not accepted yet is sent again, with backoff.

One :meth:`Outbox.run_once` pass:

1. for each event record (names from the index; each record is read once, then tracked in memory),
   the configured relays that are missing from it are added as ``pending``; the relays that are due
   (pending, and ``next_attempt`` reached) get the event again. Rejected relays are never retried here.
   A record whose configured relays all answered for good is *settled*: the outbox forgets it and never
   reads it again (until the relay configuration changes);
2. cached tweets that have no record at all (never published, e.g. cached just before a crash) are
   published through the publisher, oldest first — each at most once per process.

The decisions (:func:`records.due_relays`, :func:`records.is_settled`, :func:`plan_outbox`) are pure.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from nostrweet.cache.layout import EventSubject, parse_event_filename
from nostrweet.nostr.event import SignedEvent
from nostrweet.publish.outcome import PublishOutcome, Unit
from nostrweet.publish.plan import oldest_first
from nostrweet.publish.publisher import Publisher
from nostrweet.publish.records import EventRecord, due_relays, is_settled

log = logging.getLogger(__name__)


@dataclass
class OutboxReport:
    """What one pass did."""

    resent: list[PublishOutcome] = field(default_factory=list)
    published: list[PublishOutcome] = field(default_factory=list)
    waiting: int = 0
    settled: int = 0

    @property
    def ok(self) -> bool:
        """Every event sent in this pass reached some relay."""
        return all(o.reached_relay for o in (*self.resent, *self.published) if o.status != "error")


def plan_outbox(
    records: Iterable[tuple[str, EventRecord]], relays: Sequence[str], now: float
) -> tuple[list[tuple[EventRecord, list[str]]], list[str], int]:
    """Pure: which records to send to which relays now, which record names are settled, how many wait."""
    sends: list[tuple[EventRecord, list[str]]] = []
    settled: list[str] = []
    waiting = 0
    for name, record in records:
        if is_settled(record, relays):
            settled.append(name)
            continue
        due = due_relays(record, relays, now)
        if due:
            sends.append((record, due))
        else:
            waiting += 1
    return sends, settled, waiting


class Outbox:
    """Re-sends what relays do not hold yet, and publishes cached tweets that were never published."""

    def __init__(
        self,
        publisher: Publisher,
        *,
        relays: Sequence[str] | None = None,
        publish_unrecorded: bool = True,
        clock: Callable[[], float] = time.time,
        batch: int = 500,
        owns: Callable[[EventSubject, int], bool] | None = None,
    ) -> None:
        self.publisher = publisher
        # Which records and unpublished tweets this outbox handles (the daemon splits them by user
        # when users have their own relays); None = all.
        self.owns = owns
        self.relays = list(relays) if relays is not None else list(publisher.relays)
        self.publish_unrecorded = publish_unrecorded
        self.clock = clock
        self.batch = batch
        self._settled: set[str] = set()
        self._attempted: set[int] = set()

    async def run_once(self, now: float | None = None) -> OutboxReport:
        """One pass over the records and the unpublished tweets."""
        now = self.clock() if now is None else now
        report = OutboxReport()
        records = self.publisher.records
        loaded: list[tuple[str, EventRecord]] = []
        for name in list(records.all_names()):
            if name in self._settled or not self._owns_record(name):
                continue
            record = records.load(name)
            if record is not None:
                loaded.append((name, record))
        sends, settled, report.waiting = plan_outbox(loaded, self.relays, now)
        for name in settled:
            self._settled.add(name)
            records.forget(name)
        report.settled = len(self._settled)
        for start in range(0, len(sends), self.batch):
            units = [self._unit(record, due) for record, due in sends[start : start + self.batch]]
            outcomes = await self.publisher.deliver_units(units)
            report.resent.extend(self.publisher.note(o) for o in outcomes)
        if self.publish_unrecorded:
            report.published = await self._publish_unrecorded()
        if report.resent or report.published:
            log.info(
                "outbox: %d event(s) re-sent, %d tweet(s) published, %d waiting for backoff",
                len(report.resent),
                len(report.published),
                report.waiting,
            )
        return report

    def _owns_record(self, name: str) -> bool:
        if self.owns is None:
            return True
        parsed = parse_event_filename(name)
        return parsed is None or self.owns(parsed.subject, parsed.subject_id)

    def _unit(self, record: EventRecord, due: list[str]) -> Unit:
        event = SignedEvent.from_dict(record.event)
        key = None
        if record.tweet_id is None:
            candidate = self.publisher.keys.for_user(record.subject_id)
            key = candidate if candidate.pubkey_hex == event.pubkey else None
        else:
            key = self.publisher.own_key(event)
        return Unit(record.tweet_id or record.subject_id, record, event, due, key)

    async def _publish_unrecorded(self) -> list[PublishOutcome]:
        index = self.publisher.store.index
        todo = [tid for tid in index.tweets if tid not in self._attempted and not index.tweet_events.get(tid)]
        if self.owns is not None:
            todo = [tid for tid in todo if self.owns(EventSubject.TWEET, tid)]
        if not todo:
            return []
        self._attempted.update(todo)
        return await self.publisher.publish_tweets(oldest_first(todo))
