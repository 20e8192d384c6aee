"""The daemon's side of the webhooks: a loop hook that delivers in the background and tells of failing users.

``after_round`` starts a delivery pass on its own task when none is running and one is due (every
``every`` seconds, and at once after something was queued by this process); the loop never waits for
it. ``after_poll`` counts each user's failed polls in a row and queues one ``user.failing`` when the
count reaches the alert threshold (``[alerts] user_failures``); a good poll ends the streak.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from nostrweet.webhooks.sender import Webhooks

__all__ = ["WebhookLoopHook"]

log = logging.getLogger(__name__)

DELIVERY_EVERY_SECONDS = 5.0


class WebhookLoopHook:
    """A :class:`~nostrweet.daemon.ports.LoopHook` for the webhooks."""

    def __init__(
        self,
        webhooks: Webhooks,
        *,
        failures_threshold: int,
        every: float = DELIVERY_EVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.webhooks = webhooks
        self.threshold = max(1, failures_threshold)
        self.every = every
        self.clock = clock
        self._task: asyncio.Task[int] | None = None
        self._next = 0.0
        self._streaks: dict[str, tuple[int, float]] = {}  # user -> (failed polls in a row, since)

    def after_round(self, loop: Any) -> None:
        """Start a delivery pass when due and none is running."""
        if self._task is not None and not self._task.done():
            return
        now = self.clock()
        if now < self._next:
            return
        self._next = now + self.every
        self._task = asyncio.get_running_loop().create_task(self._deliver())

    async def _deliver(self) -> int:
        try:
            return await self.webhooks.deliver_due()
        except Exception as exc:  # the state is away: try again at the next pass
            log.warning("webhook deliveries: %s: %s", exc.__class__.__name__, exc)
            return 0

    def after_poll(self, user: str, error: BaseException | None) -> None:
        """Count failed polls in a row; queue ``user.failing`` once per streak at the threshold."""
        if error is None:
            self._streaks.pop(user, None)
            return
        count, since = self._streaks.get(user, (0, time.time()))
        count += 1
        self._streaks[user] = (count, since)
        if count == self.threshold:
            self.webhooks.user_failing(user, since)
            self._next = 0.0  # deliver at the next round

    async def aclose(self) -> None:
        """Let a pass in flight end (at most 2 s), then close the HTTP client."""
        if self._task is not None and not self._task.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 2.0)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()
        await self.webhooks.aclose()
