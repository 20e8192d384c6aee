"""What a send that got no OK in time means: a slow relay's late OK, a lost OK, a rejection, or a dead relay.

nostr-sdk reports ``timeout`` when no OK matched the event within ``ok_timeout``. On a connection that
is still alive that is not enough to call the relay dead:

- a relay that answers slowly but steadily gets its OK awaited as long as the connection saw a frame
  within the last ``ok_timeout`` (:func:`await_late_ok`, reading what our transport recorded);
- otherwise the relay is asked whether it stored the event (:func:`verify_stored`): stored means
  accepted (its OK was lost), answered-without-it means rejected, no answer means down.

The relay pool decides what "down" does to a relay; it is passed in as ``mark_down``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import nostr_sdk

from nostrweet.nostr.answers import RelayAnswer, classify_ok
from nostrweet.nostr.relay_state import RelayState
from nostrweet.nostr.transport import RepairingTransport

MarkDown = Callable[[RelayState, str], None]


async def still_connected(client: Any, relay: RelayState) -> bool:
    """True if ``client``'s connection to the relay is up."""
    try:
        handle = await client.relay(relay.sdk_url)
    except Exception:
        return False
    return handle is not None and handle.status() == nostr_sdk.RelayStatus.CONNECTED


async def await_late_ok(
    client: Any,
    relay: RelayState,
    sdk_event: Any,
    transport: RepairingTransport | None,
    *,
    ok_timeout: float,
    mark_down: MarkDown,
) -> RelayAnswer:
    """No OK within ``ok_timeout``, yet the connection is alive: wait while the relay makes progress.

    A relay that answers its messages slowly but steadily (PyPI nostr-relay sleeps 2 s before each
    message once it has rejected one on that connection) is not dead: its OK is awaited as long as
    the connection saw a frame within the last ``ok_timeout``. Silence for that long marks it down.
    """
    url = relay.url
    event_id = sdk_event.id().to_hex()
    while transport is not None:
        adapter = transport.adapter(str(relay.sdk_url))
        if adapter is None:
            break
        answer = adapter.answers.get(event_id)
        if answer is not None:
            return RelayAnswer(url, classify_ok(answer[0], answer[1]), answer[1])
        if not adapter.waiting(event_id):
            break  # sent on a connection that is gone: ask the relay whether it has it
        if time.monotonic() - adapter.last_seen >= ok_timeout:
            mark_down(relay, "timeout")
            return RelayAnswer(url, "pending", "timeout")
        await asyncio.sleep(0.05)
    return await verify_stored(client, relay, sdk_event, ok_timeout=ok_timeout, mark_down=mark_down)


async def verify_stored(
    client: Any, relay: RelayState, sdk_event: Any, *, ok_timeout: float, mark_down: MarkDown
) -> RelayAnswer:
    """No OK came, yet the connection is alive: ask the relay whether it stored the event.

    Some relays (PyPI nostr-relay 1.14) answer a rejected event with ``["OK", "", false, reason]``:
    the SDK cannot match an OK without the event id, so it reports a timeout and the reason is lost.
    A relay that answers the query without the event did not store it: a rejection, recorded once
    and not retried. A relay that does not answer the query either is marked down.
    """
    url = relay.url
    wait = min(ok_timeout, 5.0)
    event_id = sdk_event.id().to_hex()
    sdk_filter = nostr_sdk.Filter.from_json(json.dumps({"ids": [event_id]}))
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        found = await client.fetch_events(
            nostr_sdk.ReqTarget.manual({relay.sdk_url: [sdk_filter]}), timedelta(seconds=wait)
        )
    except Exception:
        found = None
    if found:
        return RelayAnswer(url, "accepted", "stored (its OK was lost)")
    if found is None or loop.time() - started >= wait * 0.95:
        mark_down(relay, "timeout")
        return RelayAnswer(url, "pending", "timeout")
    return RelayAnswer(
        url,
        "rejected",
        f"unmatched: no OK for this event within {ok_timeout:g} s and the relay did not store it",
    )
