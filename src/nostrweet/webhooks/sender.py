"""Webhook delivery: turn events into queued deliveries, and work the queue over HTTP.

:class:`Webhooks` is what the rest of the program holds: ``emit`` queues one delivery per subscribed
webhook (in the state, so a restart loses none), and ``deliver_due`` POSTs the due ones. Deliveries go
out concurrently across (webhook, user) pairs and in order within one. A POST has a 10 s timeout, the
answer's body is never read, and only a 2xx counts; anything else is tried again after
:func:`~nostrweet.webhooks.payload.retry_delay`. A dead receiver costs one timeout per round, on the
task that delivers, never on the polling.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import urlsplit

import httpx

from nostrweet.state.webhooks import Delivery, QueuedDelivery, WebhookQueue
from nostrweet.webhook_config import Webhook
from nostrweet.webhooks.payload import SIGNATURE_HEADER, WebhookEvent, body_of, delivery_id, retry_delay, sign

__all__ = ["POST_TIMEOUT_SECONDS", "Webhooks", "shown_url"]

log = logging.getLogger(__name__)

POST_TIMEOUT_SECONDS = 10.0
KEEP_DELIVERED_SECONDS = 7 * 86400


def shown_url(url: str) -> str:
    """A webhook URL as logs show it: scheme and host only (its path or query may hold a token)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


class Webhooks:
    """The configured webhooks, their queue, and an HTTP client to deliver with."""

    def __init__(
        self,
        hooks: Sequence[Webhook],
        queue: WebhookQueue,
        *,
        instance_id: str,
        clock: Callable[[], float] = time.time,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.hooks = tuple(hooks)
        self.queue = queue
        self.instance_id = instance_id
        self.clock = clock
        self._client = client
        self._secrets = {h.url: h.secret.reveal().encode() for h in self.hooks}

    @property
    def enabled(self) -> bool:
        """True when at least one webhook is configured."""
        return bool(self.hooks)

    def emit(self, event: WebhookEvent) -> None:
        """Queue ``event`` for every webhook that subscribed to it (nothing is sent here)."""
        queued = [
            QueuedDelivery(
                delivery_id=delivery_id(h.url, event),
                webhook=h.url,
                username=event.username,
                event=event.event,
                body=body_of(h.url, event),
            )
            for h in self.hooks
            if h.wants(event.event)
        ]
        if queued:
            self.queue.enqueue(queued, self.clock())

    # -- what happened (store.ArchiveEvents, and the daemon's failing users) ---------------
    def tweet_archived(self, username: str, tweet_id: str) -> None:
        """A tweet's file was written (fetch, user-tweets, import-archive, the daemon)."""
        self.emit(WebhookEvent("tweet.archived", username, self.clock(), subject=tweet_id, tweet_id=tweet_id))

    def tweet_published(
        self, username: str, tweet_id: str, event_ids: Sequence[str], relays: Mapping[str, str]
    ) -> None:
        """A relay took a tweet's event (the delivery id makes it once per tweet)."""
        self.emit(
            WebhookEvent(
                "tweet.published",
                username,
                self.clock(),
                subject=tweet_id,
                tweet_id=tweet_id,
                nostr_event_ids=tuple(event_ids),
                relays=dict(relays),
            )
        )

    def tweet_deleted(self, username: str, tweet_id: str, event_ids: Sequence[str]) -> None:
        """The tweet was deleted on X; ``event_ids`` are the events its deletion requests retract."""
        self.emit(
            WebhookEvent(
                "tweet.deleted",
                username,
                self.clock(),
                subject=tweet_id,
                tweet_id=tweet_id,
                nostr_event_ids=tuple(event_ids),
            )
        )

    def user_failing(self, username: str, since: float) -> None:
        """A user's polls keep failing, since ``since`` (one delivery per streak of failures)."""
        self.emit(WebhookEvent("user.failing", username, self.clock(), subject=f"failing since {since:.0f}"))

    async def deliver_due(self, *, max_rounds: int = 100) -> int:
        """POST every due delivery, in order per (webhook, user); returns how many were delivered."""
        if not self.hooks:
            return 0
        delivered = 0
        for _ in range(max_rounds):
            batch = [
                d for d in self.queue.claim(self.instance_id, self.clock()) if d.webhook in self._secrets
            ]
            if not batch:
                break
            results = await asyncio.gather(*(self._post(d) for d in batch))
            delivered += sum(results)
            if not any(results):
                break
        self.queue.prune(self.clock() - KEEP_DELIVERED_SECONDS)
        return delivered

    async def drain(self, deadline_seconds: float = POST_TIMEOUT_SECONDS) -> None:
        """What a short command does before it exits: deliver for at most ``deadline_seconds``."""
        if not self.hooks:
            return
        try:
            await asyncio.wait_for(self.deliver_due(), deadline_seconds)
        except TimeoutError:
            log.info("webhooks: %d deliveries left for the next run", self.queue.pending())

    async def _post(self, delivery: Delivery) -> bool:
        secret = self._secrets[delivery.webhook]
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(delivery.body, secret),
            "User-Agent": "nostrweet-webhook",
        }
        try:
            async with self._http().stream(
                "POST", delivery.webhook, content=delivery.body, headers=headers
            ) as response:
                status = response.status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}"
        else:
            if 200 <= status < 300:
                self.queue.delivered(delivery.seq, self.clock())
                return True
            error = f"HTTP {status}"
        delay = retry_delay(delivery.attempts + 1)
        log.warning(
            "webhook %s: %s %s for %s failed (%s); next try in %d s",
            shown_url(delivery.webhook),
            delivery.event,
            delivery.delivery_id,
            delivery.username,
            error,
            delay,
            extra={"user": delivery.username, "action": "webhook", "retry_count": delivery.attempts + 1},
        )
        self.queue.failed(delivery.seq, error, self.clock() + delay)
        return False

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=POST_TIMEOUT_SECONDS, follow_redirects=False)
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
