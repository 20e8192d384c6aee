"""Publishing orchestration: cached tweets → signed events → relays, with records (SPEC §2, §4).

Interface (the CLI and the daemon call these)::

    publisher = Publisher(store, keys, pool, relays=[...], blossom=[...], http=None, force=False,
                          archiver=None)
    outcome = await publisher.publish_tweet(tweet_id)                 # -> PublishOutcome
    outcomes = await publisher.publish_tweets(ids, progress=cb, documents=None)  # -> list[...]
    summary = await publisher.publish_user(username, progress=cb)     # -> PublishSummary
    await publisher.publish_profile(user)                             # -> PublishOutcome (kind 0)
    await publisher.publish_relay_list(user_id)                       # -> PublishOutcome (kind 10002)
    await publisher.resend(record)                                    # -> PublishOutcome (outbox)
    publisher.outcomes                                                # every event handled so far
    publisher.take_outcomes()                                         # ... returned and forgotten
    await publisher.aclose()

``keys`` is anything with ``for_user(user_id) -> MirrorKey`` (a KeyDeriver, or a wrapper that returns a
fixed key for some users). ``progress(done, total)`` is called first with ``(0, total)``, then as
requested tweets are done (their events answered, or nothing to send); with a progress callback a
level's events go out in parts of :data:`~nostrweet.publish.progress.PROGRESS_STEP`, so the count
moves while they are sent. ``documents``: tweet documents the caller holds (an archive run's), used
as they are; the others are read from the cache, each file once per round.

A tweet is published as: its dependencies first (parent, quoted, retweeted original; each under its
own author's identity, 3 levels at most, each id once per call), then itself. Tweets go in rounds of
:data:`BATCH`: the round's records are written with their target relays ``pending`` (one transaction for the
round) before anything is sent, the events are sent level by level (:func:`plan.dependency_levels`;
a level's events are all in flight at once), and the answers are written (again one transaction).
An event that has a record is never rebuilt: its recorded event is sent again, so ids stay stable.
Building (:mod:`.building`) loads what an event names into plain mappings first; the duplicate check
is :mod:`.dupcheck`.

Memory (:class:`~nostrweet.publish.outcome.MemoryBounds`): a publisher lives as long as the daemon,
so what it keeps per tweet is capped (the refs: :class:`~nostrweet.publish.building.RefBook`).
``outcomes`` grows until :meth:`Publisher.take_outcomes` (the daemon calls it after every poll and
outbox pass), and never beyond ``bounds.outcomes`` when that is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nostrweet.bridge.context import EventRef
from nostrweet.cache.layout import EventSubject, normalize_username
from nostrweet.errors import NostrweetError
from nostrweet.nostr.event import SignedEvent
from nostrweet.nostr.keys import MirrorKey
from nostrweet.nostr.record import EventRecord
from nostrweet.nostr.relays import RelayPool
from nostrweet.publish import identity
from nostrweet.publish.building import (
    KeySource,
    NoneRetired,
    RefBook,
    RetiredTweets,
    SkipLog,
    TweetBuilder,
    TweetSource,
)
from nostrweet.publish.delivery import UnitSender
from nostrweet.publish.dupcheck import DuplicateCheck
from nostrweet.publish.media import MediaUploader
from nostrweet.publish.outcome import LruDict, MemoryBounds, PublishOutcome, PublishSummary, Unit, outcome_of
from nostrweet.publish.plan import PlanItem, chunked, dependency_levels, plan_tweet
from nostrweet.publish.progress import Progress, ProgressCount
from nostrweet.publish.records import PublishRecords
from nostrweet.shaping.filters import FilterBook
from nostrweet.state.skips import SkippedTweets
from nostrweet.store import CacheStore
from nostrweet.twitter.models import TweetDocument, User

if TYPE_CHECKING:
    import httpx

    from nostrweet.archive.archiver import Archiver

log = logging.getLogger(__name__)

BATCH = 250
"""Requested tweets handled per round of lookup, build and send (one transaction before sending, one after)."""
FIRST_ROUND = 50
"""Requested tweets in the first round (at most BATCH): the relays have its events while the next round
is built, instead of waiting for a whole round's build after the start."""
YIELD_EVERY = 8
"""Events built between two turns of the event loop: signing does not wait on anything, and the round
in flight must not wait for a whole round's build to send its next level or read its OKs."""


@dataclass
class _Plan:
    """A round's tweets to build, in order, and their authors (:meth:`Publisher._plan_chunk`)."""

    items: list[PlanItem]
    authors: dict[str, User]


@dataclass
class _Round:
    """A round built and signed, waiting to be sent (:meth:`Publisher._build_chunk`)."""

    levels: list[list[Unit]]
    units: list[Unit]
    authors: dict[str, User]
    uploaders: set[str]


class Publisher:
    """Turns cached tweets, profiles and relay lists into events on the configured relays."""

    failure_log_level = logging.WARNING
    """Level of the log line of each event that reached no relay (the CLI sums them up in one error)."""
    nip05_domain: str | None = None
    """The domain of the mirrors' NIP-05 names (``nip05`` in kind 0), or None for none."""
    handoff_npubs: Mapping[str, str] = {}
    """Lower-case username -> the real person's npub, for the accounts handed off (kind 0 ``about``)."""

    def __init__(
        self,
        store: CacheStore,
        keys: KeySource,
        pool: RelayPool,
        *,
        relays: Sequence[str],
        blossom: Sequence[str] = (),
        http: httpx.AsyncClient | None = None,
        force: bool = False,
        archiver: Archiver | None = None,
        publish_profiles: bool = True,
        lookup_timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
        bounds: MemoryBounds | None = None,
        filters: FilterBook | None = None,
        skip_log: SkipLog | None = None,
    ) -> None:
        self.bounds = bounds = bounds or MemoryBounds()
        self.filters = filters or FilterBook()
        self.store = store
        self.skip_log: SkipLog = skip_log if skip_log is not None else SkippedTweets(store.state)
        """Where a skipped tweet and its rule are kept (the state's ``skipped_tweets``)."""
        self.keys = keys
        self.pool = pool
        self.relays = list(relays)
        self.blossom = list(blossom)
        self.force = force
        self.archiver = archiver
        self.publish_profiles = publish_profiles
        self.lookup_timeout = lookup_timeout
        self.clock = clock
        self.records = PublishRecords(store.state, cache_size=bounds.records)
        self.lifecycle: RetiredTweets = NoneRetired()
        """Tweets deleted or replaced on X: never published again, ``force`` aside (SPEC §10)."""
        self.media = MediaUploader(store, self.blossom, http, clock=clock, cache_size=bounds.media_names)
        self.outcomes: list[PublishOutcome] = []
        self.refs = RefBook(self.records, lambda ids: self.lifecycle.retired(ids), cap=bounds.refs)
        """Where the events tweets are referenced by are found (rounds, LRU, then the state)."""
        self.builder = TweetBuilder(
            keys, self.refs, self.records, self.media, self.relays, force=force, signers=bounds.signers
        )
        self.documents = TweetSource(store, archiver, self.filters, self.skip_log)
        """The documents to publish: handed in, else read once per round; what the filters keep."""
        self.sender = UnitSender(lambda: self.pool, self.records, lambda: self.clock())
        """Records pending, events level by level, answers (:mod:`.delivery`)."""
        self.duplicates = DuplicateCheck(self.pool, self.records, keys, self.relays, lookup_timeout, clock)
        """The duplicate check (``#r``, ``authors``) before a tweet's first send (SPEC §4)."""
        self._blossom_listed: LruDict[str, bool] = LruDict(bounds.listed)
        self._progress = ProgressCount(None, [])
        self.polling: set[str] = set()
        """Users a poll of this process works now (it caches and publishes their tweets itself): the
        outbox leaves their unpublished tweets to it."""

    async def aclose(self) -> None:
        """Release what the publisher opened itself (not the pool)."""
        await self.media.aclose()

    # -- tweets ----------------------------------------------------------------------------

    async def publish_tweet(self, tweet_id: str | int) -> PublishOutcome:
        """Publish one tweet (and what it depends on); fetch it first if it is not cached and an
        archiver was given."""
        [outcome] = await self.publish_tweets([str(tweet_id)])
        return outcome

    async def publish_user(self, username: str, *, progress: Progress | None = None) -> PublishSummary:
        """Publish every cached tweet of a user, oldest first."""
        ids = [
            str(i)
            for i in self.store.readable_tweet_ids(self.store.tweet_ids_of(normalize_username(username)))
        ]
        start = len(self.outcomes)
        outcomes = await self.publish_tweets(ids, progress=progress)
        return PublishSummary(outcomes, self.outcomes[start:])

    def take_outcomes(self) -> list[PublishOutcome]:
        """Every outcome noted since the last call, forgotten here (the daemon's per-poll reset)."""
        taken, self.outcomes = self.outcomes, []
        return taken

    async def publish_tweets(
        self,
        tweet_ids: Sequence[str | int],
        *,
        progress: Progress | None = None,
        documents: Mapping[str, TweetDocument] | None = None,
    ) -> list[PublishOutcome]:
        """Publish tweets in the given order (pass them oldest first), many events in flight at once.

        ``documents``: tweet documents the caller holds already (the ones an archive run just wrote),
        by id; they are used as they are, and only the other tweets are read from the cache.
        """
        self.documents.given = documents or {}
        try:
            return await self._publish_tweets([str(i) for i in tweet_ids], progress)
        finally:
            self.documents.given = {}

    async def _publish_tweets(self, ids: list[str], progress: Progress | None) -> list[PublishOutcome]:
        """A round is built and signed, and its records written, while the round before is in flight;
        its events go out once that round is answered, so rounds reach the relays in order, just after
        the next round's duplicate check is asked. The answers of a round are written, and its
        profiles sent, while the next one is in flight: the relay is not kept waiting for either."""
        seen: set[str] = set()
        by_id: dict[str, PublishOutcome] = {}
        profiled: set[str] = set()
        self._progress = ProgressCount(progress, ids)
        first = min(BATCH, FIRST_ROUND)
        chunks = [ids[:first], *chunked(ids[first:], BATCH)] if ids else []
        plan = await self._plan_chunk(chunks[0], seen, by_id) if chunks else None
        if plan is not None:
            await self._check(plan)
        answered: asyncio.Future[None] | None = None  # the round in flight's events are answered
        next_out: asyncio.Event | None = None  # set once the round after the one in flight is out
        tasks: list[asyncio.Task[None]] = []
        tokens: list[object] = []
        try:
            for n, chunk in enumerate(chunks):
                assert plan is not None
                token = object()
                tokens.append(token)
                round_refs: dict[str, EventRef] = {}
                self.refs.rounds[token] = round_refs
                ready = await self._build_chunk(plan, by_id, round_refs)
                self.sender.save_pending(ready.units)
                plan = await self._plan_chunk(chunks[n + 1], seen, by_id) if n + 1 < len(chunks) else None
                if answered is not None:  # (or its task failed)
                    await asyncio.wait((answered, tasks[-1]), return_when=asyncio.FIRST_COMPLETED)
                for task in [t for t in tasks if t.done()]:
                    tasks.remove(task)
                    task.result()  # a round that failed stops the run
                if plan is not None:
                    # The next round's duplicate check goes before this round's events: asked behind
                    # them, its answer would wait until the relay has stored them all.
                    await self._check(plan)
                answered = asyncio.get_running_loop().create_future()
                after, next_out = next_out, asyncio.Event()
                flow = (answered, next_out)
                tasks.append(
                    asyncio.create_task(self._send_chunk(ready, by_id, profiled, token, chunk, flow))
                )
                await asyncio.sleep(0)  # it hands its events to the pool's sends, which go first
                if after is not None:
                    after.set()  # the round before writes its answers behind them
            if next_out is not None:
                next_out.set()
            for task in tasks:
                await task
        finally:
            for task in tasks:
                if not task.done():
                    task.cancel()
                with contextlib.suppress(BaseException):
                    await task
            for token in tokens:  # a round cancelled before it started has not removed its own
                self.refs.rounds.pop(token, None)
            self.documents.read.clear()
        self._progress = ProgressCount(None, [])
        return [by_id[i] for i in ids]

    async def _plan_chunk(
        self, chunk: Sequence[str], seen: set[str], by_id: dict[str, PublishOutcome]
    ) -> _Plan:
        """A round's tweets loaded, filtered and planned (nothing asked of the relays, nothing built)."""
        self.documents.read.clear()  # each round reads its files once; the plan holds what it needs
        items: list[PlanItem] = []
        authors: dict[str, User] = {}
        retired = {} if self.force else dict(self.lifecycle.retired(chunk))
        for tid in chunk:
            if tid in seen:
                continue
            if tid in retired:
                seen.add(tid)
                newer = retired[tid]
                why = f"edited on X (newest version {newer})" if newer else "deleted on X"
                by_id[tid] = self.note(PublishOutcome(tid, "retired", message=why))
                continue
            doc = await self.documents.load(tid)
            if doc is None:
                by_id[tid] = self.note(PublishOutcome(tid, "error", message="tweet not cached or not found"))
                seen.add(tid)
                continue
            skipped = self.documents.skipped(doc)
            if skipped is not None:
                by_id[tid] = self.note(skipped)
                seen.add(tid)
                continue
            for item in plan_tweet(doc, seen=seen, resolve=self.documents.resolve):
                items.append(item)
                author = item.doc.author()
                if author is not None:
                    authors.setdefault(author.id, author)
        self.records.preload(i.tweet_id for i in items)
        if not self.force:
            gone = self.lifecycle.retired([i.tweet_id for i in items])
            items = [i for i in items if i.tweet_id not in gone]  # a retired dependency stays as it is
        return _Plan(items, authors)

    async def _check(self, plan: _Plan) -> None:
        """The duplicate check of a planned round (not with ``force``)."""
        if not self.force:
            await self.duplicates.check({i.tweet_id: i.author_id for i in plan.items})

    async def _build_chunk(
        self, plan: _Plan, by_id: dict[str, PublishOutcome], round_refs: dict[str, EventRef]
    ) -> _Round:
        """A planned round's events built and signed, level by level (nothing sent)."""
        units: list[Unit] = []
        levels: list[list[Unit]] = []
        for group in dependency_levels(plan.items):
            level: list[Unit] = []
            for k, item in enumerate(group):
                if k % YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # the round in flight: its events out, its OKs read
                try:
                    unit = await self.builder.prepare(item, round_refs)
                except NostrweetError as exc:
                    by_id[item.tweet_id] = self.note(PublishOutcome(item.tweet_id, "error", message=str(exc)))
                    continue
                level.append(unit)
            levels.append(level)
            units.extend(level)
        uploaders, self.builder.uploaders = self.builder.uploaders, set()
        return _Round(levels, units, plan.authors, uploaders)

    async def _send_chunk(
        self,
        ready: _Round,
        by_id: dict[str, PublishOutcome],
        profiled: set[str],
        token: object,
        chunk: Sequence[str],
        flow: tuple[asyncio.Future[None], asyncio.Event],
    ) -> None:
        """Send a round whose records are written, and say so (``flow[0]``) once its events are
        answered; when the next round's have gone out (``flow[1]``), write the answers, note the
        outcomes, and send the authors' profiles and media server lists."""
        answered, next_started = flow
        try:
            sent = await self.sender.send(ready.levels, self._progress)
            answered.set_result(None)
            try:
                await next_started.wait()
            finally:
                self.sender.save_answers(sent)  # even when the run is cancelled: these answers came
            for unit in ready.units:
                by_id[unit.subject_id] = self.note(outcome_of(unit, self.relays, self._accepted_of(unit)))
            if self.publish_profiles:
                authors = [u for i, u in ready.authors.items() if i not in profiled]
                profiled.update(ready.authors)  # at once: the next round's may look before these are sent
                for user in authors:
                    await self._profile_for(user)
            for user_id in sorted(u for u in ready.uploaders if self._blossom_listed.hit(u) is None):
                self._blossom_listed[user_id] = True
                self.note(await identity.publish_blossom_list(self, user_id))
        finally:
            self.refs.rounds.pop(token, None)
        self._progress.advance(chunk)  # the chunk's tweets that had nothing to send

    def note(self, outcome: PublishOutcome) -> PublishOutcome:
        """Keep (until taken) and log an outcome, and tell the webhooks of a tweet published; returns it."""
        self.outcomes.append(outcome)
        events = self.store.events
        if (
            events is not None
            and outcome.what == "tweet"
            and outcome.status == "published"
            and outcome.event_id
        ):
            owner = self.store.tweet_owner(outcome.subject_id)
            if owner is not None:
                relays = {r: "accepted" for r in outcome.accepted}
                relays |= {r: "rejected" for r in outcome.rejected} | {r: "pending" for r in outcome.pending}
                events.tweet_published(owner, outcome.subject_id, [outcome.event_id], relays)
        cap = self.bounds.outcomes
        if cap is not None and len(self.outcomes) > cap:
            del self.outcomes[: len(self.outcomes) - cap]
        extra = {
            "action": "publish",
            "tweet_id": outcome.subject_id if outcome.what == "tweet" else None,
            "event_id": outcome.event_id,
        }
        if outcome.status == "error" or (outcome.status == "failed" and outcome.sent):
            log.log(
                self.failure_log_level,
                "%s %s: %s",
                outcome.what,
                outcome.subject_id,
                outcome.describe(),
                extra=extra,
            )
        else:
            log.debug("%s %s: %s", outcome.what, outcome.subject_id, outcome.describe(), extra=extra)
        return outcome

    def _accepted_of(self, unit: Unit) -> set[str]:
        if unit.record.subject is EventSubject.TWEET:
            return self.records.accepted_relays(unit.subject_id)
        return unit.record.accepted_on()

    async def _profile_for(self, user: User) -> None:
        cached = self.store.newest_profile(user.username)
        outcome = await identity.publish_profile(self, cached if cached is not None else user)
        self.note(outcome)

    def ref_of(self, tweet_id: str) -> EventRef | None:
        """The event a tweet is referenced by (reply ``e``, quote ``q``, repost): from a round in
        progress, else the LRU, else the tweet's best event record in the state; None if it has none."""
        return self.refs.of(tweet_id)

    def own_key(self, event: SignedEvent, tweet_id: str | None = None) -> MirrorKey | None:
        """The mirror key that signed a recorded event, if it is ours (for NIP-42 AUTH): remembered
        from this process, else derived from the author of the tweet ``tweet_id``."""

        def author() -> str | None:
            has = tweet_id is not None and self.store.has_tweet(tweet_id)
            doc = self.store.read_tweet(tweet_id) if has and tweet_id is not None else None
            return doc.data.author_id if doc is not None else None

        return self.builder.own_key(event, author)

    # -- sending ---------------------------------------------------------------------------

    async def deliver_units(self, units: Sequence[Unit]) -> list[PublishOutcome]:
        """Deliver prepared units (profiles, relay lists, outbox re-sends); the outcome of each."""
        await self.sender.deliver([units], self._progress)
        return [outcome_of(u, self.relays, self._accepted_of(u)) for u in units]

    async def resend(self, record: EventRecord, relays: Sequence[str]) -> PublishOutcome:
        """Send a recorded event again to ``relays`` (the outbox's retry)."""
        event = SignedEvent.from_dict(record.event)
        key = self.own_key(event, record.tweet_id)
        unit = Unit(record.tweet_id or record.subject_id, record, event, list(relays), key)
        [outcome] = await self.deliver_units([unit])
        return self.note(outcome)

    async def publish_profile(self, user: User) -> PublishOutcome:
        """Publish the kind 0 of a user's mirror identity when its content changed (see identity)."""
        return self.note(await identity.publish_profile(self, user))

    async def publish_relay_list(self, user_id: str | int) -> PublishOutcome:
        """Publish the kind 10002 of a mirror identity with the configured relays."""
        return self.note(await identity.publish_relay_list(self, str(user_id)))
