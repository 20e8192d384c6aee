"""A publish of many tweets in rounds (SPEC §4), each round's stages overlapped with the relays' work.

A round is up to ``batch`` requested tweets (the first one at most :data:`FIRST_ROUND`, so the relays
get events soon after the start), taken through four stages:

1. *plan*: the documents loaded (each file once per round), filtered, retired ones left out, their
   dependencies planned (:func:`~nostrweet.publish.plan.plan_tweet`), their records read;
2. *check*: the duplicate check on the relays (:mod:`.dupcheck`; not with ``force``);
3. *build*: the events built and signed level by level (:mod:`.building`), and their records written
   ``pending`` (one transaction) before anything is sent;
4. *send*: level after level (:mod:`.delivery`), then the answers written (one transaction), the
   outcomes noted, and the authors' profiles and media server lists announced.

While round n is in flight, round n+1 is built and its records written, and round n+2 is planned.
Once round n is answered, round n+2's duplicate check is asked, then round n+1's events go out (asked
behind them, the check's answer would wait until the relay had stored them all), so rounds reach the
relays in order; round n's answers are written once round n+1's events are out. The relay waits for
no build, transaction or file read: between two rounds, only for the duplicate check's queries.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Protocol

import msgspec

from nostrweet.bridge.context import EventRef
from nostrweet.errors import NostrweetError
from nostrweet.publish.building import SIGN_GROUP, RefBook, RetiredTweets, TweetBuilder, TweetSource
from nostrweet.publish.delivery import UnitSender
from nostrweet.publish.dupcheck import DuplicateCheck
from nostrweet.publish.outcome import PublishOutcome, Unit, outcome_of
from nostrweet.publish.plan import PlanItem, chunked, dependency_levels, plan_tweet
from nostrweet.publish.progress import ProgressCount
from nostrweet.publish.records import PublishRecords
from nostrweet.twitter.models import User

FIRST_ROUND = 50
"""Requested tweets in the first round (at most the batch): the relays have its events while the next
round is built, instead of waiting for a whole round's build after the start."""


class Stages(Protocol):
    """What a run of rounds uses (the publisher)."""

    documents: TweetSource
    records: PublishRecords
    duplicates: DuplicateCheck
    builder: TweetBuilder
    sender: UnitSender
    refs: RefBook
    lifecycle: RetiredTweets
    relays: list[str]
    force: bool

    def note(self, outcome: PublishOutcome) -> PublishOutcome: ...

    def accepted_of(self, unit: Unit) -> set[str]: ...

    async def announce(self, authors: Sequence[User], uploaders: set[str]) -> None: ...


class Plan(msgspec.Struct):
    """A round's tweets to build, in order, and their authors."""

    items: list[PlanItem]
    authors: dict[str, User]


class Round(msgspec.Struct):
    """A round built and signed, its records written, waiting to be sent."""

    chunk: Sequence[str]
    levels: list[list[Unit]]
    units: list[Unit]
    authors: dict[str, User]
    uploaders: set[str]
    token: object


class RoundRun:
    """One publish of requested tweets (pass them oldest first); :meth:`run` gives an outcome per id."""

    def __init__(self, stages: Stages, ids: Sequence[str], progress: ProgressCount, batch: int) -> None:
        self.stages = stages
        self.ids = list(ids)
        self.progress = progress
        first = min(batch, FIRST_ROUND)
        self.chunks = [self.ids[:first], *chunked(self.ids[first:], batch)] if self.ids else []
        self.seen: set[str] = set()
        self.by_id: dict[str, PublishOutcome] = {}
        self.profiled: set[str] = set()
        self.tokens: list[object] = []

    async def run(self) -> list[PublishOutcome]:
        """Every round through its stages, overlapped as the module docstring says."""
        s, chunks = self.stages, self.chunks
        plan = await self.plan(chunks[0]) if chunks else None
        if plan is not None:
            await self.check(plan)
        answered: asyncio.Future[None] | None = None  # the round in flight's events are answered
        next_out: asyncio.Event | None = None  # set once the round after the one in flight is out
        tasks: list[asyncio.Task[None]] = []
        try:
            for n, chunk in enumerate(chunks):
                assert plan is not None
                ready = await self.build(plan, chunk)
                s.sender.save_pending(ready.units)
                plan = await self.plan(chunks[n + 1]) if n + 1 < len(chunks) else None
                if answered is not None:  # (or its task failed)
                    await asyncio.wait((answered, tasks[-1]), return_when=asyncio.FIRST_COMPLETED)
                for task in [t for t in tasks if t.done()]:
                    tasks.remove(task)
                    task.result()  # a round that failed stops the run
                if plan is not None:
                    await self.check(plan)  # before this round's events, not behind them
                answered = asyncio.get_running_loop().create_future()
                after, next_out = next_out, asyncio.Event()
                tasks.append(asyncio.create_task(self.send(ready, answered, next_out)))
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
            for token in self.tokens:  # a round cancelled before it started has not removed its own
                s.refs.rounds.pop(token, None)
            s.documents.read.clear()
        return [self.by_id[i] for i in self.ids]

    async def plan(self, chunk: Sequence[str]) -> Plan:
        """A round's tweets loaded, filtered and planned (nothing asked of the relays, nothing built)."""
        s, seen, by_id = self.stages, self.seen, self.by_id
        s.documents.read.clear()  # each round reads its files once; the plan holds what it needs
        items: list[PlanItem] = []
        authors: dict[str, User] = {}
        retired = {} if s.force else dict(s.lifecycle.retired(chunk))
        for tid in chunk:
            if tid in seen:
                continue
            if tid in retired:
                seen.add(tid)
                newer = retired[tid]
                why = f"edited on X (newest version {newer})" if newer else "deleted on X"
                by_id[tid] = s.note(PublishOutcome(tid, "retired", message=why))
                continue
            doc = await s.documents.load(tid)
            if doc is None:
                by_id[tid] = s.note(PublishOutcome(tid, "error", message="tweet not cached or not found"))
                seen.add(tid)
                continue
            skipped = s.documents.skipped(doc)
            if skipped is not None:
                by_id[tid] = s.note(skipped)
                seen.add(tid)
                continue
            for item in plan_tweet(doc, seen=seen, resolve=s.documents.resolve):
                items.append(item)
                author = item.doc.author()
                if author is not None:
                    authors.setdefault(author.id, author)
        s.records.preload(i.tweet_id for i in items)
        if not s.force:
            gone = s.lifecycle.retired([i.tweet_id for i in items])
            items = [i for i in items if i.tweet_id not in gone]  # a retired dependency stays as it is
        return Plan(items, authors)

    async def check(self, plan: Plan) -> None:
        """The duplicate check of a planned round (not with ``force``)."""
        if not self.stages.force:
            await self.stages.duplicates.check({i.tweet_id: i.author_id for i in plan.items})

    async def build(self, plan: Plan, chunk: Sequence[str]) -> Round:
        """A planned round's events built and signed, level by level (nothing written, nothing sent)."""
        s = self.stages
        token = object()
        self.tokens.append(token)
        round_refs: dict[str, EventRef] = {}
        s.refs.rounds[token] = round_refs
        units: list[Unit] = []
        levels: list[list[Unit]] = []
        for group in dependency_levels(plan.items):
            level: list[Unit] = []
            for items in chunked(group, SIGN_GROUP):
                await asyncio.sleep(0)  # the round in flight: its events out, its OKs read
                for item, unit in zip(items, await s.builder.prepare_group(items, round_refs), strict=True):
                    if isinstance(unit, NostrweetError):
                        outcome = PublishOutcome(item.tweet_id, "error", message=str(unit))
                        self.by_id[item.tweet_id] = s.note(outcome)
                    else:
                        level.append(unit)
            levels.append(level)
            units.extend(level)
        uploaders, s.builder.uploaders = s.builder.uploaders, set()
        return Round(chunk, levels, units, plan.authors, uploaders, token)

    async def send(self, ready: Round, answered: asyncio.Future[None], next_out: asyncio.Event) -> None:
        """Send a round whose records are written, and say so (``answered``) once its events are
        answered; when the next round's have gone out (``next_out``), write the answers, note the
        outcomes, and announce the authors not announced yet in this run."""
        s = self.stages
        try:
            sent = await s.sender.send(ready.levels, self.progress)
            answered.set_result(None)
            try:
                await next_out.wait()
            finally:
                s.sender.save_answers(sent)  # even when the run is cancelled: these answers came
            for unit in ready.units:
                self.by_id[unit.subject_id] = s.note(outcome_of(unit, s.relays, s.accepted_of(unit)))
            authors = [u for i, u in ready.authors.items() if i not in self.profiled]
            self.profiled.update(ready.authors)  # at once: the next round's may look before these go
            await s.announce(authors, ready.uploaders)
        finally:
            s.refs.rounds.pop(ready.token, None)
        self.progress.advance(ready.chunk)  # the chunk's tweets that had nothing to send
