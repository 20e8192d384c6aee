"""PURE: one relay as the pool sees it: up or down, when to reconnect, counters, whether it wants AUTH.

Times are plain numbers on the caller's clock (the event loop's); nothing here sleeps, logs or talks
to a relay.
"""

from __future__ import annotations

import msgspec

from nostrweet.nostr.answers import RelayAnswer, RelayStatus

FIRST_RETRY_DELAY = 0.5


def needs_auth(answer: RelayAnswer) -> bool:
    """True for a pending answer that asks for NIP-42 AUTH (``auth-required:``)."""
    return answer.outcome == "pending" and answer.message.lower().startswith("auth-required:")


class RelayState(msgspec.Struct, gc=False):
    """Health, reconnect schedule and answer counters of one relay of the pool."""

    url: str
    up: bool = False
    accepted: int = 0
    rejected: int = 0
    pending: int = 0
    last_error: str | None = None
    auth_required: bool = False
    retry_delay: float = 0.0
    next_retry: float = 0.0
    connecting: bool = False

    def connected(self) -> None:
        """A connection attempt succeeded: the next failure starts the backoff afresh."""
        self.up = True
        self.retry_delay = 0.0

    def schedule_retry(self, now: float, max_interval: float) -> None:
        """Double the reconnect delay (from 0.5 s, capped at ``max_interval``) and set the next try."""
        self.retry_delay = min(max(self.retry_delay * 2, FIRST_RETRY_DELAY), max_interval)
        self.next_retry = now + self.retry_delay

    def mark_down(self, reason: str, now: float, max_interval: float) -> bool:
        """Take the relay down for ``reason`` and schedule a reconnect; True if it was up until now."""
        was_up = self.up
        self.up = False
        self.last_error = reason
        self.schedule_retry(now, max_interval)
        return was_up

    def count(self, answer: RelayAnswer) -> RelayAnswer:
        """Count an answer of this relay (a rejection's message becomes the last error); returns it."""
        if answer.is_accepted:
            self.accepted += 1
        elif answer.outcome == "rejected":
            self.rejected += 1
            self.last_error = answer.message
        else:
            self.pending += 1
        return answer

    def status(self) -> RelayStatus:
        """The relay's health and counters as a value."""
        return RelayStatus(
            url=self.url,
            connected=self.up,
            accepted=self.accepted,
            rejected=self.rejected,
            pending=self.pending,
            last_error=self.last_error,
        )
