"""A steady poll's bookkeeping (both backends): the user's row is read once while this process holds the
user and written only when the watermark moves; a user taken again is read again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nostrweet.state.users import UserRepo
from tests.fakes.x_api import FakeXApi
from tests.fakes.x_world import World
from tests.integration.publish_helpers import running_pipeline

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
    sdk_relay: str, fake_x: FakeXApi, x_world: World, data_dir: Path, state_url: str
) -> None:
    x_world.hold_back(UID, keep=2)
    name = NAME.lower()
    async with running_pipeline(
        fake_x, data_dir, [NAME], [sdk_relay], backfill=2, state_url=state_url
    ) as pipeline:
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
