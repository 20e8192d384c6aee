"""A steady poll's bookkeeping (both backends): the user's row is read once while this process holds the
user and written only when the watermark moves; a user taken again is read again."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from mnemonic import Mnemonic

from nostrweet.config import ConfigFile
from nostrweet.daemon.config import DaemonConfig
from nostrweet.daemon.pipeline import DaemonPipeline
from nostrweet.nostr.keys import KeyDeriver
from nostrweet.nostr.relays import RelayPool
from nostrweet.settings import GlobalOptions, Secret
from nostrweet.state.users import UserRepo
from tests.fakes.x_api import FakeXApi
from tests.fakes.x_world import World

pytestmark = pytest.mark.integration

UID, NAME = "1154498013626327041", "WhoDisTweet"


class Counting:
    """Counts the calls of one method of an object, then calls it."""

    def __init__(self, target: Any, method: str) -> None:
        self.calls = 0
        self._inner = getattr(target, method)
        setattr(target, method, self)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self._inner(*args, **kwargs)


async def test_a_steady_poll_neither_reads_nor_writes_the_users_row(
    sdk_relay: str, fake_x: FakeXApi, x_world: World, tmp_path: Path, state_url: str
) -> None:
    x_world.hold_back(UID, keep=2)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    phrase = Mnemonic("english").generate(128)
    options = GlobalOptions(
        data_dir=data_dir,
        bearer_token=Secret(fake_x.bearer_token),
        mnemonic=Secret(phrase),
        twitter_api_url=fake_x.url,
        key_derivation="nip06",
        config=ConfigFile(),
        log_level=logging.WARNING,
        log_format="text",
        state_url=state_url,
    )
    config = DaemonConfig(users=(NAME,), relays=(sdk_relay,), blossom_servers=(), backfill=2)
    pipeline = DaemonPipeline(options, config, keys=KeyDeriver(Secret(phrase)), pool=RelayPool([sdk_relay]))
    name = NAME.lower()
    try:
        await pipeline.start()
        loads, saves = Counting(pipeline.states, "load"), Counting(pipeline.states, "save")
        assert (await pipeline.poll_user(NAME)).posted == 2  # the first run: read, target, watermark
        first = UserRepo(pipeline.state).load(name)
        assert first is not None and first.since_id is not None
        assert (loads.calls, saves.calls) == (1, 2)
        assert (await pipeline.poll_user(NAME)).new_tweets == 0
        assert (loads.calls, saves.calls) == (1, 2)  # nothing new: the row is neither read nor written
        assert fake_x.requests_to("/2/users/{id}/tweets")[-1].query["since_id"] == first.since_id
        x_world.hold_back(UID, keep=3)
        assert (await pipeline.poll_user(NAME)).new_tweets == 1
        assert (loads.calls, saves.calls) == (1, 3)  # the watermark moved: written
        moved = UserRepo(pipeline.state).load(name)
        assert moved is not None and int(moved.since_id or 0) > int(first.since_id)
        pipeline.forget([NAME])  # handed back and taken again: another instance may have moved it
        UserRepo(pipeline.state).update(name, since_id=first.since_id)
        assert (await pipeline.poll_user(NAME)).new_tweets == 0  # cached already: skipped
        assert loads.calls == 2
        assert fake_x.requests_to("/2/users/{id}/tweets")[-1].query["since_id"] == first.since_id
    finally:
        await pipeline.aclose()
