"""The HTTP server's pure parts: the --http address, the admin token, request bodies, /healthz and /readyz,
the users to watch at start, and the loop's control methods (driven by a fake pipeline and a manual clock)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nostrweet.daemon.clock import ManualClock
from nostrweet.daemon.control import (
    Conflict,
    DaemonSnapshot,
    PersistentControl,
    UnknownUser,
    UserView,
    watched_users,
)
from nostrweet.daemon.ports import LoopSettings, PollResult
from nostrweet.daemon.runner import Daemon
from nostrweet.errors import InputError
from nostrweet.http import views
from nostrweet.http.api import ApiError, parse_new_user
from nostrweet.http.token import authorized, read_admin_token, token_file_warning
from nostrweet.listen import parse_listen
from nostrweet.secret import Secret
from nostrweet.state.engine import MEMORY, open_state
from nostrweet.state.users import UserRepo, UserRow


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
        ("localhost:9", ("localhost", 9)),
        ("[::1]:8080", ("::1", 8080)),
        (" metrics.internal:65535 ", ("metrics.internal", 65535)),
    ],
)
def test_listen_addresses(value: str, expected: tuple[str, int]) -> None:
    assert parse_listen(value) == expected


@pytest.mark.parametrize(
    "value",
    ["8080", ":8080", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:http", "::1:8080",
     "[::1]8080", "[nothost]:80", "bad host:80", "a/b:80", "127.0.0.1:-1", "127.0.0.1:８０"],
)  # fmt: skip
def test_bad_listen_addresses_are_one_clear_input_error(value: str) -> None:
    with pytest.raises(InputError) as err:
        parse_listen(value)
    assert "--http" in str(err.value)
    assert "\n" not in str(err.value)


TOKEN = Secret("s3cret-admin-token-0123456789")


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        ("Bearer s3cret-admin-token-0123456789", True),
        ("bearer s3cret-admin-token-0123456789", True),
        ("Bearer  s3cret-admin-token-0123456789 ", True),
        (None, False),
        ("", False),
        ("Bearer", False),
        ("Bearer s3cret-admin-token-012345678", False),
        ("Bearer s3cret-admin-token-01234567890", False),
        ("Basic s3cret-admin-token-0123456789", False),
        ("s3cret-admin-token-0123456789", False),
        ("Bearer ſ3cret", False),
    ],
)
def test_authorization_header(header: str | None, ok: bool) -> None:
    assert authorized(header, TOKEN) is ok


@given(st.text(max_size=80))
def test_a_header_without_the_token_is_never_authorized(header: str) -> None:
    if TOKEN.reveal() not in header:
        assert not authorized(header, TOKEN)
        assert not authorized(f"Bearer {header}", TOKEN)


def test_token_file(tmp_path: Path) -> None:
    path = tmp_path / "token"
    warnings: list[str] = []
    with pytest.raises(InputError, match="not found"):
        read_admin_token(path, warnings)
    path.write_text("  \n")
    with pytest.raises(InputError, match="empty"):
        read_admin_token(path, warnings)
    path.write_text("two words\n")
    with pytest.raises(InputError, match="one token"):
        read_admin_token(path, warnings)
    path.write_text("x" * 5000)
    with pytest.raises(InputError, match="over"):
        read_admin_token(path, warnings)
    path.write_text("  tok-123456789\n")
    path.chmod(0o600)
    assert read_admin_token(path, warnings).reveal() == "tok-123456789"
    assert warnings == []
    path.chmod(0o644)
    read_admin_token(path, warnings)
    assert len(warnings) == 1
    assert "open to other users" in warnings[0]
    assert "tok-123456789" not in warnings[0]


@pytest.mark.parametrize(
    ("mode", "uid", "warns"),
    [(0o600, 1000, False), (0o400, 0, False), (0o640, 0, False), (0o640, 1000, True), (0o604, 0, True)],
)
def test_token_file_modes(mode: int, uid: int, warns: bool) -> None:
    assert (token_file_warning(Path("t"), mode, uid) is not None) is warns


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"username": "Jack"}, ("jack", 20)),
        ({"username": "@a_b", "backfill": 0}, ("a_b", 0)),
        ({"username": "x", "backfill": 3200}, ("x", 3200)),
    ],
)
def test_new_user_bodies(body: Any, expected: tuple[str, int]) -> None:
    assert parse_new_user(body, 20) == expected


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "jack",
        {},
        {"username": 5},
        {"username": "../etc/passwd"},
        {"username": "a" * 16},
        {"username": "jack", "backfill": -1},
        {"username": "jack", "backfill": 3201},
        {"username": "jack", "backfill": True},
        {"username": "jack", "backfill": 1.5},
        {"username": "jack", "extra": 1},
    ],
)
def test_bad_new_user_bodies_are_400(body: Any) -> None:
    with pytest.raises(ApiError) as err:
        parse_new_user(body, 20)
    assert err.value.status == 400


def snapshot(now: float = 1000.0, last_progress: float = 1000.0, **kw: Any) -> DaemonSnapshot:
    return DaemonSnapshot(
        now=now,
        started=100.0,
        instance="host:1",
        poll_interval=60.0,
        effective_interval=60.0,
        last_progress=last_progress,
        **kw,
    )


def test_health_is_ok_until_three_poll_intervals_without_progress() -> None:
    assert views.health(snapshot(last_progress=1000 - 180))[0] == 200
    status, body = views.health(snapshot(last_progress=1000 - 181))
    assert status == 503
    assert body["status"] == "stalled"


def test_health_fields() -> None:
    snap = snapshot(
        users={
            "jack": UserView(
                last_poll=990.0, last_success=970.0, failures=2, backoff_seconds=120.0, posted=3
            ),
            "new": UserView(paused=True, posted=1),
        },
        relays={"ws://r": {"connected": True, "pending": 4, "accepted": 9}},
        tweets_cached=7,
    )
    status, body = views.health(snap)
    assert status == 200
    assert body == {
        "status": "ok",
        "uptime_seconds": 900.0,
        "instance": "host:1",
        "last_poll": "1970-01-01T00:16:30Z",
        "tweets_cached": 7,
        "events_posted": 4,
        "users": {
            "jack": {
                "last_poll": "1970-01-01T00:16:30Z",
                "lag_seconds": 30.0,
                "backoff_seconds": 120.0,
                "errors": 2,
                "paused": False,
            },
            "new": {
                "last_poll": None,
                "lag_seconds": None,
                "backoff_seconds": 0.0,
                "errors": 0,
                "paused": True,
            },
        },
        "relays": {"ws://r": {"connected": True, "pending": 4}},
    }


@pytest.mark.parametrize(
    ("relays", "loaded", "status"),
    [
        ({"ws://a": {"connected": True}}, True, 200),
        ({"ws://a": {"connected": False}, "ws://b": {"connected": True}}, True, 200),
        ({"ws://a": {"connected": False}}, True, 503),
        ({}, True, 503),
        ({"ws://a": {"connected": True}}, False, 503),
    ],
)
def test_readiness(relays: Mapping[str, Any], loaded: bool, status: int) -> None:
    assert views.readiness(snapshot(relays=relays, state_loaded=loaded))[0] == status


def test_users_to_watch_at_start() -> None:
    rows = {
        "jack": UserRow("jack", paused=True),
        "added": UserRow("added", added_at_runtime=True, backfill=5),
        "gone": UserRow("gone", added_at_runtime=False, paused=True, backfill=7),
    }
    watched = watched_users(["zed", "jack"], rows)
    assert watched.users == ["zed", "jack", "added"]
    assert watched.paused == {"jack"}
    assert watched.backfills == {"added": 5}


class Pipe:
    def __init__(self) -> None:
        self.polls: list[str] = []

    async def poll_user(self, username: str) -> PollResult:
        self.polls.append(username)
        if username == "bad":
            raise RuntimeError("token abcdef1234567890 refused")
        return PollResult(new_tweets=1, posted=1)

    async def run_outbox(self) -> None:
        return None

    def budgets(self) -> Mapping[str, Mapping[str, int | float | None]]:
        return {}

    def relay_status(self) -> Mapping[str, Mapping[str, Any]]:
        return {"ws://r": {"connected": True, "pending": 0}}


async def test_control_add_pause_resume_remove_persist() -> None:
    state = open_state(MEMORY)
    repo = UserRepo(state)
    clock = ManualClock(0.0)
    pipe = Pipe()
    daemon = Daemon(pipe, ["jack"], LoopSettings(poll_interval=60, stats_interval=3600), clock=clock)
    backfills: dict[str, int] = {}
    control = PersistentControl(daemon, repo, set_backfill=backfills.__setitem__)
    stop = asyncio.Event()
    task = asyncio.create_task(daemon.run(stop))
    await asyncio.sleep(0)

    control.add_user("@New", 3)
    assert "new" in control.snapshot().users
    assert repo.load("new") == UserRow("new", backfill=3, added_at_runtime=True)
    assert backfills == {"new": 3}
    with pytest.raises(Conflict):
        control.add_user("new")
    for _ in range(50):
        await asyncio.sleep(0)
    assert "new" in pipe.polls

    control.pause("new")
    assert repo.load("new").paused  # type: ignore[union-attr]
    count = pipe.polls.count("new")
    clock.t += 10 * 60
    daemon._wake.set()
    for _ in range(50):
        await asyncio.sleep(0)
    assert pipe.polls.count("new") == count
    with pytest.raises(Conflict):
        control.poll_now("new")
    control.resume("new")
    for _ in range(50):
        await asyncio.sleep(0)
    assert pipe.polls.count("new") > count
    assert not repo.load("new").paused  # type: ignore[union-attr]

    with pytest.raises(Conflict):
        control.remove_user("jack")  # from the command line: pause it instead
    with pytest.raises(UnknownUser):
        control.pause("nobody")
    with pytest.raises(InputError):
        control.pause("../x")
    from nostrweet.daemon.control import UnknownRelay

    retried: list[str] = []
    control.retry_relay = retried.append
    control.retry_outbox("ws://r")
    assert retried == ["ws://r"]
    with pytest.raises(UnknownRelay):
        control.retry_outbox("ws://elsewhere")
    control.remove_user("new")
    assert "new" not in control.snapshot().users
    assert repo.load("new") == UserRow("new", backfill=3, added_at_runtime=False)
    assert watched_users(["jack"], repo.load_all()).users == ["jack"]
    stop.set()
    await task
    state.close()


async def test_a_failed_poll_shows_in_recent_errors_scrubbed() -> None:
    from nostrweet.logs import register_secret

    register_secret("abcdef1234567890")
    clock = ManualClock(0.0)
    daemon = Daemon(Pipe(), ["bad"], LoopSettings(poll_interval=60, stats_interval=3600), clock=clock)
    stop = asyncio.Event()
    task = asyncio.create_task(daemon.run(stop))
    for _ in range(50):
        await asyncio.sleep(0)
    stop.set()
    await task
    snap = daemon.snapshot()
    assert snap.users["bad"].failures >= 1
    assert snap.users["bad"].backoff_seconds >= 60
    page = views.page_values(snap, 10)
    assert page["errors"][0]["user"] == "bad"
    assert "abcdef1234567890" not in str(page)
    assert os.sep not in page["errors"][0]["user"]


def test_metrics_from_a_snapshot_parse_with_the_official_parser() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from nostrweet.http.metrics import Metrics, PollDurationHook

    snap = snapshot(
        users={
            "jack": UserView(last_poll=990.0, polls=3, tweets_cached=12, errors_total=1, failures=1),
            "amy": UserView(paused=True),
        },
        relays={"ws://r": {"connected": False, "pending": 4, "accepted": 9, "rejected": 2}},
        budgets={"/2/users/:id/tweets": {"limit": 900, "remaining": 850, "reset": 2000}},
        tweets_cached=12,
    )
    metrics = Metrics(lambda: snap)
    PollDurationHook(metrics, lambda _user: 0.3).after_poll("jack", None)
    PollDurationHook(metrics, lambda _user: 2.0).after_poll("jack", RuntimeError("x"))
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics.render().decode())
        for s in family.samples
    }
    assert samples[("nostrweet_tweets_cached_total", (("user", "jack"),))] == 12
    assert samples[("nostrweet_polls_total", (("user", "jack"),))] == 3
    assert samples[("nostrweet_user_last_poll_timestamp_seconds", (("user", "jack"),))] == 990
    assert ("nostrweet_user_last_poll_timestamp_seconds", (("user", "amy"),)) not in samples
    assert samples[("nostrweet_user_paused", (("user", "amy"),))] == 1
    assert samples[("nostrweet_events_published_total", (("relay", "ws://r"), ("result", "accepted")))] == 9
    assert samples[("nostrweet_events_published_total", (("relay", "ws://r"), ("result", "rejected")))] == 2
    assert samples[("nostrweet_outbox_pending", (("relay", "ws://r"),))] == 4
    assert samples[("nostrweet_relay_connected", (("relay", "ws://r"),))] == 0
    assert samples[("nostrweet_x_rate_limit_remaining", (("endpoint", "/2/users/:id/tweets"),))] == 850
    assert samples[("nostrweet_errors_total", (("kind", "poll"),))] == 1
    assert samples[("nostrweet_leases_held", ())] == 1  # amy is paused
    assert samples[("nostrweet_poll_duration_seconds_count", (("result", "ok"),))] == 1
    assert samples[("nostrweet_poll_duration_seconds_count", (("result", "error"),))] == 1
    assert samples[("nostrweet_poll_duration_seconds_bucket", (("le", "0.5"), ("result", "ok")))] == 1
    assert any(name == "nostrweet_build_info" for name, _ in samples)


def test_the_page_values_show_users_relays_budgets() -> None:
    snap = snapshot(
        users={"jack": UserView(last_poll=990.0, backoff_seconds=120.0, failures=2)},
        relays={"ws://r": {"connected": True, "pending": 1}},
        budgets={"/2/users/:id/tweets": {"limit": 900, "remaining": 850, "reset": 1900}},
    )
    page = views.page_values(snap, 10)
    assert page["users"][0]["state"] == "backing off"
    assert page["users"][0]["backoff"] == "2 min"
    assert page["relays"] == [
        {"url": "ws://r", "connected": True, "pending": 1, "accepted": 0, "rejected": 0}
    ]
    assert page["budgets"][0]["reset"] == "1970-01-01T00:31:40Z"
    assert page["budgets"][0]["reset_in"] == "15 min"


def test_the_config_file_http_and_admin_tables() -> None:
    from nostrweet.config import check_config

    good, problems = check_config(
        '[http]\nlisten = "127.0.0.1:8080"\n[admin]\ntoken_file = "/run/t"\n', Path("c.toml")
    )
    assert problems == []
    assert good.get("http", "listen") == "127.0.0.1:8080"
    _, problems = check_config('[http]\nlisten = "8080"\nport = 1\n', Path("c.toml"))
    assert len(problems) == 2
    assert any("listen must be HOST:PORT" in p for p in problems)
    assert any("port" in p for p in problems)


async def test_changes_made_by_another_instance_reach_the_loop() -> None:
    from nostrweet.daemon.control import UserSync

    state = open_state(MEMORY)
    repo = UserRepo(state)
    daemon = Daemon(Pipe(), ["jack"], LoopSettings(poll_interval=60), clock=ManualClock(0.0))
    now = [0.0]
    backfills: dict[str, int] = {}
    sync = UserSync(daemon, repo, ["jack"], every=5, clock=lambda: now[0], set_backfill=backfills.__setitem__)
    # another instance adds "amy" (backfill 7) and pauses "jack"
    repo.save_many([UserRow("amy", added_at_runtime=True, backfill=7), UserRow("jack", paused=True)])
    sync.after_round(daemon)
    assert set(daemon.snapshot().users) == {"jack"}  # not yet: every 5 s
    now[0] = 5.0
    sync.after_round(daemon)
    users = daemon.snapshot().users
    assert set(users) == {"jack", "amy"}
    assert users["jack"].paused and not users["amy"].paused
    assert not users["amy"].fixed
    assert backfills == {"amy": 7}
    # then removes "amy" and resumes "jack"
    repo.save_many([UserRow("amy", added_at_runtime=False, backfill=7), UserRow("jack", paused=False)])
    now[0] = 10.0
    sync.after_round(daemon)
    users = daemon.snapshot().users
    assert set(users) == {"jack"}
    assert not users["jack"].paused
    # a row saying "not watched" never removes a user of the command line
    repo.remove("jack")
    now[0] = 15.0
    sync.after_round(daemon)
    assert set(daemon.snapshot().users) == {"jack"}
    state.close()
