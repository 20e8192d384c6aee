"""Event records (SPEC §2, §7) as the publisher sees them: a signed event and, for each relay, where it stands.

The records live in the state (:class:`~nostrweet.state.records.RecordRepo`: one ``events`` row per
event, one ``relay_states`` row per relay). The values and their status transitions
(:class:`~nostrweet.nostr.record.EventRecord`, :func:`~nostrweet.nostr.record.apply_answer`) are pure and
live in :mod:`nostrweet.nostr.record`.

:class:`PublishRecords` is the publisher's view of them:

- reads go by subject (a tweet, or a user's profile / relay list / Blossom list); the answers are kept
  in a bounded LRU (``cache_size`` subjects), and :meth:`PublishRecords.preload` fetches a whole round's
  tweets with one query, so a round costs one read, not one per tweet and question, and
  :meth:`PublishRecords.preload_users` the users' profile and relay list records (in a worker thread)
  before their announcements;
- :meth:`PublishRecords.save_many` writes a batch of records and their relay answers in ONE transaction
  (group commit): once before sending (every target ``pending``), once with the answers. A crash in
  between only causes a resend of the same event, which relays deduplicate.

A record read from or written to the state carries ``stored_name`` (its event id), so the publisher can
tell a record that is new from one that is stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from nostrweet.cache.layout import EventSubject
from nostrweet.nostr.record import EventRecord
from nostrweet.publish.outcome import LruDict
from nostrweet.state.engine import State
from nostrweet.state.records import RecordRepo

CACHE_SIZE = 4096
"""Subjects whose records are kept in memory at most (least recently used first out)."""

_Key = tuple[str, str]


class PublishRecords:
    """The event records of one state, read by subject with a bounded cache, written in batches."""

    def __init__(self, state: State, *, cache_size: int = CACHE_SIZE) -> None:
        self.repo = RecordRepo(state)
        self._cache: LruDict[_Key, list[EventRecord]] = LruDict(max(1, cache_size))
        self.reads = 0
        """Queries that read records (the cost of a pass; tests check it)."""
        self.syncs = 0
        """Transactions that wrote records (one per :meth:`save_many` call that wrote something)."""

    # -- reading ----------------------------------------------------------------------------

    def _subject(self, subject: EventSubject, subject_id: str | int) -> list[EventRecord]:
        key = (subject.value, str(subject_id))
        found = self._cache.hit(key)
        if found is None:
            self.reads += 1
            found = self.repo.for_subject(subject, subject_id)
            for record in found:
                record.stored_name = record.event_id
            self._cache[key] = found
        return found

    def preload(self, tweet_ids: Iterable[str | int]) -> None:
        """Read the records of many tweets with one query (those not in memory yet)."""
        todo = self._missing(EventSubject.TWEET, tweet_ids)
        if todo:
            self.reads += 1
            self._keep(EventSubject.TWEET, self.repo.for_subjects(EventSubject.TWEET, todo))

    async def preload_users(self, user_ids: Iterable[str | int]) -> None:
        """Read the profile (kind 0) and relay list (kind 10002) records of many users, one query per
        kind, in a worker thread: what announcing them asks next, without a read per user on the loop."""
        ids = list(user_ids)
        for subject in (EventSubject.PROFILE, EventSubject.RELAYS):
            todo = self._missing(subject, ids)
            if todo:
                self.reads += 1
                self._keep(subject, await asyncio.to_thread(self.repo.for_subjects, subject, todo))

    def _missing(self, subject: EventSubject, subject_ids: Iterable[str | int]) -> set[str]:
        """Of ``subject_ids``, those whose records are not in memory (lookups, not a scan of the cache)."""
        return {str(i) for i in subject_ids if (subject.value, str(i)) not in self._cache}

    def _keep(self, subject: EventSubject, found: Mapping[str, list[EventRecord]]) -> None:
        for subject_id, records in found.items():
            for record in records:
                record.stored_name = record.event_id
            self._cache[(subject.value, subject_id)] = records

    def for_tweet(self, tweet_id: str | int) -> list[EventRecord]:
        """Every record of a tweet."""
        return list(self._subject(EventSubject.TWEET, tweet_id))

    def for_user(self, subject: EventSubject, user_id: str | int) -> list[EventRecord]:
        """Every record of a user's profile / relay list / Blossom list."""
        return list(self._subject(subject, user_id))

    def newest_for_user(self, subject: EventSubject, user_id: str | int) -> EventRecord | None:
        """The newest (by created_at, then event id) record of a replaceable user event."""
        records = self._subject(subject, user_id)
        return max(records, key=lambda r: (r.created_at, r.event_id)) if records else None

    def accepted_relays(self, tweet_id: str | int) -> set[str]:
        """Relays on which some record of the tweet is accepted: the tweet counts as posted there."""
        out: set[str] = set()
        for record in self._subject(EventSubject.TWEET, tweet_id):
            out |= record.accepted_on()
        return out

    def count(self) -> int:
        """How many event records the state holds."""
        return self.repo.count()

    # -- writing ----------------------------------------------------------------------------

    def save(self, record: EventRecord) -> None:
        """Write one record (see :meth:`save_many`)."""
        self.save_many([record])

    def save_many(self, records: Iterable[EventRecord]) -> None:
        """Write records and every relay's state in one transaction, and keep the memory current."""
        batch = list({r.event_id: r for r in records}.values())
        if not batch:
            return
        if all(r.stored_name is not None for r in batch):
            self.repo.save_relays(batch)  # answers to a send: the events are stored already
        else:
            self.repo.save_many(batch)
        self.syncs += 1
        for record in batch:
            record.stored_name = record.event_id
            cached = self._cache.get((record.subject.value, record.subject_id))
            if cached is not None:
                cached[:] = [r for r in cached if r.event_id != record.event_id]
                cached.append(record)

    def forget(self) -> None:
        """Drop every record kept in memory (another process may have written since)."""
        self._cache.clear()

    def get_or_create(
        self,
        event: Mapping[str, Any],
        subject: EventSubject,
        subject_id: str,
        *,
        tweet_id: str | None = None,
    ) -> EventRecord:
        """The stored record of this event and subject, or a new one (not yet saved) with no relays."""
        event_id = str(event["id"])
        for record in self._subject(subject, subject_id):
            if record.event_id == event_id:
                return record
        return EventRecord(dict(event), subject, str(subject_id), {}, tweet_id)
