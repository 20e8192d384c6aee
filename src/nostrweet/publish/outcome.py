"""What publishing one event gave (:class:`PublishOutcome`), a run's summary, and the unit of work."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from nostrweet.cache.layout import EventSubject
from nostrweet.nostr.event import SignedEvent
from nostrweet.nostr.keys import MirrorKey
from nostrweet.publish.records import EventRecord

Status = Literal["published", "already", "failed", "error"]
"""published: sent now and some relay took it; already: nothing to send, some relay holds it;
failed: no relay holds it (rejected or pending everywhere); error: no event could be built."""

_WHAT = {
    EventSubject.TWEET: "tweet",
    EventSubject.PROFILE: "profile",
    EventSubject.RELAYS: "relay list",
    EventSubject.BLOSSOM: "blossom list",
}


@dataclass
class Unit:
    """One event about to be sent: its record, the relays to send it to, and the key for NIP-42 AUTH."""

    subject_id: str
    record: EventRecord
    event: SignedEvent
    targets: list[str]
    auth_key: MirrorKey | None = None
    sent: bool = False


@dataclass(frozen=True)
class PublishOutcome:
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
        """One line for logs."""
        if self.status == "error":
            return f"not published: {self.message}"
        parts = [f"{self.status} (event {(self.event_id or '')[:12]}, kind {self.kind})"]
        if self.accepted:
            parts.append(f"accepted by {len(self.accepted)}")
        if self.rejected:
            parts.append(f"rejected by {len(self.rejected)}")
        if self.pending:
            parts.append(f"pending on {len(self.pending)}")
        if self.message:
            parts.append(self.message)
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


@dataclass
class PublishSummary:
    """A run over many tweets: the outcome of each requested tweet, and of every event handled."""

    outcomes: list[PublishOutcome]
    all_outcomes: list[PublishOutcome] = field(default_factory=list)

    def count(self, status: Status) -> int:
        """How many requested tweets ended with ``status``."""
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def ok(self) -> bool:
        """Every event handled reached at least one relay (else the CLI exits 1)."""
        return all(o.status in ("published", "already") for o in self.all_outcomes or self.outcomes)

    def line(self) -> str:
        """The summary line the CLI prints."""
        events = self.all_outcomes or self.outcomes
        pending = sum(1 for o in events if o.pending and o.status != "error")
        text = (
            f"{len(self.outcomes)} tweets: {self.count('published')} published, "
            f"{self.count('already')} already posted, {self.count('failed')} reached no relay, "
            f"{self.count('error')} not publishable"
        )
        if len(events) != len(self.outcomes):
            text += f" ({len(events)} events in all"
            text += f", {pending} still pending on some relay)" if pending else ")"
        elif pending:
            text += f" ({pending} still pending on some relay)"
        return text
