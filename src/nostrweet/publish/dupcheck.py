"""The duplicate check before a tweet's first send (SPEC §4 "Duplicate check"), against the relays.

For the tweets not accepted everywhere yet, each relay is asked (``#r`` with both URL forms,
``authors`` = the tweet's mirror keys, in batches: :mod:`nostrweet.publish.duplicates`); a tweet's
own event that a relay holds is recorded as accepted there, so it is not sent again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence

from nostrweet.cache.layout import EventSubject
from nostrweet.nostr.event import SignedEvent
from nostrweet.nostr.record import EventRecord, apply_answer
from nostrweet.nostr.relays import RelayPool
from nostrweet.publish.building import KeySource
from nostrweet.publish.duplicates import lookup_filter, mirror_pubkeys, pick_own
from nostrweet.publish.plan import R_LOOKUP_BATCH, chunked, needs_lookup
from nostrweet.publish.records import PublishRecords

log = logging.getLogger("nostrweet.publish.publisher")

LOOKUPS_IN_FLIGHT = 4
"""Duplicate-check queries open at once on one relay (relays cap a connection's subscriptions)."""


class DuplicateCheck:
    """Asks the relays which tweets' own events they hold already, and records them as accepted."""

    def __init__(
        self,
        pool: RelayPool,
        records: PublishRecords,
        keys: KeySource,
        relays: Sequence[str],
        lookup_timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pool = pool
        self.records = records
        self.keys = keys
        self.relays = relays
        self.lookup_timeout = lookup_timeout
        self.clock = clock

    async def check(self, tweets: Mapping[str, str | None]) -> None:
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
        """One relay's answer: its queries in flight together (at most :data:`LOOKUPS_IN_FLIGHT`), so a
        round's check costs the relay one wait, not one round trip per query."""
        found: dict[str, SignedEvent] = {}
        todo = [t for t in wanted if relay not in self.records.accepted_relays(t)]
        gate = asyncio.Semaphore(LOOKUPS_IN_FLIGHT)

        async def lookup(chunk: Sequence[str]) -> None:
            async with gate:
                try:
                    events = await self.pool.query(
                        lookup_filter(chunk, wanted), timeout=self.lookup_timeout, relays=[relay]
                    )
                except Exception as exc:
                    log.debug("duplicate check on %s failed: %s", relay, exc)
                    return
            ignored: list[tuple[str, str, str]] = []
            found.update(
                pick_own((e.to_dict() for e in events), {t: wanted[t] for t in chunk}, ignored=ignored)
            )
            for tid, event_id, why in ignored:
                log.debug("%s: ignored event %s for tweet %s: %s", relay, event_id[:12], tid, why)

        await asyncio.gather(*(lookup(chunk) for chunk in chunked(todo, R_LOOKUP_BATCH)))
        return found
