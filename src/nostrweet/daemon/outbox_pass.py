"""The daemon's outbox pass, every cycle: one outbox per publisher group, then the deletion pass.

Each distinct set of relays and Blossom servers has its own publisher (``daemon.pipeline``) and so its
own :class:`~nostrweet.publish.outbox.Outbox`; with more than one group, filters, or a handed-off
account, each outbox handles only what its users own (the default group also takes what no watched user
owns), and never the records and unpublished tweets that the filters now skip or whose account is
handed off. The first pass retries every unaccepted event at once, and so does the first pass after a
relay came back up, for that relay. Then the deletion checks and edit retractions (SPEC §10) run through
one :class:`~nostrweet.publish.deletions.Retractor`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping

from nostrweet.cache.layout import EventSubject
from nostrweet.daemon import scheduler
from nostrweet.daemon.config import DaemonConfig
from nostrweet.nostr.event import SignedEvent
from nostrweet.nostr.keys import MirrorKey
from nostrweet.nostr.record import BACKOFF_CAP
from nostrweet.nostr.relays import RelayPool
from nostrweet.publish.deletions import Retractor
from nostrweet.publish.keyring import KeyRing
from nostrweet.publish.outbox import Outbox
from nostrweet.publish.outcome import LruDict
from nostrweet.publish.publisher import Publisher
from nostrweet.shaping.filters import Skip
from nostrweet.state.engine import State
from nostrweet.state.lifecycle import LifecycleRepo
from nostrweet.state.records import RecordRepo
from nostrweet.store import CacheStore
from nostrweet.twitter.api import EP_TWEETS
from nostrweet.twitter.client import TwitterClient
from nostrweet.twitter.models import User
from nostrweet.twitter.ratelimit import RateLimiter

log = logging.getLogger("nostrweet.daemon")

Group = tuple[tuple[str, ...], tuple[str, ...]]
"""A publisher group: its relays and its Blossom servers."""


def handed_off(config: DaemonConfig, name: str) -> bool:
    """The account's person is on Nostr and mirroring stops (``handoff = "stop"``)."""
    override = config.overrides.get(name)
    return override is not None and bool(override.nostr_npub) and not override.handoff_continue


class OutboxPasses:
    """The outbox and deletion passes of the daemon's users (see the module docstring)."""

    def __init__(
        self,
        config: DaemonConfig,
        store: CacheStore,
        state: State,
        *,
        pool: RelayPool,
        client: TwitterClient,
        limiter: RateLimiter,
        lifecycle: LifecycleRepo,
        keys: KeyRing,
        users: Mapping[str, User],
        publisher_for: Callable[[str], Publisher],
        skip_checks: int,
    ) -> None:
        self.config = config
        self.store = store
        self.state = state
        self.pool = pool
        self.client = client
        self.limiter = limiter
        self.lifecycle = lifecycle
        self.keys = keys
        self.users = users
        """The resolved users, by name (the pipeline's, kept current by it)."""
        self.publisher_for = publisher_for
        self.outboxes: dict[Group, Outbox] = {}
        self.skip_checked: LruDict[int, bool] = LruDict(skip_checks)
        """Whether the filters keep a tweet, by id (a capped cache: the outbox asks per due record)."""
        self._lock = asyncio.Lock()
        self._relay_was_up: dict[str, bool] = {}
        self._retractor: Retractor | None = None
        self._next_deletion_check = time.time() + config.deletion_interval

    def _group(self, name: str) -> Group:
        return self.config.relays_for(name), self.config.blossom_for(name)

    def _wanted(self, name: str, tweet_id: int) -> bool:
        """False for a tweet of a handed-off account, or one that the filters skip (its records are not
        re-sent either)."""
        if handed_off(self.config, name):
            return False  # handed off: none of its tweets is published any more
        if self.config.filters.empty:
            return True
        doc = self.store.read_tweet(tweet_id)
        return doc is None or not isinstance(self.config.filters.decide(doc), Skip)

    def _owns(self, group: Group) -> Callable[[EventSubject, int], bool]:
        """Which records and unpublished tweets the outbox of one publisher group handles: those of
        its users; the default group also takes everything no watched user owns."""
        default = (self.config.relays, self.config.blossom_servers)
        by_id = {u.id: n for n, u in self.users.items()}

        def owns(subject: EventSubject, subject_id: int) -> bool:
            if subject is EventSubject.TWEET:
                owner = self.store.tweet_owner(subject_id)
                if owner in self.config.users:
                    wanted = self.skip_checked.hit(subject_id)
                    if wanted is None:
                        wanted = self.skip_checked[subject_id] = self._wanted(owner, subject_id)
                    if not wanted:
                        return False
            else:
                owner = by_id.get(str(subject_id))
            if owner is None or owner not in self.config.users:
                return group == default
            return self._group(owner) == group

        return owns

    async def run(self) -> None:
        """One outbox pass per publisher group (see :mod:`nostrweet.publish.outbox`), then the deletion
        pass.

        The first pass (at startup) retries every unaccepted event at once, whatever its backoff;
        so does the first pass after a relay came back up, for that relay. Otherwise the records'
        per-relay backoff decides.
        """
        async with self._lock:
            status = self.pool.status()
            back_up = [
                url for url, st in status.items() if st.connected and not self._relay_was_up.get(url, False)
            ]
            self._relay_was_up = {url: st.connected for url, st in status.items()}
            groups = {self._group(name): name for name in self.config.users}
            split = (
                len(groups) > 1
                or not self.config.filters.empty
                or any(handed_off(self.config, name) for name in self.config.overrides)
            )
            for group, name in groups.items():
                publisher = self.publisher_for(name)
                owns = self._owns(group) if split else None
                outbox = self.outboxes.get(group)
                first = outbox is None
                if outbox is None:
                    outbox = self.outboxes[group] = Outbox(publisher, owns=owns)
                try:
                    if first:
                        await outbox.run_once(now=time.time() + BACKOFF_CAP + 1)
                        continue
                    for url in back_up:
                        if url in group[0]:
                            log.info("relay %s is up again: re-sending what it has not accepted", url)
                            flush = Outbox(publisher, relays=[url], publish_unrecorded=False, owns=owns)
                            await flush.run_once(now=time.time() + BACKOFF_CAP + 1)
                    await outbox.run_once()
                finally:
                    publisher.take_outcomes()  # the pass's report has them; nothing keeps them
            await self._lifecycle_pass()

    def retry_relay(self, url: str) -> None:
        """The next pass re-sends what ``url`` has not accepted, rejections too (SPEC §8), whatever its
        backoff, as when the relay comes back up."""
        reopened = RecordRepo(self.state).reopen(url, time.time())
        log.info("outbox retry for %s: %d event(s) due now", url, reopened)
        self._relay_was_up[url] = False

    # -- deletions and edits (SPEC §10) ------------------------------------------------------

    def retractor(self) -> Retractor:
        """The deletion checks and edit retractions of the watched users (built once)."""
        if self._retractor is None:
            publisher = self.publisher_for(self.config.users[0])

            def allowance() -> int:
                budget = self.limiter.budget(EP_TWEETS)
                return scheduler.spare_lookups(
                    budget.limit, budget.remaining, budget.reset_epoch, time.time()
                )

            self._retractor = Retractor(
                store=self.store,
                repo=self.lifecycle,
                client=self.client,
                pool=self.pool,
                records_of=publisher.records.for_tweet,
                key_of=self._key_of_event,
                watched=lambda: self.config.users,
                allowance=allowance,
                window=float(self.config.deletion_window),
            )
        return self._retractor

    def _key_of_event(self, event: SignedEvent, tweet_id: str) -> MirrorKey | None:
        """The mirror key that signed a recorded event: from its cached tweet's author, else the key of
        a watched user (a tweet whose file is gone, e.g. after clear-cache)."""
        key = self.publisher_for(self.config.users[0]).own_key(event, tweet_id)
        if key is None:
            for user in self.users.values():
                candidate = self.keys.for_user(user.id)
                if candidate.pubkey_hex == event.pubkey:
                    return candidate
        return key

    async def _lifecycle_pass(self) -> None:
        """Every outbox pass: send the deletion requests not accepted yet; once per deletion interval
        (the first one interval after start), re-check the recent tweets."""
        retractor = self.retractor()
        try:
            if time.time() >= self._next_deletion_check:
                self._next_deletion_check = time.time() + self.config.deletion_interval
                await retractor.check()
            else:
                await retractor.flush()
        except Exception as exc:
            log.warning(
                "deletion check failed: %s: %s", exc.__class__.__name__, exc, extra={"action": "delete"}
            )
