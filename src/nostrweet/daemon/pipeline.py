"""The daemon's real per-user work, wired from the same parts the CLI commands use.

Per poll of a user: resolve it (cached profile first, once per process), find where it resumes from
(:mod:`nostrweet.daemon.state`, a row of the state database), fetch and cache every new tweet through the
:class:`~nostrweet.archive.archiver.Archiver` (``since_id``, following ``next_token`` to the end;
enrichment, media, referenced profiles), then publish the new tweets oldest first through the
:class:`~nostrweet.publish.publisher.Publisher` (parents before replies, originals before reposts), and
last move the user's watermark. The outbox pass (:mod:`nostrweet.daemon.outbox_pass`) re-sends what
some relay has not accepted yet.

Per-user overrides (``[users.<name>]``): a user with its own relays or Blossom servers gets its own
publisher over the shared relay pool, so its events go to those relays; ``key_file`` replaces the
derived key of that user's id. Filters (``[filters]``, ``[users.<name>.filters]``, SPEC §12) are
applied by the publisher; a skipped tweet stays cached, and the outbox leaves alone the records and
unpublished tweets that the filters now skip.

Memory over months: the publishers and outboxes live as long as the process, so everything they
keep per tweet is capped by :class:`~nostrweet.publish.outcome.MemoryBounds` (``bounds``); the
outcomes a poll or an outbox pass produced are taken (and dropped) as soon as it ends.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from nostrweet.archive.archiver import Archiver
from nostrweet.cache.layout import normalize_username
from nostrweet.daemon.config import DaemonConfig
from nostrweet.daemon.outbox_pass import OutboxPasses
from nostrweet.daemon.ports import PollResult
from nostrweet.daemon.state import (
    HeldStates,
    UserState,
    UserStates,
    advanced,
    first_run_state,
    state_of_row,
)
from nostrweet.nostr.keys import KeyDeriver
from nostrweet.nostr.relays import RelayPool
from nostrweet.publish.deletions import Retractor
from nostrweet.publish.handoff import ensure_handoff
from nostrweet.publish.keyring import KeyRing, cached_user_id
from nostrweet.publish.outcome import MemoryBounds
from nostrweet.publish.publisher import Publisher
from nostrweet.settings import GlobalOptions
from nostrweet.state.budgets import SharedBudgets
from nostrweet.state.engine import State
from nostrweet.state.lifecycle import LifecycleRepo
from nostrweet.state.users import UserRepo, UserRow
from nostrweet.store import CacheStore
from nostrweet.twitter.api import EP_TIMELINE
from nostrweet.twitter.client import TwitterClient
from nostrweet.twitter.models import User
from nostrweet.twitter.ratelimit import RateLimiter

log = logging.getLogger("nostrweet.daemon")

DAEMON_BOUNDS = MemoryBounds(outcomes=1000)
"""The daemon's caps: the defaults, and outcomes capped too (they are taken after every poll)."""


@dataclass(frozen=True)
class StartupLine:
    """One user's line of the startup summary."""

    username: str
    user_id: str | None
    npub: str | None
    resumes_from: str
    relays: tuple[str, ...]


class DaemonPipeline:
    """Implements :class:`nostrweet.daemon.ports.Pipeline` over the real parts."""

    def __init__(
        self,
        options: GlobalOptions,
        config: DaemonConfig,
        *,
        keys: KeyDeriver | None = None,
        client: TwitterClient | None = None,
        pool: RelayPool | None = None,
        bounds: MemoryBounds = DAEMON_BOUNDS,
        state: State | None = None,
    ) -> None:
        self.options = options
        self.bounds = bounds
        self.config = config
        # one state for the records, the users, the lifecycle and the rest: the one given (the service
        # opens it), else the store opens it (imported once from an older layout before the first poll)
        self.store = CacheStore(options.data_dir, state=state, state_url=options.state_url)
        self.state: State = self.store.state
        self.states = UserStates(UserRepo(self.state))
        self.held = HeldStates(self.states)  # a steady poll neither reads nor rewrites its user's row
        self.keys = KeyRing(
            keys or KeyDeriver(options.require_mnemonic(), options.key_derivation),
            {name: o.key_file for name, o in config.overrides.items() if o.key_file is not None},
            lambda name: cached_user_id(self.store, name),
        )
        caps: dict[str, tuple[int, float]] = {}
        if config.requests_per_window and config.window_seconds:
            caps[EP_TIMELINE] = (config.requests_per_window, float(config.window_seconds))
        self.limiter = RateLimiter(
            low_fraction=config.low_budget_fraction, max_wait=config.max_429_wait, caps=caps
        )
        self.client = client or TwitterClient(
            options.twitter_api_url,
            options.require_bearer_token(),
            limiter=self.limiter,
            max_429_wait=config.max_429_wait,
            page_size=config.max_tweets_per_poll,
        )
        self.limiter = self.client.limiter
        if self.state.is_postgres:  # several instances: the X budgets are the state's, shared by all
            self.limiter.shared = SharedBudgets(self.state)
        self.pool = pool or RelayPool(config.all_relays())
        self._publishers: dict[tuple[tuple[str, ...], tuple[str, ...]], Publisher] = {}
        self._users: dict[str, User] = {}
        self._announced: set[str] = set()
        self.lifecycle = LifecycleRepo(self.state)
        self.outbox = OutboxPasses(
            config,
            self.store,
            self.state,
            pool=self.pool,
            client=self.client,
            limiter=self.limiter,
            lifecycle=self.lifecycle,
            keys=self.keys,
            users=self._users,
            publisher_for=self.publisher_for,
            skip_checks=bounds.skip_checks,
        )
        """The outbox and deletion passes of every cycle."""
        self.backfills: dict[str, int] = {}  # users added through the admin API with their own backfill
        self._frozen = False  # settle_for_the_loop() was called

    # -- set-up ----------------------------------------------------------------------------

    async def start(self, *, resolve_timeout: float = 20.0) -> list[StartupLine]:
        """Connect the relays (dead ones are retried in the background) and resolve every user once.

        Users with a cached profile resolve without a request. The others are looked up on the API
        (at most ``max_concurrent`` at once) for up to ``resolve_timeout`` seconds; whoever is left, or
        fails, is resolved by its first poll instead (and backs off if that fails too). On a shared
        PostgreSQL state only the instance that polls a user looks it up, at its first poll.
        """
        await self.pool.start()
        gate = asyncio.Semaphore(self.config.max_concurrent)

        async def resolve(name: str) -> None:
            async with gate:
                try:
                    await self._resolve(name)
                except Exception as exc:
                    log.warning(
                        "@%s: cannot resolve yet (%s); its polls will retry",
                        name,
                        exc,
                        extra={"user": name, "action": "resolve"},
                    )

        cached = [n for n in self.config.users if self.store.newest_profile_raw(n) is not None]
        for name in cached:
            await resolve(name)
        # Several instances (PostgreSQL): a user is looked up by the instance that polls it, at its first
        # poll, so the lookups of all instances together stay one per user.
        uncached = [] if self.state.is_postgres else [n for n in self.config.users if n not in cached]
        others = [asyncio.create_task(resolve(n)) for n in uncached]
        if others:
            _done, pending = await asyncio.wait(others, timeout=resolve_timeout)
            for task in pending:
                task.cancel()
        rows = await asyncio.to_thread(self.states.repo.load_all)
        # the first cycle announces every user: their kind 0 and 10002 records, read now in one go
        groups: dict[Publisher, list[str]] = {}
        for name, user in self._users.items():
            groups.setdefault(self.publisher_for(name), []).append(user.id)
        for publisher, ids in groups.items():
            await publisher.records.preload_users(ids)
        return [self._startup_line(name, self._users.get(name), rows.get(name)) for name in self.config.users]

    def settle_for_the_loop(self) -> None:
        """Once start-up is done: what it built and keeps (the archive index, modules, connections) leaves
        the cyclic garbage collector's full passes (``gc.freeze``). They live as long as the process, and
        walking them again and again held the loop ~50-300 ms each time, every few seconds of polling.
        ``aclose`` thaws them."""
        gc.collect()
        gc.freeze()
        self._frozen = True

    def _startup_line(self, name: str, user: User | None, row: UserRow | None) -> StartupLine:
        newest = self.store.newest_tweet_id(name)
        state = state_of_row(row) if row is not None else None
        if state is not None and not state.backfill_done:
            resumes = f"backfill {state.backfill} (interrupted, completing)"
        elif state is not None and state.since_id:
            resumes = f"since id {state.since_id}"
        elif newest is not None:
            resumes = f"newest cached id {newest}"
        else:
            resumes = f"backfill {self.config.backfill}"
        npub = self.keys.for_user(user.id).npub if user is not None else None
        return StartupLine(name, user.id if user else None, npub, resumes, self.config.relays_for(name))

    async def _resolve(self, name: str) -> User:
        found = self._users.get(name)
        if found is not None:
            return found
        user = await Archiver(self.store, self.client).resolve_user(name)
        self.keys.bind(name, user.id)
        self._users[name] = user
        return user

    def publisher_for(self, name: str) -> Publisher:
        """The publisher of a user's events (one per distinct relay and Blossom set)."""
        relays, blossom = self.config.relays_for(name), self.config.blossom_for(name)
        key = (relays, blossom)
        pub = self._publishers.get(key)
        if pub is None:
            pub = Publisher(
                self.store,
                self.keys,
                self.pool,
                relays=list(relays),
                blossom=list(blossom),
                bounds=self.bounds,
                filters=self.config.filters,
            )
            pub.nip05_domain = self.config.nip05_domain
            pub.media.optimize = self.options.config.media_settings()
            pub.lifecycle = self.lifecycle
            pub.handoff_npubs = {n: o.nostr_npub for n, o in self.config.overrides.items() if o.nostr_npub}
            self._publishers[key] = pub
        return pub

    # -- one poll --------------------------------------------------------------------------

    async def _first_run(self, name: str, user: User) -> UserState:
        """Find the backfill target (the N newest ids now) and persist it before caching anything."""
        want = self.backfills.get(name, self.config.backfill)
        ids: list[int] = []
        token: str | None = None
        while True:
            page = await self.client.user_timeline(
                user.id, max_results=max(5, min(100, max(want, 1) - len(ids))), pagination_token=token
            )
            ids.extend(int(t.value.id) for t in page.tweets)
            if len(ids) >= max(want, 1) or not page.next_token or not page.tweets:
                break
            token = page.next_token
        state = first_run_state(user.id, ids, want)
        await self.held.save(name, state)
        log.info("@%s: first run, backfilling the %d newest tweets", name, min(want, len(ids)))
        return state

    async def poll_user(self, username: str) -> PollResult:
        """Fetch, cache and publish a user's new tweets; move its watermark. Raises on failure."""
        name = normalize_username(username)
        polling = self.publisher_for(name).polling  # the outbox leaves this user's tweets to the poll
        polling.add(name)
        try:
            return await self._poll_user(name)
        finally:
            polling.discard(name)

    async def _poll_user(self, name: str) -> PollResult:
        user = await self._resolve(name)
        override = self.config.overrides.get(name)
        if override is not None and override.nostr_npub:
            publisher = self.publisher_for(name)
            await ensure_handoff(
                publisher, self.lifecycle, user, override.nostr_npub, continues=override.handoff_continue
            )
            if not override.handoff_continue:
                return PollResult()  # the real person is on Nostr: nothing more is mirrored
        state = await self.held.load(name)
        if state is None:
            newest = self.store.newest_tweet_id(name)
            if newest is not None:
                state = UserState(user_id=user.id, since_id=str(newest))
            else:
                state = await self._first_run(name, user)
        archiver = Archiver(self.store, self.client)
        result = await archiver.archive_timeline(name, count=None, since_id=state.since_id, user=user)
        new_ids = sorted({int(t) for t in result.new})
        publisher = self.publisher_for(name)
        try:
            # cached by an earlier poll that was cut short before publishing them
            publisher.records.preload(result.skipped)
            unpublished = {int(t) for t in result.skipped if not publisher.records.for_tweet(t)}
            if name not in self._announced:
                await self._announce(name, user, publisher)
            posted = 0
            to_publish = [str(t) for t in sorted(unpublished.union(new_ids))]
            if to_publish:
                # the documents this poll wrote go over in memory; only older ones are read
                outcomes = await publisher.publish_tweets(to_publish, documents=result.documents)
                posted = sum(1 for o in outcomes if o.status == "published")
                await self.retractor().after_publish(to_publish)
        finally:
            publisher.take_outcomes()  # logged when noted; the poll's result is counted above
        # the tweets' files and rows are written: only now may the watermark move
        await self.held.save(name, advanced(state, self.store.newest_tweet_id(name)))
        return PollResult(new_tweets=len(new_ids), posted=posted)

    def forget(self, names: Iterable[str]) -> None:
        """Read these users' rows again at their next poll: they were taken or handed back (another
        instance may have moved their watermark meanwhile)."""
        self.held.forget(names)

    async def _announce(self, name: str, user: User, publisher: Publisher) -> None:
        """Once per process and user: kind 0 (if changed) and the relay list."""
        try:
            # read in a worker thread: a file read can wait on a busy disk, and 1,000 users announce at once
            cached = await asyncio.to_thread(self.store.newest_profile, name)
            await publisher.publish_profile(cached or user)
            await publisher.publish_relay_list(user.id)
        except Exception as exc:
            log.warning("@%s: profile or relay list not published: %s", name, exc)
            return
        self._announced.add(name)

    # -- outbox, deletions and edits (SPEC §10) -----------------------------------------------

    async def run_outbox(self) -> None:
        """One outbox pass per publisher group, then the deletion pass (``daemon.outbox_pass``)."""
        await self.outbox.run()

    def retractor(self) -> Retractor:
        """The deletion checks and edit retractions of the watched users (built once)."""
        return self.outbox.retractor()

    # -- for the HTTP server (daemon/control.py) -------------------------------------------

    def set_backfill(self, name: str, backfill: int) -> None:
        """The backfill of a user's first run, when it is not ``--backfill``."""
        self.backfills[name] = backfill

    def retry_relay(self, url: str) -> None:
        """The next outbox pass re-sends what ``url`` has not accepted, rejections too (SPEC §8), whatever
        its backoff, as when the relay comes back up."""
        self.outbox.retry_relay(url)

    def user_id(self, name: str) -> str | None:
        """A watched user's numeric id, once resolved."""
        user = self._users.get(name)
        return user.id if user is not None else None

    def tweet_count(self, name: str | None = None) -> int:
        """Tweets in the archive: all of them, or one user's."""
        return self.store.tweet_count(name)

    # -- views for the stats ---------------------------------------------------------------

    def budgets(self) -> Mapping[str, Mapping[str, int | float | None]]:
        """The X API budget per endpoint."""
        return self.limiter.snapshot()

    def relay_status(self) -> Mapping[str, Mapping[str, Any]]:
        """Per relay: connected and counters."""
        return {url: msgspec.structs.asdict(s) for url, s in self.pool.status().items()}

    async def aclose(self) -> None:
        """Close the publishers, the relay pool and the X client."""
        for publisher in self._publishers.values():
            try:
                await publisher.aclose()
            except Exception as exc:
                log.debug("closing a publisher: %s", exc)
        await self.pool.close()
        await self.client.aclose()
        self.store.close()  # the state too, when the store opened it
        if self._frozen:
            self._frozen = False
            gc.unfreeze()


def summary_lines(lines: Sequence[StartupLine], relays: Sequence[str]) -> list[str]:
    """The startup summary as log lines (no secret: npubs are public)."""
    out = [f"watching {len(lines)} user(s), relays: {', '.join(relays)}"]
    for line in lines:
        ident = f"id {line.user_id}, {line.npub}" if line.user_id else "not resolved yet"
        extra = f", relays: {', '.join(line.relays)}" if tuple(line.relays) != tuple(relays) else ""
        out.append(f"  @{line.username} ({ident}) resumes from: {line.resumes_from}{extra}")
    return out
