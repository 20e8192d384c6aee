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
:data:`BATCH` (:mod:`.rounds`: plan, duplicate check, build, send, each overlapped with the relays'
work on the round before): the round's records are written with their target relays ``pending`` (one
transaction) before anything is sent, the events are sent level by level (:mod:`.delivery`; a
level's events are all in flight at once), and the answers are written (again one transaction).
An event that has a record is never rebuilt: its recorded event is sent again, so ids stay stable.
Building (:mod:`.building`) loads what an event names into plain mappings first; the duplicate check
is :mod:`.dupcheck`.

Memory (:class:`~nostrweet.publish.outcome.MemoryBounds`): a publisher lives as long as the daemon,
so what it keeps per tweet is capped (the refs: :class:`~nostrweet.publish.building.RefBook`).
``outcomes`` grows until :meth:`Publisher.take_outcomes` (the daemon calls it after every poll and
outbox pass), and never beyond ``bounds.outcomes`` when that is set.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from nostrweet.bridge.context import EventRef
from nostrweet.cache.layout import EventSubject, normalize_username
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
from nostrweet.publish.progress import Progress, ProgressCount
from nostrweet.publish.records import PublishRecords
from nostrweet.publish.rounds import RoundRun
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
        ids = [str(i) for i in tweet_ids]
        self._progress = ProgressCount(progress, ids)
        try:
            return await RoundRun(self, ids, self._progress, BATCH).run()
        finally:
            self.documents.given = {}
            self._progress = ProgressCount(None, [])

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

    def accepted_of(self, unit: Unit) -> set[str]:
        """The relays that hold a unit's tweet (any of its records), or its own record's."""
        if unit.record.subject is EventSubject.TWEET:
            return self.records.accepted_relays(unit.subject_id)
        return unit.record.accepted_on()

    async def announce(self, authors: Sequence[User], uploaders: set[str]) -> None:
        """After a round: the authors' kind 0 (unless profiles are off), then the kind 10063 of those
        who uploaded media, once per publisher."""
        if self.publish_profiles:
            for user in authors:
                await self._profile_for(user)
        for user_id in sorted(u for u in uploaders if self._blossom_listed.hit(u) is None):
            self._blossom_listed[user_id] = True
            self.note(await identity.publish_blossom_list(self, user_id))

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
        return [outcome_of(u, self.relays, self.accepted_of(u)) for u in units]

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
