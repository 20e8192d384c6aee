"""One relay's send path (SPEC §4, "Relay answers"): a batch of events to one relay, and its answers.

The pool (:mod:`~nostrweet.nostr.relays`) splits each publish into one share per relay and hands it
here; the connections, their health and reconnects stay the pool's. On the way:

- an event the relay's NIP-11 ``limitation`` is known to refuse is answered ``invalid:`` with the limit,
  and not sent (:mod:`~nostrweet.nostr.nip11`);
- the rest go pipelined on the relay's connection (:mod:`~nostrweet.nostr.pipeline`), OKs classified
  (:func:`~nostrweet.nostr.answers.classify_ok`); a relay down answers ``pending`` at once, and a
  batch that fails marks it down once (a dead relay costs one timeout);
- NIP-42 AUTH: on ``auth-required:`` for an event whose key is known, that identity authenticates on
  the connection and the event is sent again; from then on the relay's identities authenticate first;
- the one retry policy: ``rate-limited:`` answers are sent again up to ``rate_limit_retries`` times,
  ``rate_limit_backoff`` × 2^attempt s apart; every other rejection is final.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

import msgspec

from nostrweet.nostr.answers import RelayAnswer, classify_ok
from nostrweet.nostr.connection import RelayConnection
from nostrweet.nostr.event import SignedEvent
from nostrweet.nostr.keys import MirrorKey
from nostrweet.nostr.nip11 import RelayLimits, refusal
from nostrweet.nostr.pipeline import Result, send_pipelined
from nostrweet.nostr.relay_state import RelayState, needs_auth

log = logging.getLogger(__name__)

__all__ = ["RelaySender", "SendPolicy"]


class SendPolicy(msgspec.Struct, frozen=True, gc=False):
    """How a share is sent: the OK wait, the pipeline window and the rate-limit retries."""

    ok_timeout: float
    pipeline_window: int
    rate_limit_retries: int
    rate_limit_backoff: float


class RelaySender:
    """Sends a share of events to one relay over the connection the pool holds for it."""

    def __init__(
        self,
        policy: SendPolicy,
        *,
        live: Callable[[str], RelayConnection | None],
        limits: Mapping[str, RelayLimits],
        mark_down: Callable[[RelayState, str], None],
        wall_clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self.policy = policy
        self._live = live  # the relay's connection when it is up, else None
        self._limits = limits  # each relay's NIP-11 limitation, as its last connection read it
        self._mark_down = mark_down
        self._wall_clock = wall_clock
        self._sleep = sleep

    async def deliver(
        self, relay: RelayState, events: Sequence[SignedEvent], keys: Mapping[str, MirrorKey]
    ) -> list[RelayAnswer]:
        """Events to one relay, ``rate-limited:`` answers sent again with backoff (the one retry policy)."""
        answers = await self._send(relay, events, keys)
        for attempt in range(self.policy.rate_limit_retries):
            limited = [k for k, a in enumerate(answers) if a.outcome == "rate_limited"]
            if not limited:
                break
            await self._sleep(self.policy.rate_limit_backoff * 2**attempt)
            again = await self._send(relay, [events[k] for k in limited], keys)
            for k, answer in zip(limited, again, strict=True):
                answers[k] = answer
        return answers

    async def _send(
        self, relay: RelayState, events: Sequence[SignedEvent], keys: Mapping[str, MirrorKey]
    ) -> list[RelayAnswer]:
        """Events to one relay once, AUTH answered on the way; not counted."""
        url = relay.url
        conn = self._live(url)
        if conn is None:
            return [RelayAnswer(url, "pending", relay.last_error or "relay not connected") for _ in events]
        limits = self._limits.get(url, RelayLimits())
        now = int(self._wall_clock())
        refused = {}
        if limits != RelayLimits():
            refused = {k: why for k, e in enumerate(events) if (why := refusal(e, limits, now)) is not None}
        if refused:
            sendable = [e for k, e in enumerate(events) if k not in refused]
            sent = iter(await self._send(relay, sendable, keys)) if sendable else iter(())
            return [
                RelayAnswer(url, "rejected", refused[k]) if k in refused else next(sent)
                for k in range(len(events))
            ]
        if relay.auth_required:
            await self._authenticate(conn, {e.pubkey for e in events}, keys)
        answers = self._answers(url, await self._pipeline(relay, conn, events))
        want_auth = [k for k, a in enumerate(answers) if needs_auth(a) and events[k].pubkey in keys]
        if want_auth and not conn.closed:
            relay.auth_required = True
            await self._authenticate(conn, {events[k].pubkey for k in want_auth}, keys)
            again = self._answers(url, await self._pipeline(relay, conn, [events[k] for k in want_auth]))
            for k, answer in zip(want_auth, again, strict=True):
                answers[k] = answer
        return answers

    async def _pipeline(
        self, relay: RelayState, conn: RelayConnection, events: Sequence[SignedEvent]
    ) -> list[Result]:
        results = await send_pipelined(
            conn, events, window=self.policy.pipeline_window, ok_timeout=self.policy.ok_timeout
        )
        failure = next((r for r in results if isinstance(r, str)), None)
        if failure is not None:  # once per batch: a dead relay costs one timeout
            self._mark_down(relay, failure)
        return results

    @staticmethod
    def _answers(url: str, results: Sequence[Result]) -> list[RelayAnswer]:
        return [
            RelayAnswer(url, "pending", r)
            if isinstance(r, str)
            else RelayAnswer(url, classify_ok(r.accepted, r.message), r.message)
            for r in results
        ]

    async def _authenticate(
        self, conn: RelayConnection, pubkeys: set[str], keys: Mapping[str, MirrorKey]
    ) -> None:
        for pubkey in sorted(pubkeys):
            key = keys.get(pubkey)
            if key is None or pubkey in conn.authenticated:
                continue
            ok = await conn.authenticate(key, self.policy.ok_timeout)
            if ok is None or not ok.accepted:
                reason = ok.message if ok is not None else "no answer"
                log.info("relay %s: AUTH as %s failed: %s", conn.url, pubkey[:12], reason)
