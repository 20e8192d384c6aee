"""The outbox: every event some configured relay has not accepted yet is sent again, with backoff.

One :meth:`Outbox.run_once` pass:

1. *reconcile* (only when the configured relays are not all in ``nostr_events/relays.json`` for this
   outbox's scope, or that file does not exist yet): one streaming pass over the settled records (those
   without the ``.pending`` marker), read in batches and not kept, reopens each record that lacks a
   configured relay (it becomes ``….pending.json``); then ``relays.json`` is written. Killed midway,
   the pass runs again at the next start and skips what it already reopened;
2. the records with the ``.pending`` marker (names from the index; nothing else is read) are read in
   batches of ``batch``: configured relays missing from a record are added as ``pending``; the relays
   that are due (pending, and ``next_attempt`` reached) get the event again, a batch at a time with one
   sync before sending and one after. Rejected relays are never retried. A record that still waits for
   its backoff is not read again until its ``next_attempt``;
3. cached tweets that have no record at all (never published, e.g. cached just before a crash) are
   published through the publisher, oldest first — each at most once per process.

Memory stays flat in the number of records: no pass keeps the records it read. What the outbox
remembers between passes is pruned every pass and capped (``tracked``): the pending names that wait
for their backoff or have nothing to do (only names still pending are kept), and the tweets it tried
to publish (dropped once they have a record or left the cache). Forgetting one costs a read or a
retry, never a different result.
The decisions (:func:`records.due_relays`, :func:`records.is_settled`, :func:`plan_outbox`) are pure.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from nostrweet.cache.layout import EventSubject, parse_event_filename
from nostrweet.nostr.event import SignedEvent
from nostrweet.nostr.record import EventRecord, due_relays, is_settled, next_due
from nostrweet.publish.outcome import LruDict, PublishOutcome, Unit
from nostrweet.publish.plan import oldest_first
from nostrweet.publish.publisher import Publisher
from nostrweet.publish.records import read_reconciled, write_reconciled

log = logging.getLogger(__name__)


@dataclass
class OutboxReport:
    """What one pass did."""

    resent: list[PublishOutcome] = field(default_factory=list)
    published: list[PublishOutcome] = field(default_factory=list)
    waiting: int = 0
    settled: int = 0
    reopened: int = 0
    read: int = 0

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


def reopen_needed(record: EventRecord, relays: Sequence[str]) -> bool:
    """Pure: a settled-named record must be reopened when it lacks a configured relay or lists a relay
    that has not answered for good (a record written before the marker existed)."""
    return any(url not in record.relays for url in relays) or any(
        not st.is_final for st in record.relays.values()
    )


class Outbox:
    """Re-sends what relays do not hold yet, and publishes cached tweets that were never published.

    ``scope`` names the records this outbox reconciles in ``relays.json``: ``*`` (every record) when
    ``owns`` is None, else ``owned <relays>``. ``reconcile`` (default: ``publish_unrecorded``) turns the
    reconcile pass off for short-lived outboxes that only flush one relay.
    """

    def __init__(
        self,
        publisher: Publisher,
        *,
        relays: Sequence[str] | None = None,
        publish_unrecorded: bool = True,
        clock: Callable[[], float] = time.time,
        batch: int = 500,
        owns: Callable[[EventSubject, int], bool] | None = None,
        scope: str | None = None,
        reconcile: bool | None = None,
        tracked: int | None = None,
    ) -> None:
        self.publisher = publisher
        # Which records and unpublished tweets this outbox handles (the daemon splits them by user
        # when users have their own relays); None = all.
        self.owns = owns
        self.relays = list(relays) if relays is not None else list(publisher.relays)
        self.publish_unrecorded = publish_unrecorded
        self.clock = clock
        self.batch = max(1, batch)
        self.scope = scope or ("*" if owns is None else "owned " + " ".join(sorted(self.relays)))
        self.reconcile = publish_unrecorded if reconcile is None else reconcile
        self.tracked = max(1, tracked if tracked is not None else publisher.bounds.tracked)
        self._skip: LruDict[str, bool] = LruDict(self.tracked)  # pending, nothing to do here
        self._due: LruDict[str, int] = LruDict(self.tracked)  # pending name -> next attempt
        self._attempted: LruDict[int, bool] = LruDict(self.tracked)  # tried, had no record then

    async def run_once(self, now: float | None = None) -> OutboxReport:
        """One pass: reconcile if the relay set grew, the pending records, the unpublished tweets."""
        now = self.clock() if now is None else now
        report = OutboxReport()
        records = self.publisher.records
        reads = records.reads
        if self.reconcile:
            report.reopened = await self._reconcile()
        pending = records.index.pending_events
        for gone in [n for n in self._due if n not in pending]:
            del self._due[gone]
        for gone in [n for n in self._skip if n not in pending]:
            del self._skip[gone]
        names = [
            n
            for n in records.pending_names()
            if n not in self._skip and self._due.get(n, 0) <= now and self._owns_record(n)
        ]
        for start in range(0, len(names), self.batch):
            await self._pass_batch(names[start : start + self.batch], now, report)
        report.waiting += sum(1 for n in pending if n in self._due and n not in self._skip)
        report.settled = records.count() - len(pending - self._skip.keys())
        report.read = records.reads - reads
        if self.publish_unrecorded:
            report.published = await self._publish_unrecorded()
        if report.resent or report.published or report.reopened:
            log.info(
                "outbox: %d record(s) reopened for new relays, %d event(s) re-sent, %d tweet(s) "
                "published, %d waiting for backoff",
                report.reopened,
                len(report.resent),
                len(report.published),
                report.waiting,
            )
        return report

    async def _pass_batch(self, names: Sequence[str], now: float, report: OutboxReport) -> None:
        records = self.publisher.records
        loaded = [(n, r) for n in names if (r := records.load(n, keep=False)) is not None]
        for name in set(names).difference(n for n, _ in loaded):
            self._skip[name] = True  # unreadable (a directory, no permission): skipped, warned once
        retired = self.publisher.lifecycle.retired(r.tweet_id for _, r in loaded if r.tweet_id)
        if retired:  # deleted or edited on X: never sent again
            for name, record in loaded:
                if record.tweet_id in retired:
                    self._skip[name] = True
            loaded = [(n, r) for n, r in loaded if r.tweet_id not in retired]
        sends, settled, _ = plan_outbox(loaded, self.relays, now)
        by_name = dict(loaded)
        tidy = []
        for name in settled:
            record = by_name[name]
            if records.is_pending(record):
                self._skip[name] = True  # e.g. pending only on a relay no longer configured
            else:
                tidy.append(record)  # settled for good: drop the marker
        records.save_many(tidy)
        handled = {id(r) for r, _ in sends} | {id(r) for r in tidy}
        for name, record in loaded:
            if name not in self._skip and id(record) not in handled:
                self._due[name] = next_due(record, self.relays) or 0
        if sends:
            units = [self._unit(record, due) for record, due in sends]
            outcomes = await self.publisher.deliver_units(units)
            report.resent.extend(self.publisher.note(o) for o in outcomes)
            for record, _ in sends:
                if record.stored_name in records.index.pending_events:
                    assert record.stored_name is not None
                    self._due[record.stored_name] = next_due(record, self.relays) or 0

    async def _reconcile(self) -> int:
        """Reopen the settled records that lack a configured relay; returns how many were reopened."""
        records = self.publisher.records
        scopes = read_reconciled(records.dir)
        configured = frozenset(self.relays)
        done = (scopes or {}).get(self.scope)
        if done is not None and configured <= done:
            if done != configured:  # a relay was dropped: forget it, so re-adding it reconciles again
                write_reconciled(records.dir, {**(scopes or {}), self.scope: configured})
            if self.scope == "*":
                records.required = configured
            return 0
        reopened = 0
        names = list(records.settled_names())
        for start in range(0, len(names), self.batch):
            batch = []
            for name in names[start : start + self.batch]:
                if not self._owns_record(name):
                    continue
                record = records.load(name, keep=False)
                if record is not None and reopen_needed(record, self.relays):
                    record.ensure_relays(self.relays)
                    batch.append(record)
            records.save_many(batch)
            for record in batch:
                records.forget(record.key)
            reopened += len(batch)
            await asyncio.sleep(0)
        write_reconciled(records.dir, {**(scopes or {}), self.scope: configured})
        if self.scope == "*":
            records.required = configured
        if reopened:
            log.info("outbox: %d settled record(s) reopened for relays they do not list yet", reopened)
        return reopened

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
            key = self.publisher.own_key(event, record.tweet_id)
        return Unit(record.tweet_id or record.subject_id, record, event, due, key)

    async def _publish_unrecorded(self) -> list[PublishOutcome]:
        index = self.publisher.store.index
        for done in [t for t in self._attempted if t not in index.tweets or index.has_tweet_events(t)]:
            del self._attempted[done]
        todo = [tid for tid in index.tweets_without_events() if tid not in self._attempted]
        todo = self.publisher.store.readable_tweet_ids(todo)  # a directory named like a tweet is skipped
        if self.owns is not None:
            todo = [tid for tid in todo if self.owns(EventSubject.TWEET, tid)]
        if not todo:
            return []
        for tid in todo:
            self._attempted[tid] = True
        return await self.publisher.publish_tweets(oldest_first(todo))
