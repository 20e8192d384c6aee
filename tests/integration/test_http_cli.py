"""The daemon's HTTP server end to end: the real CLI daemon with ``--http``, the fake X API and relays.

- ``/healthz``, ``/readyz`` and ``/metrics`` (parsed with prometheus_client's own parser) against what
  happened: tweets cached, events accepted by the relay, the relay taken down shows ``connected 0``;
- the admin API: 401 without or with a wrong token, 400 on bad names and bodies, a user added through it
  is polled and its tweets reach the relay, and it shows at once on /healthz, /metrics and the page;
  pause, resume, poll now, delete; the changes survive a restart without the admin token;
- NIP-05 answers parsed and verified by nostr-sdk;
- hostile clients: connections over the limit get a 503 at once, trickling clients and huge headers do not
  stop the polling;
- the dashboard in Debian's headless chromium (skipped, with one line, where chromium is missing).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import httpx
import nostr_sdk
import pytest
from prometheus_client.parser import text_string_to_metric_families

from nostrweet.nostr.keys import KeyDeriver
from nostrweet.secret import Secret
from tests.fakes.relay_fixtures import SdkRelay
from tests.fakes.x_api import FakeXApi
from tests.integration.test_daemon import (
    MNEMONIC,
    SMALL_USERS,
    DaemonProc,
    daemons,
    tweet_ids_on,
    wait_for,
)

pytestmark = pytest.mark.integration

__all__ = ["daemons"]  # the fixture, imported so that pytest finds it here

ADMIN_TOKEN = "admin-tok-7f3e9b2c4d5a6e1f"
DOMAIN = "mirror.example"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Http:
    """A small client of one daemon's HTTP server."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.port = port

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(self.base + path, timeout=10, **kw)

    def api(self, method: str, path: str, token: str | None = ADMIN_TOKEN, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return httpx.request(method, f"{self.base}/api/v1{path}", headers=headers, timeout=10, **kw)

    def up(self) -> bool:
        try:
            return self.get("/healthz").status_code in (200, 503)
        except httpx.HTTPError:
            return False

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        text = self.get("/metrics").text
        out = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return out

    def metric(self, name: str, **labels: str) -> float | None:
        return self.metrics().get((name, tuple(sorted(labels.items()))))


def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "admin-token"
    path.write_text(f"  {ADMIN_TOKEN}\n")
    path.chmod(0o600)
    return path


def start(
    tmp_path: Path, fake_x: FakeXApi, relays: list[str], users: list[str], *extra: str
) -> tuple[DaemonProc, Http]:
    port = free_port()
    d = DaemonProc(
        tmp_path, tmp_path / "data", fake_x, relays, users, extra=["--http", f"127.0.0.1:{port}", *extra]
    )
    d.start()
    http = Http(port)
    wait_for(http.up, 30, "the HTTP server", d)
    return d, http


def pubkey_of(user_id: str) -> str:
    return KeyDeriver(Secret(MNEMONIC)).for_user(user_id).pubkey_hex


def test_health_metrics_admin_api_and_nip05(
    tmp_path: Path, fake_x: FakeXApi, sdk_relay_server: SdkRelay, daemons: list[DaemonProc]
) -> None:
    (uid0, user0), (uid1, user1), (_uid2, user2) = SMALL_USERS
    name0, name1, name2 = user0.lower(), user1.lower(), user2.lower()
    for uid, _ in SMALL_USERS:
        fake_x.world.hold_back(uid, keep=2)
    relay = sdk_relay_server.url
    d, http = start(
        tmp_path, fake_x, [relay], [user0], "--admin-token-file", str(token_file(tmp_path)),
        "--nip05-domain", DOMAIN,
    )  # fmt: skip
    daemons.append(d)

    # -- health and readiness, and metrics against what happened
    wait_for(lambda: http.get("/readyz").status_code == 200, 30, "readiness", d)
    visible0 = set(fake_x.world.timeline(uid0))
    wait_for(lambda: visible0 <= tweet_ids_on(relay), 40, "the first user's tweets on the relay", d)
    wait_for(lambda: (http.metric("nostrweet_polls_total", user=name0) or 0) >= 1, 20, "a counted poll", d)

    def settled() -> bool:  # the answers to the last sends (profile, relay list) are recorded, and the
        # answer (made at most once a second) was made after the first poll
        body = http.get("/healthz").json()
        polled = body["users"].get(name0, {}).get("lag_seconds") is not None
        return bool(polled and body["relays"].get(relay, {}).get("pending") == 0)

    wait_for(settled, 20, "no event pending on the relay", d)
    # every OK of the relay is in the latency histogram: at least one per tweet published
    oks = http.metric("nostrweet_relay_ok_latency_seconds_count", relay=relay) or 0
    assert oks >= len(visible0), oks
    assert (http.metric("nostrweet_relay_ok_latency_seconds_bucket", relay=relay, le="+Inf") or 0) == oks
    health = http.get("/healthz")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok"
    assert set(body["users"]) == {name0}
    assert body["users"][name0]["errors"] == 0
    assert body["users"][name0]["paused"] is False
    assert body["users"][name0]["lag_seconds"] is not None
    assert body["relays"] == {relay: {"connected": True, "pending": 0}}
    assert body["tweets_cached"] >= len(visible0)
    assert body["events_posted"] >= len(visible0)
    assert body["last_poll"] is not None
    cached = http.metric("nostrweet_tweets_cached_total", user=name0)
    assert cached is not None and cached >= len(visible0)
    assert http.metric("nostrweet_relay_connected", relay=relay) == 1
    accepted = http.metric("nostrweet_events_published_total", relay=relay, result="accepted")
    assert accepted is not None and accepted >= len(visible0)
    assert http.metric("nostrweet_outbox_pending", relay=relay) == 0
    assert (http.metric("nostrweet_poll_duration_seconds_count", result="ok") or 0) >= 1
    assert http.metric("nostrweet_x_rate_limit_remaining", endpoint="/2/users/:id/tweets") is not None
    assert http.metric("nostrweet_leases_held") == 1
    assert any(name == "nostrweet_build_info" for name, _labels in http.metrics())

    # -- the admin API: authentication and bad input
    assert http.api("GET", "/users", token=None).status_code == 401
    wrong = http.api("GET", "/users", token="not-the-token")
    assert wrong.status_code == 401
    assert "error" in wrong.json()
    assert http.api("POST", "/users", json={"username": "../etc/passwd"}).status_code == 400
    assert http.api("POST", "/users", content=b"{not json").status_code == 400
    assert http.api("POST", "/users", content=b"[" * 100_000).status_code == 400
    assert http.api("POST", "/users", json={"username": "x" * 200_000}).status_code == 400
    assert http.api("POST", "/users/..%2F..%2Fetc/pause").status_code in (400, 404)
    assert http.api("GET", "/no/such/path").status_code == 404
    assert http.api("DELETE", f"/users/{user0}").status_code == 409  # from the command line
    assert http.api("DELETE", "/users/nobody_here").status_code == 404

    # -- add a user: it shows at once, and its tweets reach the relay
    added = http.api("POST", "/users", json={"username": user1, "backfill": 5})
    assert added.status_code == 201, added.text
    assert added.json()["username"] == name1
    assert http.api("POST", "/users", json={"username": user1}).status_code == 409
    assert name1 in http.get("/healthz").json()["users"]
    assert http.metric("nostrweet_user_paused", user=name1) == 0
    assert f'data-user="{name1}"' in http.get("/").text
    listed = http.api("GET", "/users").json()["users"]
    assert [u["username"] for u in listed] == sorted([name0, name1])
    visible1 = set(fake_x.world.timeline(uid1))
    wait_for(lambda: visible1 <= tweet_ids_on(relay), 30, "the added user's tweets on the relay", d)

    # -- pause, poll now, resume
    assert http.api("POST", f"/users/{user1}/pause").status_code == 202
    assert http.get("/healthz").json()["users"][name1]["paused"] is True
    assert http.api("POST", f"/users/{user1}/poll").status_code == 409
    assert http.api("POST", f"/users/{user1}/resume").status_code == 202
    polls = http.metric("nostrweet_polls_total", user=name1) or 0
    assert http.api("POST", f"/users/{user1}/poll").json() == {"ok": True}
    wait_for(lambda: (http.metric("nostrweet_polls_total", user=name1) or 0) > polls, 20, "a poll now", d)

    # -- the outbox
    assert http.api("GET", "/outbox").json() == {"relays": {relay: {"pending": 0, "events": []}}}
    assert http.api("GET", "/outbox?limit=0").status_code == 400
    assert http.api("POST", "/outbox/retry", json={"relay": relay}).status_code == 202
    assert http.api("POST", "/outbox/retry", json={"relay": "wss://elsewhere.example"}).status_code == 400
    assert http.api("POST", "/outbox/retry", json={"relay": relay, "x": 1}).status_code == 400

    # -- add and delete another one
    assert http.api("POST", "/users", json={"username": user2, "backfill": 1}).status_code == 201
    assert http.api("DELETE", f"/users/{user2}").status_code == 204
    assert name2 not in http.get("/healthz").json()["users"]

    # -- NIP-05, verified by nostr-sdk
    answer = http.get("/.well-known/nostr.json", params={"name": name0})
    assert answer.headers["access-control-allow-origin"] == "*"
    for name, uid in ((name0, uid0), (name1, uid1)):
        text = http.get("/.well-known/nostr.json", params={"name": name}).text
        address = nostr_sdk.Nip05Address.parse(f"{name}@{DOMAIN}")
        pubkey = nostr_sdk.PublicKey.parse(pubkey_of(uid))
        assert nostr_sdk.nip05_verify_from_json(pubkey, address, text)
        profile = nostr_sdk.Nip05Profile.from_json(address, text)
        assert profile.public_key().to_hex() == pubkey_of(uid)
        assert [str(r) for r in profile.relays()] == [relay] or [
            str(r).rstrip("/") for r in profile.relays()
        ] == [relay.rstrip("/")]
    assert http.get("/.well-known/nostr.json", params={"name": "nobody"}).json() == {"names": {}}

    # -- a relay taken down shows connected 0 and the daemon is not ready
    sdk_relay_server.stop()
    wait_for(lambda: http.metric("nostrweet_relay_connected", relay=relay) == 0, 40, "the relay down", d)
    # /healthz and /readyz are made at most once a second: within a second they say so too
    wait_for(lambda: http.get("/readyz").status_code == 503, 5, "not ready", d)
    wait_for(lambda: http.get("/healthz").json()["relays"][relay]["connected"] is False, 5, "healthz", d)
    sdk_relay_server.start()
    wait_for(lambda: http.get("/readyz").status_code == 200, 40, "ready again", d)

    # -- hostile clients never stop the polling
    hostile_clients(http, d, name0)

    # -- a paused user stays paused after a restart, without the admin token; the deleted one is gone
    assert http.api("POST", f"/users/{user1}/pause").status_code == 202
    assert d.stop() == 0
    log = d.log_text()
    assert ADMIN_TOKEN not in log
    d2, http2 = start(tmp_path, fake_x, [relay], [user0])
    daemons.append(d2)
    users = http2.get("/healthz").json()["users"]
    assert set(users) == {name0, name1}
    assert users[name1]["paused"] is True
    assert http2.api("GET", "/users").status_code == 404  # no token: the API is off
    assert http2.get("/.well-known/nostr.json").status_code == 404  # no --nip05-domain
    assert d2.stop() == 0


def hostile_clients(http: Http, d: DaemonProc, user: str) -> None:
    """Trickling clients fill the connections; the next one gets a 503 at once; polling goes on."""
    # a header line over the limit is refused, with an answer
    big = http.get("/healthz", headers={"X-Big": "a" * 20_000})
    assert big.status_code in (400, 431)
    polls = http.metric("nostrweet_polls_total", user=user) or 0
    socks = []
    try:
        for _ in range(64):
            s = socket.create_connection(("127.0.0.1", http.port), timeout=5)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the end of the headers
            socks.append(s)
        extra = socket.create_connection(("127.0.0.1", http.port), timeout=10)
        extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = extra.recv(4096)
        extra.close()
        assert answer.startswith(b"HTTP/1.1 503"), answer
        # the loop polls on while every connection is held (its stats records count the polls)
        wait_for(lambda: _polls_logged(d, user) > polls, 20, "polling while the connections are held", d)
    finally:
        for s in socks:
            s.close()
    wait_for(lambda: http.get("/healthz").status_code == 200, 20, "answers again", d)


def _polls_logged(d: DaemonProc, user: str) -> int:
    """The user's poll count in the newest stats record (logged every second here)."""
    records = [r for r in d.stats() if user in r.get("users", {})]
    return int(records[-1]["users"][user]["polls"]) if records else 0


def test_bad_http_options_are_one_line_and_exit_2(tmp_path: Path, fake_x: FakeXApi, sdk_relay: str) -> None:
    base = DaemonProc(tmp_path, tmp_path / "data", fake_x, [sdk_relay], ["jack"]).args
    cases = [
        (["--http", "localhost"], "--http must be HOST:PORT"),
        (["--http", "127.0.0.1:99999"], "the port must be"),
        (["--http", "127.0.0.1:8080", "--admin-token-file", str(tmp_path / "missing")], "admin token file not found"),
    ]  # fmt: skip
    for extra, message in cases:
        run = subprocess.run([*base, *extra], capture_output=True, text=True, timeout=60)
        assert run.returncode == 2, run.stderr
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1, run.stderr
        assert message in lines[0]
        assert "Traceback" not in run.stderr


def test_the_dashboard_in_headless_chromium(
    tmp_path: Path, fake_x: FakeXApi, sdk_relay: str, daemons: list[DaemonProc]
) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (scripts/ensure-chromium installs it)")
    (_uid0, user0), (_uid1, user1), _ = SMALL_USERS
    for uid, _ in SMALL_USERS:
        fake_x.world.hold_back(uid, keep=1)
    d, http = start(tmp_path, fake_x, [sdk_relay], [user0, user1])
    daemons.append(d)
    wait_for(lambda: (http.metric("nostrweet_polls_total", user=user1.lower()) or 0) >= 1, 30, "polls", d)
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ]
    dom = subprocess.run(
        [chromium, *flags, "--dump-dom", http.base + "/"], capture_output=True, text=True, timeout=120
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = dom.stdout
    for user in (user0, user1):
        assert f'data-user="{user.lower()}"' in page
        assert f"@{user.lower()}" in page
    assert 'http-equiv="refresh"' in page
    assert sdk_relay in page
    for secret in (MNEMONIC, "abandon", fake_x.bearer_token):
        assert secret not in page
    # without JavaScript: the page has none, and its policy would run none
    served = http.get("/")
    assert "<script" not in served.text.lower()
    assert "default-src 'none'" in served.headers["content-security-policy"]
    assert "script-src" not in served.headers["content-security-policy"]
    shot = tmp_path / "dashboard.png"
    subprocess.run(
        [chromium, *flags, f"--screenshot={shot}", "--window-size=1280,900", http.base + "/"],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    assert shot.stat().st_size > 1000
    assert d.stop() == 0
