"""What publishing one event gave (:class:`PublishOutcome`), a run's summary, and the unit of work.

Also the memory bounds of the long-lived publishing objects (:class:`MemoryBounds`) and the small
least-recently-used map they use for what can be derived again from the cache directory
(:class:`LruDict`): the daemon runs for months, so nothing it keeps may grow with every tweet.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Generic, Literal, TypeVar

import msgspec

from nostrweet.cache.layout import EventSubject
from nostrweet.nostr.event import SignedEvent
from nostrweet.nostr.keys import MirrorKey
from nostrweet.nostr.record import EventRecord
from nostrweet.textsafe import printable

Status = Literal["published", "already", "failed", "error", "skipped", "retired"]
"""published: sent now and some relay took it; already: nothing to send, some relay holds it;
failed: no relay holds it (rejected or pending everywhere); error: no event could be built;
skipped: a filter rule skips it (SPEC §12); retired: deleted or replaced by an edit on X, so not
published again (SPEC §10)."""

K = TypeVar("K")
V = TypeVar("V")


class LruDict(OrderedDict[K, V], Generic[K, V]):
    """A dict of at most ``cap`` entries; setting or reading (:meth:`hit`) an entry makes it the newest,
    and the least recently used ones are dropped beyond ``cap``. Only for data that can be derived
    again (a miss costs a read or a recomputation, never a different result)."""

    def __init__(self, cap: int) -> None:
        super().__init__()
        self.cap = max(1, cap)

    def __setitem__(self, key: K, value: V) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.cap:
            self.popitem(last=False)

    def hit(self, key: K) -> V | None:
        """The value of ``key`` (made the most recently used), or None."""
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value


class MemoryBounds(msgspec.Struct, frozen=True, gc=False):
    """Caps of what the publisher, its media uploader, the outbox and the daemon pipeline keep.

    The defaults keep a daemon with 1,000 users in a few tens of MB however long it runs; the tests
    set them small to exercise eviction. Every capped structure holds data that the cache directory
    can give again (records, their event refs, keys, file names), so a cap changes costs, not results.
    """

    records: int = 4096
    """Subjects (tweets, users' replaceable events) whose records the
    :class:`~nostrweet.publish.records.PublishRecords` keeps in memory."""
    refs: int = 1024
    """Signed events of published tweets kept to build replies, quotes and reposts (else read back)."""
    signers: int = 1024
    """Mirror keys by pubkey, for NIP-42 AUTH of re-sent events (else derived from the tweet)."""
    listed: int = 4096
    """Identities whose Blossom list (kind 10063) was checked in this process."""
    media_names: int = 1024
    """Media file names by (tweet id, position)."""
    outcomes: int | None = None
    """Outcomes kept until taken (None: all, for a CLI run's summary; the daemon takes them per poll)."""
    tracked: int = 100_000
    """Outbox: pending record names remembered as waiting or skipped; tweets tried without a record."""
    skip_checks: int = 4096
    """Daemon: per-tweet results of the ``skip_retweets``/``skip_replies`` check."""


_WHAT = {
    EventSubject.TWEET: "tweet",
    EventSubject.PROFILE: "profile",
    EventSubject.RELAYS: "relay list",
    EventSubject.BLOSSOM: "blossom list",
}


class Unit(msgspec.Struct):
    """One event about to be sent: its record, the relays to send it to, and the key for NIP-42 AUTH."""

    subject_id: str
    record: EventRecord
    event: SignedEvent
    targets: list[str]
    auth_key: MirrorKey | None = None
    sent: bool = False


class PublishOutcome(msgspec.Struct, frozen=True, gc=False):
    """The result of publishing one event (or of failing to build it)."""

    subject_id: str
    status: Status
    event_id: str | None = None
    kind: int | None = None
    accepted: tuple[str, ...] = ()
    rejected: tuple[str, ...] = ()
    pending: tuple[str, ...] = ()
    message: str = ""
    what: str = "tweet"
    sent: bool = False  # something was sent in this run (a repeat of a settled failure is not news)

    @property
    def reached_relay(self) -> bool:
        """Some configured relay holds the event."""
        return bool(self.accepted)

    def describe(self) -> str:
        """One line for logs; the relays' messages with control and bidi characters escaped."""
        if self.status == "error":
            return f"not published: {printable(self.message)}"
        if self.status == "skipped":
            return f"skipped by {printable(self.message)}"
        if self.status == "retired":
            return f"not published: {printable(self.message)} (--force publishes it anyway)"
        parts = [f"{self.status} (event {(self.event_id or '')[:12]}, kind {self.kind})"]
        if self.accepted:
            parts.append(f"accepted by {len(self.accepted)}")
        if self.rejected:
            parts.append(f"rejected by {len(self.rejected)}")
        if self.pending:
            parts.append(f"pending on {len(self.pending)}")
        if self.message:
            parts.append(printable(self.message))
        return ", ".join(parts)


def outcome_of(unit: Unit, relays: Sequence[str], accepted: set[str]) -> PublishOutcome:
    """The outcome of a unit after delivery, given the relays that now hold the subject's event."""
    record = unit.record
    configured = list(relays) or list(record.relays)
    acc = tuple(r for r in configured if r in accepted)
    rej = tuple(
        r
        for r in configured
        if r not in accepted and (st := record.relays.get(r)) and st.status == "rejected"
    )
    pend = tuple(r for r in configured if r not in accepted and r not in rej)
    messages = sorted({record.relays[r].message for r in rej if record.relays[r].message})
    if not acc:
        status: Status = "failed"
    elif unit.sent and any(r in accepted for r in unit.targets):
        status = "published"
    else:
        status = "already"
    return PublishOutcome(
        subject_id=unit.subject_id,
        status=status,
        event_id=unit.event.id,
        kind=unit.event.kind,
        accepted=acc,
        rejected=rej,
        pending=pend,
        message="; ".join(messages),
        what=_WHAT[record.subject],
        sent=unit.sent,
    )


class PublishSummary(msgspec.Struct):
    """A run over many tweets: the outcome of each requested tweet, and of every event handled."""

    outcomes: list[PublishOutcome]
    all_outcomes: list[PublishOutcome] = msgspec.field(default_factory=list)

    def count(self, status: Status) -> int:
        """How many requested tweets ended with ``status``."""
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def ok(self) -> bool:
        """Every event handled reached at least one relay (else the CLI exits 1)."""
        return all(
            o.status in ("published", "already", "skipped", "retired")
            for o in self.all_outcomes or self.outcomes
        )

    def line(self) -> str:
        """The summary line the CLI prints."""
        events = self.all_outcomes or self.outcomes
        pending = sum(1 for o in events if o.pending and o.status != "error")
        text = (
            f"{len(self.outcomes)} tweets: {self.count('published')} published, "
            f"{self.count('already')} already posted, {self.count('failed')} reached no relay, "
            f"{self.count('error')} not publishable"
        )
        if self.count("skipped"):
            text += f", {self.count('skipped')} skipped by filters"
        if self.count("retired"):
            text += f", {self.count('retired')} deleted or edited on X"
        if len(events) != len(self.outcomes):
            text += f" ({len(events)} events in all"
            text += f", {pending} still pending on some relay)" if pending else ")"
        elif pending:
            text += f" ({pending} still pending on some relay)"
        return text
