"""B2s: our relay stack alone, sending B2a's signed events, against the same bare client.

B2a's transfer without the command's start-up or signing. The events are the ones
``post-user-to-nostr`` signs in B2a (one untimed run of it against a throwaway relay, read back
from its records). Ours: in this process, the relay pool as the publisher uses it
(:class:`~nostrweet.nostr.relays.RelayPool`, ``publish_many`` with every event for the one relay),
timed from before the connect to the last OK; the pool's close is not timed. The limit: B2a's bare
``websockets`` client over the same span (connect to last OK). Each side gets its own fresh
nostr-sdk ``LocalRelay`` in a helper interpreter; every event must be accepted on both.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from benchmarks.b2_publish import run_bare, run_ours, sdk_relay, source_data
from benchmarks.gen_cache import username_of
from benchmarks.harness import Row
from nostrweet.nostr.event import SignedEvent
from nostrweet.nostr.relays import RelayPool
from nostrweet.publish.delivery import IN_FLIGHT

if TYPE_CHECKING:
    from benchmarks.__main__ import Context


def signed_events(ctx: Context) -> list[dict[str, Any]]:
    """B2a's events: post-user-to-nostr on a fresh copy of B2's cache, read back from its records."""
    with sdk_relay() as url:
        _, events, accepted = run_ours(source_data(ctx), ctx.work / "b2s-data", url, username_of(0))
    if accepted != len(events):
        raise RuntimeError(f"post-user-to-nostr had {accepted} of {len(events)} events accepted")
    return events


async def _pool_publish(url: str, events: Sequence[SignedEvent]) -> tuple[float, int]:
    start = time.perf_counter()
    pool = RelayPool([url])
    try:
        await pool.start()
        answers = await pool.publish_many([(e, [url]) for e in events], in_flight=IN_FLIGHT)
        took = time.perf_counter() - start
    finally:
        await pool.close()
    return took, sum(a[url].outcome in ("accepted", "duplicate") for a in answers)


def run_pool(url: str, events: Sequence[SignedEvent]) -> tuple[float, int]:
    """Send ``events`` through a fresh one-relay pool; (seconds from connect to last OK, accepted)."""
    return asyncio.run(_pool_publish(url, events))


def run_b2s(ctx: Context) -> list[Row]:
    """B2s: the pool against the bare client, alternating, each run on a fresh relay."""
    events = signed_events(ctx)
    signed = [SignedEvent.from_dict(e) for e in events]
    n = len(events)
    seconds: dict[str, list[float]] = {"ours": [], "bare": []}
    runs: list[dict[str, Any]] = []
    reps = 3 if ctx.smoke else 7  # a run is ~0.2 s: the relay's noise needs more than three
    for rep in range(reps):
        for who in ("ours", "bare") if rep % 2 == 0 else ("bare", "ours"):
            with sdk_relay() as url:
                if who == "ours":
                    took, accepted = run_pool(url, signed)
                else:
                    took, accepted = run_bare(url, events, until_closed=False)
            if accepted != n:
                raise RuntimeError(f"{who}: {accepted} of {n} events accepted")
            seconds[who].append(took)
            runs.append({"who": who, "seconds": round(took, 4), "accepted": accepted})
    ours = n / statistics.median(seconds["ours"])
    bare = n / statistics.median(seconds["bare"])
    return [
        Row(
            id="B2s",
            what=(
                f"relay stack (RelayPool.publish_many) to nostr-sdk LocalRelay, {n:,} events: "
                "B2a's transfer without start-up or signing"
            ),
            unit="ev/s",
            ours=ours,
            limit=bare,
            limit_what="bare websockets client",
            figure=ours / bare,
            figure_what="of bare",
            op=">=",
            target=0.7,
            details={
                "events": n,
                "ours_seconds": [round(s, 4) for s in seconds["ours"]],
                "bare_seconds": [round(s, 4) for s in seconds["bare"]],
                "runs": runs,
            },
        )
    ]
