"""The outbox: every event some configured relay has not accepted yet is sent again, with backoff.

It works from the state (SPEC §7). One :meth:`Outbox.run_once` pass:

1. *reconcile* (only when the configured relays are not all in the set this outbox's scope was last
   reconciled against, a ``meta`` row of the state): every record of the scope that lacks a configured
   relay gets a ``pending`` row for it, in one transaction; then the set is written. Killed midway, the
   pass runs again at the next start;
2. the pass holds the configured relays no other instance works now
   (:class:`~nostrweet.state.relay_locks.RelayLocks`: one PostgreSQL advisory lock per relay, every
   relay on SQLite) and skips the others (``busy``), so each relay's outbox is worked by one instance at
   a time. The records with a held relay that is ``pending`` and due (``next_attempt`` reached), built
   by any instance (one that died too), are read from the state, ``batch`` at a time, oldest first, and
   sent the recorded event again (nothing is signed), with one transaction before sending and one
   after. Rejected relays are never retried; a record that waits for its backoff is not read. The
   locks are released before step 3;
3. cached tweets that have no record at all (never published, e.g. cached just before a crash) are
   published through the publisher, oldest first — each at most once per process. The tweets of a
   user that a poll of this process works now (``Publisher.polling``) are left to that poll.

Every read of the state runs in a worker thread (``asyncio.to_thread``), a page at a time, so a pass
never holds the daemon's loop for a whole read; what comes back is decided on the loop.

Memory stays flat in the number of records: no pass keeps the records it read. What the outbox
remembers between passes is capped (``tracked``): the tweets it tried to publish (dropped once they
have a record or left the cache). Forgetting one costs a retry, never a different result.
The decisions (:func:`records.due_relays`, :func:`records.is_settled`, :func:`plan_outbox`) are pure.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from nostrweet.cache.layout import EventSubject
from nostrweet.nostr.event import SignedEvent
from nostrweet.nostr.keys import MirrorKey
from nostrweet.nostr.record import EventRecord, due_relays, is_settled
from nostrweet.publish.outcome import LruDict, PublishOutcome, Unit
from nostrweet.publish.plan import oldest_first
from nostrweet.publish.publisher import Publisher
from nostrweet.state.index import ArchiveIndex, TweetRow
from nostrweet.state.relay_locks import RelayHold, RelayLocks
from nostrweet.state.users import UserRepo

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
    busy: list[str] = field(default_factory=list)
    """Relays whose outbox another instance worked at the time: skipped by this pass."""

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
    """Re-sends what relays do not hold yet, and publishes cached tweets that were never published.

    ``scope`` names the records this outbox reconciles: ``*`` (every record) when ``owns`` is None, else
    ``owned <relays>``. ``reconcile`` (default: ``publish_unrecorded``) turns the reconcile pass off for
    short-lived outboxes that only flush one relay.
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
        self._attempted: LruDict[int, bool] = LruDict(self.tracked)  # tried, had no record then
        self._owner_keys: LruDict[str, MirrorKey] = LruDict(publisher.bounds.signers)  # by pubkey
        self._not_ours: set[str] = set()  # pubkeys no key was found for, in this pass

    async def run_once(self, now: float | None = None) -> OutboxReport:
        """One pass: reconcile if the relay set grew, the due records, the unpublished tweets."""
        now = self.clock() if now is None else now
        report = OutboxReport()
        repo = self.publisher.records.repo
        self._not_ours.clear()
        if self.reconcile:
            report.reopened = await self._reconcile()
        with RelayLocks(repo.state).hold(self.relays) as hold:
            report.busy = hold.busy
            if hold.busy:
                log.debug("outbox: %s worked by another instance now", ", ".join(hold.busy))
            await self._resend_due(hold, now, report)
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

    async def _resend_due(self, hold: RelayHold, now: float, report: OutboxReport) -> None:
        """Re-send the due records of the relays this pass holds, ``batch`` at a time, oldest first."""
        repo = self.publisher.records.repo
        relays = hold.relays
        after: tuple[int, str] | None = None
        while relays:
            await asyncio.sleep(0)
            if not await asyncio.to_thread(hold.alive):
                return
            page = await asyncio.to_thread(repo.pending, now, relays, limit=self.batch, after=after)
            if not page:
                break
            after = (page[-1].created_at, page[-1].event_id)
            report.read += len(page)
            await self._pass_batch([r for r in page if self._owns_record(r)], relays, now, report)
            if len(page) < self.batch:
                break
        report.waiting += await asyncio.to_thread(repo.waiting, now, relays) if relays else 0

    async def _pass_batch(
        self, loaded: Sequence[EventRecord], relays: Sequence[str], now: float, report: OutboxReport
    ) -> None:
        tweet_ids = [r.tweet_id for r in loaded if r.tweet_id]
        retired = await asyncio.to_thread(self.publisher.lifecycle.retired, tweet_ids) if tweet_ids else {}
        if retired:  # deleted or edited on X: never sent again
            loaded = [r for r in loaded if r.tweet_id not in retired]
        sends, settled, _ = plan_outbox(((r.event_id, r) for r in loaded), relays, now)
        report.settled += len(settled)
        if sends:
            units = [self._unit(record, due) for record, due in sends]
            outcomes = await self.publisher.deliver_units(units)
            report.resent.extend(self.publisher.note(o) for o in outcomes)

    async def _reconcile(self) -> int:
        """Give the records of this scope a pending row for each configured relay they lack; returns how
        many records were reopened."""
        repo = self.publisher.records.repo
        configured = frozenset(self.relays)
        done = await asyncio.to_thread(repo.reconciled, self.scope)
        if done is not None and configured <= done:
            if done != configured:  # a relay was dropped: forget it, so re-adding it reconciles again
                await asyncio.to_thread(repo.set_reconciled, self.scope, configured)
            return 0
        lacking = await asyncio.to_thread(repo.lacking, sorted(configured))
        ids = [e for e, subject, sid in lacking if self._owns(subject, sid)]
        if ids:
            await asyncio.to_thread(repo.add_pending, ids, configured)
            self.publisher.records.forget()
            log.info("outbox: %d record(s) reopened for relays they do not list yet", len(ids))
        await asyncio.to_thread(repo.set_reconciled, self.scope, configured)
        return len(ids)

    def _owns(self, subject: EventSubject, subject_id: str) -> bool:
        if self.owns is None:
            return True
        return not subject_id.isdigit() or self.owns(subject, int(subject_id))

    def _owns_record(self, record: EventRecord) -> bool:
        return self._owns(record.subject, record.subject_id)

    def _unit(self, record: EventRecord, due: list[str]) -> Unit:
        event = SignedEvent.from_dict(record.event)
        key = None
        if record.tweet_id is None:
            candidate = self.publisher.keys.for_user(record.subject_id)
            key = candidate if candidate.pubkey_hex == event.pubkey else None
        else:
            key = self.publisher.own_key(event, record.tweet_id) or self._owner_key(event, record.tweet_id)
        return Unit(record.tweet_id or record.subject_id, record, event, due, key)

    def _owner_key(self, event: SignedEvent, tweet_id: str) -> MirrorKey | None:
        """The mirror key of a tweet whose file is not in this data directory (another instance cached
        it), for NIP-42 AUTH: its owner's user id from the state's rows (the tweet's, then its user's).
        Known keys are kept by pubkey (capped); a pubkey found to be none of ours is not asked again in
        this pass."""
        known = self._owner_keys.hit(event.pubkey)
        if known is not None or event.pubkey in self._not_ours or not tweet_id.isdigit():
            return known
        state = self.publisher.records.repo.state
        name = ArchiveIndex(state).tweet_name(int(tweet_id))
        row = TweetRow.from_name(name) if name is not None else None
        user = UserRepo(state).load(row.username) if row is not None else None
        if user is not None and user.user_id:
            candidate = self.publisher.keys.for_user(user.user_id)
            if candidate.pubkey_hex == event.pubkey:
                self._owner_keys[event.pubkey] = candidate
                return candidate
        self._not_ours.add(event.pubkey)
        return None

    async def _publish_unrecorded(self) -> list[PublishOutcome]:
        store = self.publisher.store
        unrecorded = await asyncio.to_thread(ArchiveIndex(store.state).tweets_without_events)
        polling = self.publisher.polling  # read on the loop, after the thread's answer
        todo = [
            tid
            for tid in unrecorded
            if tid not in self._attempted
            and store.has_tweet(tid)
            and _owner_free(store.tweet_owner(tid), polling)
        ]
        todo = store.readable_tweet_ids(todo)  # a directory named like a tweet is skipped
        if self.owns is not None:
            todo = [tid for tid in todo if self.owns(EventSubject.TWEET, tid)]
        if not todo:
            return []
        for tid in todo:
            self._attempted[tid] = True
        return await self.publisher.publish_tweets(oldest_first(todo))


def _owner_free(owner: str | None, polling: set[str]) -> bool:
    """Pure: a tweet is cached (it has an owner) and no poll of this process works its user now."""
    return owner is not None and owner not in polling
