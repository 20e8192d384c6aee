"""The daemon's stats record and its text rendering."""

from __future__ import annotations

import json
import logging

from hypothesis import given
from hypothesis import strategies as st

from nostrweet.daemon.stats import UserStats, build_stats_record, format_stats_text, iso, log_stats
from nostrweet.logs import JsonFormatter, TextFormatter


def sample() -> dict[str, object]:
    return build_stats_record(
        now=1_700_003_725.0,
        started=1_700_000_000.0,
        users={
            "alice": UserStats(polls=5, new_tweets=7, posted=9, errors=0, last_poll=1_700_003_700.0),
            "bob": UserStats(polls=3, new_tweets=0, posted=0, errors=3, last_poll=1_700_003_600.0),
        },
        backoff={"alice": 0.0, "bob": 240.0},
        next_poll={"alice": 1_700_003_800.0, "bob": 1_700_003_840.0},
        budgets={"/2/users/:id/tweets": {"limit": 1500, "remaining": 1490, "reset": 1_700_004_000}},
        relays={
            "ws://a": {"connected": True, "accepted": 9, "rejected": 1, "pending": 0, "last_error": None},
            "ws://b": {"connected": False, "accepted": 2, "rejected": 0, "pending": 7},
        },
        effective_interval=300.0,
        poll_interval=300.0,
    )


def test_record_fields() -> None:
    rec = sample()
    assert rec["event"] == "stats"
    assert rec["uptime"] == 3725.0
    assert rec["totals"] == {
        "users": 2,
        "polls": 8,
        "new_tweets": 7,
        "posted": 9,
        "errors": 3,
        "backing_off": 1,
    }
    users = rec["users"]
    assert isinstance(users, dict)
    assert users["alice"] == {
        "last_poll": "2023-11-14T23:15:00Z",
        "polls": 5,
        "new_tweets": 7,
        "posted": 9,
        "errors": 0,
        "backoff": 0.0,
        "next_poll_in": 75.0,
    }
    assert users["bob"]["backoff"] == 240.0
    assert rec["relays"] == {
        "ws://a": {"connected": True, "accepted": 9, "rejected": 1, "pending": 0},
        "ws://b": {"connected": False, "accepted": 2, "rejected": 0, "pending": 7},
    }
    assert rec["api_budget"] == {
        "/2/users/:id/tweets": {"limit": 1500, "remaining": 1490, "reset": 1_700_004_000}
    }


def test_text_line() -> None:
    line = format_stats_text(sample())
    assert "\n" not in line
    assert line.startswith("stats: up 1h02m05s")
    for part in ("users 2", "polls 8", "new 7", "posted 9", "errors 3", "backing-off 1", "interval 300s"):
        assert part in line
    assert "/2/users/:id/tweets=1490/1500" in line
    assert "ws://b[down ok=2 rej=0 pend=7]" in line


def test_logged_as_json_and_text() -> None:
    logger = logging.getLogger("test.stats")
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        log_stats(sample(), logger)
    finally:
        logger.removeHandler(handler)
    (record,) = records
    obj = json.loads(JsonFormatter().format(record))
    assert obj["event"] == "stats" and obj["totals"]["posted"] == 9 and obj["level"] == "info"
    assert "posted 9" in TextFormatter().format(record)


@given(
    st.dictionaries(
        st.from_regex(r"[a-z0-9_]{1,15}", fullmatch=True),
        st.tuples(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6)),
        max_size=20,
    )
)
def test_totals_are_sums(users: dict[str, tuple[int, int, int]]) -> None:
    stats = {u: UserStats(polls=1, new_tweets=n, posted=p, errors=e) for u, (n, p, e) in users.items()}
    rec = build_stats_record(
        now=10.0,
        started=0.0,
        users=stats,
        backoff={},
        next_poll={},
        budgets={},
        relays={},
        effective_interval=5.0,
        poll_interval=5.0,
    )
    totals = rec["totals"]
    assert totals["new_tweets"] == sum(v[0] for v in users.values())
    assert totals["posted"] == sum(v[1] for v in users.values())
    assert totals["errors"] == sum(v[2] for v in users.values())
    assert json.loads(json.dumps(rec)) == rec


def test_iso() -> None:
    assert iso(None) is None
    assert iso(0) == "1970-01-01T00:00:00Z"
