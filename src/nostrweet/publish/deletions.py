"""Deletions and edits on X, mirrored as NIP-09 deletion requests (SPEC §10).

:class:`Retractor` does the work; the daemon calls it:

- :meth:`Retractor.check`: re-checks the mirrored tweets younger than the deletion window in lookups of
  up to 100 ids (as many as ``allowance()`` grants, least recently checked first). A tweet X answers
  with a Not Found of its own (:func:`~nostrweet.bridge.lifecycle.classify_lookup`) is deleted: each of
  its events gets a kind 5, and so does each watched account's repost of it. A tweet that comes back as
  an old version of an edit whose newest version is mirrored is superseded.
- :meth:`Retractor.after_publish`: a tweet just published that is the newest version of an edit
  supersedes the mirrored older versions: each of their events gets a kind 5 that names the new event.
- :meth:`Retractor.flush`: sends the kind 5 events some relay has not accepted yet.

Every kind 5 is signed by the identity that signed its target, kept in the state before it is sent
(one per target, so a restart sends the same event), and the tweet is marked retired there, so nothing
publishes it again. The event records are read through ``records_of`` only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from nostrweet.bridge.lifecycle import (
    Fate,
    build_retraction,
    classify_lookup,
    created_at_of_id,
    deletion_reason,
    edit_reason,
    newest_version,
    superseded_versions,
)
from nostrweet.bridge.tags import tweet_url
from nostrweet.cache.layout import normalize_username
from nostrweet.nostr.event import SignedEvent, nevent_of, sign_event
from nostrweet.nostr.keys import MirrorKey
from nostrweet.nostr.record import EventRecord, best_record
from nostrweet.nostr.relays import RelayPool
from nostrweet.publish.outcome import LruDict
from nostrweet.state.lifecycle import DELETED, SUPERSEDED, LifecycleRepo, Retraction, TweetFate
from nostrweet.store import CacheStore
from nostrweet.twitter.api import BATCH
from nostrweet.twitter.client import TwitterClient

log = logging.getLogger("nostrweet.lifecycle")


def _retweeted(raw: dict[str, Any]) -> str | None:
    for ref in raw.get("referenced_tweets") or []:
        if isinstance(ref, dict) and ref.get("type") == "retweeted" and ref.get("id"):
            return str(ref["id"])
    return None


class Retractor:
    """Deletion checks and edit retractions for the watched accounts."""

    def __init__(
        self,
        *,
        store: CacheStore,
        repo: LifecycleRepo,
        client: TwitterClient,
        pool: RelayPool,
        records_of: Callable[[str], Sequence[EventRecord]],
        key_of: Callable[[SignedEvent, str], MirrorKey | None],
        watched: Callable[[], Sequence[str]],
        allowance: Callable[[], int],
        window: float,
        clock: Callable[[], float] = time.time,
        tracked: int = 100_000,
    ) -> None:
        self.store = store
        self.repo = repo
        self.client = client
        self.pool = pool
        self.records_of = records_of
        self.key_of = key_of
        self.watched = watched
        self.allowance = allowance
        self.window = window
        self.clock = clock
        self._checked: LruDict[str, float] = LruDict(tracked)
        self._retweet_of: LruDict[int, str] = LruDict(tracked)  # watched tweet -> original ("" if none)
        self.lookups = 0
        """Lookup requests sent by this retractor (tests and stats)."""

    # -- which tweets -----------------------------------------------------------------------

    def _original_of(self, tweet_id: int) -> str | None:
        found = self._retweet_of.hit(tweet_id)
        if found is None:
            raw = (self.store.read_tweet_raw(tweet_id) or {}).get("data") or {}
            found = self._retweet_of[tweet_id] = _retweeted(raw) or ""
        return found or None

    def _recent(self, now: float) -> tuple[list[str], dict[str, list[str]]]:
        """The watched accounts' recent tweets and the originals they repost (each with events), and
        for each original the watched reposts of it."""
        since = now - self.window
        own: list[str] = []
        reposts: dict[str, list[str]] = {}
        for name in self.watched():
            for tid in self.store.tweet_ids_of(normalize_username(name)):
                if created_at_of_id(tid) < since:
                    continue
                own.append(str(tid))
                original = self._original_of(tid)
                if original is not None:
                    reposts.setdefault(original, []).append(str(tid))
        candidates = [t for t in dict.fromkeys([*own, *reposts]) if self.records_of(t)]
        return candidates, reposts

    # -- the periodic check -----------------------------------------------------------------

    async def check(self) -> int:
        """One deletion check; returns how many tweets it retired."""
        now = self.clock()
        candidates, reposts = self._recent(now)
        retired = self.repo.retired(candidates)
        todo = [t for t in candidates if t not in retired]
        todo.sort(key=lambda t: (self._checked.get(t, 0.0), int(t)))
        batches = min(self.allowance(), -(-len(todo) // BATCH))
        done = 0
        for start in range(0, batches * BATCH, BATCH):
            chunk = todo[start : start + BATCH]
            result = await self.client.tweets_by_ids(chunk)
            self.lookups += 1
            stamp = self.clock()
            for tid in chunk:
                self._checked[tid] = stamp
            fates = classify_lookup(chunk, result.tweets, result.problems)
            deleted = [t for t, f in fates.items() if f is Fate.DELETED]
            for tid, fate in fates.items():
                if fate is Fate.GONE:
                    log.debug(
                        "tweet %s: not given by X, but not deleted (kept)", tid, extra={"tweet_id": tid}
                    )
            edited = [
                (tid, newer)
                for tid, raw in result.tweets.items()
                if (newer := newest_version(raw)) != tid and self.records_of(newer)
            ]
            done += await self.retire_deleted(deleted, reposts)
            done += await self.retire_superseded(edited)
        marked = [t for t in self.repo.deleted_without_retractions() if self.records_of(t)]
        if marked:  # marked deleted by fetch-tweet, which has no keys to sign with
            done += await self.retire_deleted(marked, reposts)
        await self.flush()
        return done

    async def after_publish(self, tweet_ids: Iterable[str]) -> int:
        """Retire the mirrored older versions of the edits among ``tweet_ids`` (just published)."""
        pairs: list[tuple[str, str]] = []
        for tid in tweet_ids:
            raw = (self.store.read_tweet_raw(tid) or {}).get("data") or {}
            pairs.extend((old, str(tid)) for old in superseded_versions(raw) if self.records_of(old))
        if not pairs or not any(self.records_of(new) for _, new in pairs):
            return 0
        count = await self.retire_superseded(pairs)
        await self.flush()
        return count

    # -- retiring ---------------------------------------------------------------------------

    def _retractions(self, tweet_id: str, reason: str, now: int, done: set[str]) -> list[Retraction]:
        out = []
        for record in self.records_of(tweet_id):
            target = SignedEvent.from_dict(record.event)
            if target.id in done:
                continue
            key = self.key_of(target, tweet_id)
            if key is None:
                log.warning(
                    "tweet %s: event %s is not signed by a mirror key here; not retracted",
                    tweet_id,
                    target.id,
                )
                continue
            event = sign_event(build_retraction(target.pubkey, target.id, target.kind, now, reason), key)
            out.append(Retraction(event, target.id, tweet_id, frozenset(record.relays), frozenset(), now))
            done.add(target.id)
        return out

    async def retire_deleted(
        self, tweet_ids: Sequence[str], reposts: dict[str, list[str]] | None = None
    ) -> int:
        """Mark tweets deleted and retract their events and the watched reposts of them."""
        if not tweet_ids:
            return 0
        now = int(self.clock())
        done = self.repo.retracted_targets()
        items: list[Retraction] = []
        fates: list[TweetFate] = []
        for tid in tweet_ids:
            for gone in [tid, *(reposts or {}).get(tid, [])]:
                items.extend(self._retractions(gone, deletion_reason(tweet_url(tid)), now, done))
                fates.append(TweetFate(gone, DELETED, None, now))
            log.info(
                "tweet %s was deleted on X: its events get a deletion request",
                tid,
                extra={"tweet_id": tid, "action": "delete"},
            )
        self.repo.add_retractions(items)
        self.repo.retire(fates)
        if self.store.events is not None:
            for fate in fates:
                owner = self.store.tweet_owner(fate.tweet_id)
                if owner is not None:
                    targets = [r.target_id for r in items if r.tweet_id == fate.tweet_id]
                    self.store.events.tweet_deleted(owner, fate.tweet_id, targets)
        return len(tweet_ids)

    async def retire_superseded(self, pairs: Sequence[tuple[str, str]]) -> int:
        """Mark each old version superseded by its new one and retract its events, naming the new event."""
        if not pairs:
            return 0
        now = int(self.clock())
        done = self.repo.retracted_targets()
        items: list[Retraction] = []
        fates: list[TweetFate] = []
        for old, new in pairs:
            best = best_record(list(self.records_of(new)))
            if best is None:
                continue
            newer = SignedEvent.from_dict(best.event)
            hints = sorted(best.accepted_on()) or sorted(best.relays)
            nevent = nevent_of(newer.id, hints[:1], newer.pubkey, newer.kind)
            items.extend(self._retractions(old, edit_reason(nevent), now, done))
            fates.append(TweetFate(old, SUPERSEDED, new, now))
            log.info(
                "tweet %s was edited on X (newest version %s): the old event gets a deletion request",
                old,
                new,
                extra={"tweet_id": old, "action": "edit"},
            )
        self.repo.add_retractions(items)
        self.repo.retire(fates)
        return len(fates)

    async def flush(self) -> int:
        """Send the kind 5 events some relay has not accepted yet; returns how many were sent."""
        pending = self.repo.unsent_retractions()
        if not pending:
            return 0
        keys: dict[str, MirrorKey] = {}
        for item in pending:
            key = self.key_of(item.event, item.tweet_id)
            if key is not None:
                keys[key.pubkey_hex] = key
        answers = await self.pool.publish_many([(r.event, r.due) for r in pending], auth_keys=keys)
        for item, answer in zip(pending, answers, strict=True):
            took = [url for url, a in answer.items() if a.is_accepted]
            if took:
                self.repo.mark_retraction_accepted(item.event.id, took)
        return len(pending)
