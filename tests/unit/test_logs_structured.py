"""Structured fields in JSON logs: from extra=, from the task's context, never leaking across tasks."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from nostrweet.logs import JsonFormatter, RedactingFilter, context_with, log_fields


@pytest.fixture
def json_log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("nostrweet.test_structured")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_extra_keys_become_fields(json_log: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = json_log
    logger.warning("tweet %s: x", "123", extra={"tweet_id": "123", "action": "media", "retry_count": 2})
    logger.info("plain")
    first, second = lines(stream)
    assert (first["tweet_id"], first["action"], first["retry_count"]) == ("123", "media", 2)
    assert first["message"] == "tweet 123: x"
    assert "tweet_id" not in second and "user" not in second


def test_context_fields_reach_every_record_of_the_task(json_log: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = json_log

    async def poll(name: str) -> None:
        await asyncio.sleep(0)
        logger.info("deep inside %s", name, extra={"tweet_id": "9"})
        with log_fields(action="publish"):
            logger.info("publishing")
        logger.info("after")

    async def main() -> None:
        await asyncio.gather(
            asyncio.create_task(poll("a"), context=context_with(user="a", action="poll")),
            asyncio.create_task(poll("b"), context=context_with(user="b", action="poll")),
        )
        logger.info("outside")

    asyncio.run(main())
    got = lines(stream)
    by_user: dict[str, list[dict[str, Any]]] = {}
    for line in got:
        by_user.setdefault(line.get("user", "-"), []).append(line)
    for user in ("a", "b"):
        records = by_user[user]
        assert [r["action"] for r in records] == ["poll", "publish", "poll"]
        assert records[0]["tweet_id"] == "9" and records[0]["message"] == f"deep inside {user}"
    assert by_user["-"] == [{k: v for k, v in by_user["-"][0].items()}]
    assert "action" not in by_user["-"][0]
