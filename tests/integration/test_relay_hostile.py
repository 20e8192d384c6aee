"""Hostile relays through the real publish path: OKs read strictly, frames bounded (SPEC §4, "Relay answers").

A tiny websockets server stands in for a hostile relay next to a real one (nostr-sdk's in-process relay).
Only a JSON ``true`` for the event's own id counts as accepted; an OK with a flag that is not a boolean
is a failed send retried later; an OK whose id is not hex answers nothing. A frame over
:data:`~nostrweet.nostr.transport.MAX_FRAME_BYTES` closes that connection (the relay is down, retried
later) without being read; the other relay still gets the event and memory stays flat.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from nostrweet.nostr.keys import KeyDeriver
from nostrweet.nostr.relays import RelayPool
from nostrweet.publish.outbox import Outbox
from nostrweet.publish.publisher import Publisher
from nostrweet.settings import Secret
from nostrweet.store import CacheStore
from tests.fakes.x_api import FakeXApi
from tests.integration.publish_helpers import REPO, make_cli, records

pytestmark = pytest.mark.integration

USER = "MarchePinna"
NOT_HEX = "z" * 64


@dataclass
class Hostile:
    """What the hostile relay answers to an EVENT (``mode``), and what it saw."""

    url: str = ""
    mode: str = "honest"
    frame_bytes: int = 4 << 20
    close_codes: list[int | None] = field(default_factory=list)
    events: int = 0


def answer(hostile: Hostile, event_id: str) -> str:
    if hostile.mode == "string-false":
        return json.dumps(["OK", event_id, "false", "invalid: nope"])
    if hostile.mode == "string-true":
        return json.dumps(["OK", event_id, "true", ""])
    if hostile.mode == "not-hex-id":
        return json.dumps(["OK", NOT_HEX, True, ""])
    if hostile.mode == "huge":
        return json.dumps(["NOTICE", "x" * hostile.frame_bytes])
    return json.dumps(["OK", event_id, True, ""])


@pytest.fixture
async def hostile() -> AsyncIterator[Hostile]:
    state = Hostile()

    async def handler(ws: ServerConnection) -> None:
        try:
            async for raw in ws:
                msg = json.loads(raw)
                if msg[0] == "EVENT":
                    state.events += 1
                    await ws.send(answer(state, msg[1]["id"]))
                elif msg[0] == "REQ":
                    await ws.send(json.dumps(["EOSE", msg[1]]))
        except ConnectionClosed:
            pass
        finally:
            state.close_codes.append(ws.close_code)

    async with serve(handler, "127.0.0.1", 0, max_size=None) as server:
        state.url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        yield state


def statuses(data_dir: Path, relay: str) -> list[str]:
    return [r["relays"][relay]["status"] for r in records(data_dir).values() if relay in r["relays"]]


@pytest.mark.parametrize("mode", ["string-false", "string-true", "not-hex-id"])
async def test_malformed_oks_are_never_accepted_and_are_retried(
    mode: str, hostile: Hostile, sdk_relay: str, fake_x: FakeXApi, tmp_path: Path
) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    cli.run("user-tweets", USER, "--count", "5")
    store = CacheStore(cli.data_dir)
    tweet_id = str(store.tweet_ids_of(USER.lower())[-1])
    hostile.mode = mode
    relays = [hostile.url, sdk_relay]
    pool = RelayPool(relays, ok_timeout=2, connect_timeout=2)
    await pool.start()
    try:
        publisher = Publisher(store, KeyDeriver(Secret(cli.mnemonic)), pool, relays=relays)
        publisher.publish_profiles = False
        await publisher.publish_tweet(tweet_id)
        assert hostile.events >= 1
        assert set(statuses(cli.data_dir, sdk_relay)) == {"accepted"}
        # neither accepted (final) nor rejected (final): pending, so it is sent again later
        assert set(statuses(cli.data_dir, hostile.url)) == {"pending"}
    finally:
        await pool.close()
    # later (a relay marked down is reconnected first; here: a new pool), the outbox sends it again
    hostile.mode = "honest"
    sent = hostile.events
    async with RelayPool(relays, ok_timeout=2, connect_timeout=2) as pool:
        publisher = Publisher(store, KeyDeriver(Secret(cli.mnemonic)), pool, relays=relays)
        await Outbox(publisher).run_once(now=publisher.clock() + 10**7)
    assert hostile.events > sent
    assert set(statuses(cli.data_dir, hostile.url)) == {"accepted"}


async def test_oversized_frame_closes_that_connection_and_the_other_relay_gets_the_event(
    hostile: Hostile, sdk_relay: str, fake_x: FakeXApi, tmp_path: Path
) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    cli.run("user-tweets", USER, "--count", "5")
    store = CacheStore(cli.data_dir)
    tweet_id = str(store.tweet_ids_of(USER.lower())[-1])
    hostile.mode = "huge"  # a 4 MiB frame in answer to every EVENT
    relays = [hostile.url, sdk_relay]
    async with RelayPool(relays, ok_timeout=2, connect_timeout=2) as pool:
        publisher = Publisher(store, KeyDeriver(Secret(cli.mnemonic)), pool, relays=relays)
        publisher.publish_profiles = False
        outcome = await publisher.publish_tweet(tweet_id)
        assert hostile.events >= 1
        assert not pool.status()[hostile.url].connected
    assert outcome.status != "error"
    assert set(statuses(cli.data_dir, sdk_relay)) == {"accepted"}
    assert set(statuses(cli.data_dir, hostile.url)) == {"pending"}
    assert 1009 in hostile.close_codes  # "message too big": we closed it without reading the frame


MEMORY_SCRIPT = """
import asyncio, json, resource, sys
from nostrweet.nostr.relays import RelayPool
from tests.fakes.nostr_helpers import make_event, random_key

async def main() -> None:
    relays = sys.argv[1:]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    async with RelayPool(relays, ok_timeout=3, connect_timeout=3) as pool:
        answers = {}
        for n in range(3):
            got = await pool.publish(make_event(random_key(), f"note {n}"))
            answers = {url: a.outcome for url, a in got.items()}
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"grew_kib": after - before, "answers": answers}))

asyncio.run(main())
"""


async def test_a_huge_relay_frame_does_not_balloon_memory(hostile: Hostile, sdk_relay: str) -> None:
    hostile.mode = "huge"
    hostile.frame_bytes = 64 << 20  # the frame size of the report (52 → 309 MB before)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        MEMORY_SCRIPT,
        hostile.url,
        sdk_relay,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    result = json.loads(out.decode().strip().splitlines()[-1])
    assert result["answers"][sdk_relay] == "accepted"
    assert result["answers"][hostile.url] == "pending"
    assert result["grew_kib"] < 64 * 1024, result
