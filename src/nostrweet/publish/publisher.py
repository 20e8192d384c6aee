"""Publishing orchestration: cached tweets → signed events → relays, with records (SPEC §2, §4).

Interface (the CLI and the daemon call these)::

    publisher = Publisher(store, keys, pool, relays=[...], blossom=[...], http=None, force=False,
                          archiver=None)
    outcome = await publisher.publish_tweet(tweet_id)                 # -> PublishOutcome
    outcomes = await publisher.publish_tweets(ids, progress=cb)       # -> list[PublishOutcome]
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
level's events go out in parts of :data:`PROGRESS_STEP`, so the count moves while they are sent.

A tweet is published as: its dependencies first (parent, quoted, retweeted original; each under its
own author's identity, 3 levels at most, each id once per call), then itself. Tweets go in rounds of
:data:`BATCH`: the round's records are written with their target relays ``pending`` (one transaction for the
round) before anything is sent, the events are sent level by level (:func:`plan.dependency_levels`;
a level's events are all in flight at once), and the answers are written (again one transaction).
An event that has a record is never rebuilt: its recorded event is sent again, so ids stay stable.

Memory (:class:`~nostrweet.publish.outcome.MemoryBounds`): a publisher lives as long as the daemon,
so what it keeps per tweet is capped. The refs a reply, quote or repost is built with are looked up
in the current round first, then in a small LRU, then in the tweet's event record in the state (the
record a re-send would use), so a cache miss reads the record and never builds a different event.
``outcomes`` grows until :meth:`Publisher.take_outcomes` (the daemon calls it after every poll and
outbox pass), and never beyond ``bounds.outcomes`` when that is set.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Protocol

import httpx

from nostrweet.archive.archiver import Archiver
from nostrweet.bridge.events import EventRef, build_tweet_event, sub_document
from nostrweet.cache.layout import EventSubject, normalize_username
from nostrweet.errors import NostrweetError
from nostrweet.nostr.event import SignedEvent, sign_event
from nostrweet.nostr.keys import MirrorKey
from nostrweet.nostr.record import EventRecord, apply_answer, best_record
from nostrweet.nostr.relays import RelayPool
from nostrweet.publish import identity
from nostrweet.publish.building import KeySource, RefBook, load_context, ref_of_event
from nostrweet.publish.duplicates import lookup_filter, mirror_pubkeys, pick_own
from nostrweet.publish.media import MediaUploader
from nostrweet.publish.outcome import (
    LruDict,
    MemoryBounds,
    PublishOutcome,
    PublishSummary,
    Unit,
    outcome_of,
)
from nostrweet.publish.plan import (
    R_LOOKUP_BATCH,
    PlanItem,
    chunked,
    dependency_levels,
    needs_lookup,
    plan_tweet,
    send_targets,
)
from nostrweet.publish.records import PublishRecords
from nostrweet.shaping.filters import FilterBook, Skip
from nostrweet.state.skips import SkippedTweets
from nostrweet.store import CacheStore
from nostrweet.twitter.models import TweetDocument, User

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
BATCH = 250
"""Requested tweets handled per round of lookup, build and send (one transaction before sending, one after)."""
IN_FLIGHT = 8
"""Events awaiting their OK at once. Measured (docs/PERFORMANCE.md, B2): 8 is the fastest against both
local relays; 64 and 256 are slower, because each nostr-sdk send in flight is polled from Python."""


PROGRESS_STEP = 20
"""With a progress bar, a level of independent events is sent in parts of this many, so the bar moves
while they go out (without one, the whole level is in flight at once)."""


class _ProgressCount:
    """Reports ``progress(done, total)``: the total at once, then each requested tweet as it is done."""

    def __init__(self, progress: Progress | None, ids: Sequence[str]) -> None:
        self.progress = progress
        self.wanted = set(ids)
        self.total = len(ids)
        self.done: set[str] = set()
        if progress is not None:
            progress(0, self.total)

    def split(self, levels: Sequence[Sequence[Unit]]) -> Iterator[Sequence[Unit]]:
        """The levels in order, each cut into parts of PROGRESS_STEP when progress is reported."""
        for level in levels:
            if self.progress is None:
                yield level
            else:
                yield from (level[i : i + PROGRESS_STEP] for i in range(0, len(level), PROGRESS_STEP))

    def advance(self, tweet_ids: Iterable[str]) -> None:
        """Count these tweets as done (once each; ids not requested are ignored)."""
        if self.progress is None:
            return
        new = self.wanted.intersection(tweet_ids) - self.done
        if new:
            self.done |= new
            self.progress(len(self.done), self.total)


class RetiredTweets(Protocol):
    """Which tweets X deleted or an edit replaced (``state.lifecycle.LifecycleRepo``)."""

    def retired(self, tweet_ids: Iterable[str | int]) -> Mapping[str, str | None]:
        """Of ``tweet_ids``, those retired: id -> the newest version's id (an edit), or None (deleted)."""
        ...


class _NoneRetired:
    def retired(self, tweet_ids: Iterable[str | int]) -> Mapping[str, str | None]:
        return {}


class SkipLog(Protocol):
    """Where skipped tweets are recorded (the state's ``skipped_tweets``; SPEC §12)."""

    def record_skip(self, tweet_id: str, rule: str) -> None: ...


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
        self.lifecycle: RetiredTweets = _NoneRetired()
        """Tweets deleted or replaced on X: never published again, ``force`` aside (SPEC §10)."""
        self.media = MediaUploader(store, self.blossom, http, clock=clock, cache_size=bounds.media_names)
        self.outcomes: list[PublishOutcome] = []
        self.refs = RefBook(self.records, lambda ids: self.lifecycle.retired(ids), cap=bounds.refs)
        """Where the events tweets are referenced by are found (rounds, LRU, then the state)."""
        self._uploaders: set[str] = set()  # authors with media uploaded in the current round
        self._blossom_listed: LruDict[str, bool] = LruDict(bounds.listed)
        self._signers: LruDict[str, MirrorKey] = LruDict(bounds.signers)
        self._given: Mapping[str, TweetDocument] = {}  # documents handed to publish_tweets
        self._read: dict[str, TweetDocument] = {}  # documents read from the cache in this round
        self._progress = _ProgressCount(None, [])

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
        self._given = documents or {}
        try:
            return await self._publish_tweets([str(i) for i in tweet_ids], progress)
        finally:
            self._given = {}

    async def _publish_tweets(self, ids: list[str], progress: Progress | None) -> list[PublishOutcome]:
        seen: set[str] = set()
        by_id: dict[str, PublishOutcome] = {}
        profiled: set[str] = set()
        self._progress = _ProgressCount(progress, ids)
        for chunk in chunked(ids, BATCH):
            round_refs: dict[str, EventRef] = {}
            token = object()
            self.refs.rounds[token] = round_refs
            try:
                await self._publish_chunk(chunk, seen, by_id, profiled, round_refs)
            finally:
                del self.refs.rounds[token]
                self._read.clear()
            self._progress.advance(chunk)  # the chunk's tweets that had nothing to send
        self._progress = _ProgressCount(None, [])
        return [by_id[i] for i in ids]

    def _cached(self, tweet_id: str) -> TweetDocument | None:
        """A tweet's document: one handed in or already read for this round, else read from the cache
        (once: it is kept for the round)."""
        doc = self._given.get(tweet_id) or self._read.get(tweet_id)
        if doc is None and self.store.has_tweet(tweet_id):
            doc = self.store.read_tweet(tweet_id)
            if doc is not None:
                self._read[tweet_id] = doc
        return doc

    async def _load(self, tweet_id: str) -> TweetDocument | None:
        doc = self._cached(tweet_id)
        if doc is None and self.archiver is not None and not self.store.is_not_found(tweet_id):
            doc = await self.archiver.fetch_tweet(tweet_id)
        return doc

    def _resolve(self, parent: TweetDocument, tweet_id: str) -> TweetDocument | None:
        own = self._cached(tweet_id)
        doc = own if own is not None else sub_document(parent, tweet_id)
        return doc if doc is not None and self.filters.keeps_dependency(parent, doc) else None

    def _skipped(self, doc: TweetDocument) -> PublishOutcome | None:
        """The filters' one decision point (SPEC §12): a skipped tweet's outcome, recorded; else None."""
        decision = self.filters.decide(doc)
        if not isinstance(decision, Skip):
            return None
        self.skip_log.record_skip(doc.data.id, decision.rule)
        log.info(
            "tweet %s skipped by %s",
            doc.data.id,
            decision.describe(),
            extra={"tweet_id": doc.data.id, "action": "filter"},
        )
        return PublishOutcome(doc.data.id, "skipped", message=decision.rule)

    async def _publish_chunk(
        self,
        chunk: Sequence[str],
        seen: set[str],
        by_id: dict[str, PublishOutcome],
        profiled: set[str],
        round_refs: dict[str, EventRef],
    ) -> None:
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
            doc = await self._load(tid)
            if doc is None:
                by_id[tid] = self.note(PublishOutcome(tid, "error", message="tweet not cached or not found"))
                seen.add(tid)
                continue
            skipped = self._skipped(doc)
            if skipped is not None:
                by_id[tid] = self.note(skipped)
                seen.add(tid)
                continue
            for item in plan_tweet(doc, seen=seen, resolve=self._resolve):
                items.append(item)
                author = item.doc.author()
                if author is not None:
                    authors.setdefault(author.id, author)
        self.records.preload(i.tweet_id for i in items)
        if not self.force:
            gone = self.lifecycle.retired([i.tweet_id for i in items])
            items = [i for i in items if i.tweet_id not in gone]  # a retired dependency stays as it is
            await self._duplicate_check({i.tweet_id: i.author_id for i in items})
        units: list[Unit] = []
        levels: list[list[Unit]] = []
        for group in dependency_levels(items):
            level: list[Unit] = []
            for item in group:
                try:
                    unit = await self._prepare(item, round_refs)
                except NostrweetError as exc:
                    by_id[item.tweet_id] = self.note(PublishOutcome(item.tweet_id, "error", message=str(exc)))
                    continue
                level.append(unit)
            levels.append(level)
            units.extend(level)
        await self._deliver(levels)
        for unit in units:
            by_id[unit.subject_id] = self.note(outcome_of(unit, self.relays, self._accepted_of(unit)))
        if self.publish_profiles:
            for user_id, user in authors.items():
                if user_id not in profiled:
                    profiled.add(user_id)
                    await self._profile_for(user)
        uploaders, self._uploaders = self._uploaders, set()
        for user_id in sorted(u for u in uploaders if self._blossom_listed.hit(u) is None):
            self._blossom_listed[user_id] = True
            self.note(await identity.publish_blossom_list(self, user_id))

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

    async def _prepare(self, item: PlanItem, round_refs: dict[str, EventRef]) -> Unit:
        tid = item.tweet_id
        records = self.records.for_tweet(tid)
        best = best_record(records)
        if best is not None:
            event = SignedEvent.from_dict(best.event)
            record = best
        else:
            event = await self._build(item)
            record = self.records.get_or_create(event.to_dict(), EventSubject.TWEET, tid, tweet_id=tid)
        self.refs.remember(tid, ref_of_event(event), round_refs)
        accepted = self.records.accepted_relays(tid)
        rejected = {url for url, st in record.relays.items() if st.status == "rejected"}
        targets = send_targets(self.relays, accepted, rejected, force=self.force)
        return Unit(tid, record, event, targets, self._key_of(item.author_id, event))

    def ref_of(self, tweet_id: str) -> EventRef | None:
        """The event a tweet is referenced by (reply ``e``, quote ``q``, repost): from a round in
        progress, else the LRU, else the tweet's best event record in the state; None if it has none."""
        return self.refs.of(tweet_id)

    def own_key(self, event: SignedEvent, tweet_id: str | None = None) -> MirrorKey | None:
        """The mirror key that signed a recorded event, if it is ours (for NIP-42 AUTH): remembered
        from this process, else derived from the author of the cached tweet ``tweet_id``."""
        key = self._signers.hit(event.pubkey)
        if key is None and tweet_id is not None and self.store.has_tweet(tweet_id):
            doc = self.store.read_tweet(tweet_id)
            author = doc.data.author_id if doc is not None else None
            if author is not None:
                candidate = self.keys.for_user(author)
                if candidate.pubkey_hex == event.pubkey:
                    key = self._signers[event.pubkey] = candidate
        return key

    def _key_of(self, user_id: str | None, event: SignedEvent) -> MirrorKey | None:
        if user_id is None:
            return None
        key = self.keys.for_user(user_id)
        self._signers[key.pubkey_hex] = key
        return key if key.pubkey_hex == event.pubkey else None

    async def _build(self, item: PlanItem) -> SignedEvent:
        author = item.author_id
        if author is None:
            raise NostrweetError(f"tweet {item.tweet_id} has no author_id")
        key = self.keys.for_user(author)
        media = await self.media.links_for(item.doc, key)
        if media.uploaded_any:
            self._uploaders.add(author)
        ctx = load_context(
            item.doc, self.keys, self.refs, media.links, self.relays[0] if self.relays else None
        )
        return sign_event(build_tweet_event(item.doc, ctx), key)

    # -- duplicate check -------------------------------------------------------------------

    async def _duplicate_check(self, tweets: Mapping[str, str | None]) -> None:
        """Ask the relays about tweets (id → author id) not accepted everywhere (:mod:`.duplicates`:
        ``#r``, ``authors``, batched); record the tweets' own events they hold as accepted there."""
        wanted: dict[str, tuple[str, ...]] = {}
        pubkeys: dict[str, tuple[str, ...]] = {}
        for tid, author in tweets.items():
            if author is None or not needs_lookup(self.relays, self.records.accepted_relays(tid)):
                continue
            if author not in pubkeys:
                pubkeys[author] = mirror_pubkeys(self.keys, author)
            wanted[tid] = pubkeys[author]
        if not wanted or not self.relays:
            return
        results = await asyncio.gather(*(self._lookup_relay(relay, wanted) for relay in self.relays))
        now = self.clock()
        changed: dict[str, EventRecord] = {}
        already: set[str] = set()
        for relay, found in zip(self.relays, results, strict=True):
            for tid, event in found.items():
                record = self.records.get_or_create(event.to_dict(), EventSubject.TWEET, tid, tweet_id=tid)
                if record.relays.get(relay) is None or record.relays[relay].status != "accepted":
                    record.relays[relay] = apply_answer(
                        record.relays.get(relay), "accepted", "found on the relay by its r tag", now
                    )
                    changed[record.key] = record
                    log.debug(
                        "tweet %s is already on %s (event %s)",
                        tid,
                        relay,
                        event.id[:12],
                        extra={"tweet_id": tid, "relay": relay, "action": "duplicate_check"},
                    )
                    already.add(tid)
        if already:
            log.info("%d tweet(s) already on relays", len(already))
        self.records.save_many(changed.values())

    async def _lookup_relay(
        self, relay: str, wanted: Mapping[str, tuple[str, ...]]
    ) -> dict[str, SignedEvent]:
        found: dict[str, SignedEvent] = {}
        todo = [t for t in wanted if relay not in self.records.accepted_relays(t)]
        for chunk in chunked(todo, R_LOOKUP_BATCH):
            try:
                events = await self.pool.query(
                    lookup_filter(chunk, wanted), timeout=self.lookup_timeout, relays=[relay]
                )
            except Exception as exc:
                log.debug("duplicate check on %s failed: %s", relay, exc)
                return found
            ignored: list[tuple[str, str, str]] = []
            found.update(
                pick_own((e.to_dict() for e in events), {t: wanted[t] for t in chunk}, ignored=ignored)
            )
            for tid, event_id, why in ignored:
                log.debug("%s: ignored event %s for tweet %s: %s", relay, event_id[:12], tid, why)
        return found

    # -- sending ---------------------------------------------------------------------------

    async def _deliver(self, levels: Sequence[Sequence[Unit]]) -> None:
        """Write every unit's record with its targets pending (one transaction), send level after level
        with all of a level's events in flight at once, then write the answers (one transaction)."""
        units = [u for level in levels for u in level]
        fresh = [u.record for u in units if u.record.ensure_relays(u.targets) or u.record.stored_name is None]
        self.records.save_many(fresh)
        sent: list[Unit] = []
        for level in self._progress.split(levels):
            sendable = [u for u in level if u.targets]
            if not sendable:
                continue
            auth_keys = {u.auth_key.pubkey_hex: u.auth_key for u in sendable if u.auth_key is not None}
            answers = await self.pool.publish_many(
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
            self._progress.advance(u.subject_id for u in level if u.record.subject is EventSubject.TWEET)
        self.records.save_many(u.record for u in sent)

    async def deliver_units(self, units: Sequence[Unit]) -> list[PublishOutcome]:
        """Deliver prepared units (profiles, relay lists, outbox re-sends); the outcome of each."""
        await self._deliver([units])
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
