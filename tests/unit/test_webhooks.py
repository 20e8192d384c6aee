"""Webhooks: the body, its id and signature (pure), the config tables, and the delivery queue on both backends."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nostrweet.config import check_config
from nostrweet.errors import InputError
from nostrweet.state.engine import State, open_state
from nostrweet.state.webhooks import QueuedDelivery, WebhookQueue
from nostrweet.webhook_config import WebhookSpec, load_webhooks
from nostrweet.webhooks.payload import WebhookEvent, body_of, delivery_id, retry_delay, sign, verify

HOOK = "https://hooks.example/in?token=t0ps3cret"
EVENT = WebhookEvent(
    event="tweet.published",
    username="jack",
    at=1_700_000_000,
    subject="20",
    tweet_id="20",
    nostr_event_ids=("ab" * 32,),
    relays={"wss://b.example": "pending", "wss://a.example": "accepted"},
)


def test_hmac_matches_rfc_4231_case_2() -> None:
    # RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?"
    want = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert sign(b"what do ya want for nothing?", b"Jefe") == f"sha256={want}"


def test_body_fields_and_stable_id() -> None:
    body = body_of(HOOK, EVENT)
    doc = json.loads(body)
    assert doc == {
        "event": "tweet.published",
        "id": delivery_id(HOOK, EVENT),
        "username": "jack",
        "tweet_id": "20",
        "nostr_event_ids": ["ab" * 32],
        "relays": {"wss://a.example": "accepted", "wss://b.example": "pending"},
        "at": "2023-11-14T22:13:20Z",
    }
    assert body_of(HOOK, EVENT) == body  # the same bytes on every retry
    assert delivery_id("https://other.example/", EVENT) != doc["id"]
    other = WebhookEvent("tweet.published", "jack", 1_700_000_999, subject="21", tweet_id="21")
    assert delivery_id(HOOK, other) != doc["id"]


@given(st.binary(max_size=300), st.binary(min_size=1, max_size=64))
def test_verify_accepts_the_signature_and_rejects_any_change(body: bytes, secret: bytes) -> None:
    header = sign(body, secret)
    assert header == "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    assert verify(body, header, secret)
    assert not verify(body + b" ", header, secret)
    assert not verify(body, header, secret + b"x")
    assert not verify(body, None, secret)


@pytest.mark.parametrize(
    ("attempts", "delay"), [(0, 0), (1, 10), (2, 20), (3, 40), (9, 2560), (10, 3600), (500, 3600)]
)
def test_retry_delay_doubles_up_to_an_hour(attempts: int, delay: int) -> None:
    assert retry_delay(attempts) == delay


@pytest.mark.parametrize(
    ("toml", "says"),
    [
        ('webhooks = "x"', "must be an array of tables"),
        ("[[webhooks]]\nsecret_file = '/s'", "webhooks[0].url is required"),
        ("[[webhooks]]\nurl = 'ftp://h/x'\nsecret_file = '/s'", "webhooks[0].url is not an http"),
        ("[[webhooks]]\nurl = 'https://h/x'", "webhooks[0].secret_file is required"),
        ("[[webhooks]]\nurl = 'https://h/x'\nsecret_file = '/s'\nevents = []", "non-empty list"),
        ("[[webhooks]]\nurl = 'https://h/x'\nsecret_file = '/s'\nevents = ['tweet.eaten']", "'tweet.eaten'"),
        ("[[webhooks]]\nurl = 'https://h/x'\nsecret_file = '/s'\nretries = 3", "unknown key 'retries'"),
    ],
)
def test_config_problems_name_the_key(toml: str, says: str) -> None:
    _, problems = check_config(toml, Path("c.toml"))
    assert len(problems) == 1 and says in problems[0], problems


def test_config_defaults_to_every_event_and_reads_the_secret_stripped(tmp_path: Path) -> None:
    secret = tmp_path / "hook.secret"
    secret.write_text("  s3cr3t\n")
    config, problems = check_config(
        f"[[webhooks]]\nurl = 'https://h.example/x'\nsecret_file = '{secret}'\n", Path("c.toml")
    )
    assert problems == []
    (hook,) = load_webhooks(config.webhooks)
    assert hook.events == {"tweet.archived", "tweet.published", "tweet.deleted", "user.failing"}
    assert hook.secret.reveal() == "s3cr3t" and "s3cr3t" not in repr(hook)


@pytest.mark.parametrize("content", [None, "  \n"])
def test_a_missing_or_empty_secret_file_is_bad_input(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "missing.secret"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InputError, match=r"webhooks\[0\]\.secret_file"):
        load_webhooks([WebhookSpec("https://h.example/", frozenset({"tweet.archived"}), path)])


@pytest.fixture
def state(state_url: str) -> Iterator[State]:
    opened = open_state(state_url)
    yield opened
    opened.close()


def queued(n: int, username: str = "jack", webhook: str = HOOK) -> QueuedDelivery:
    event = WebhookEvent("tweet.archived", username, 1_700_000_000 + n, subject=str(n), tweet_id=str(n))
    return QueuedDelivery(
        delivery_id(webhook, event), webhook, username, event.event, body_of(webhook, event)
    )


def test_queue_is_in_order_per_user_and_a_failing_head_holds_back_the_rest(state: State) -> None:
    queue = WebhookQueue(state)
    queue.enqueue([queued(1), queued(2), queued(3, "ann")], now=100)
    queue.enqueue([queued(1)], now=101)  # the same event again: still one delivery
    assert queue.pending() == 3
    heads = queue.claim("i1", now=100)
    assert [(d.username, json.loads(d.body)["tweet_id"]) for d in heads] == [("jack", "1"), ("ann", "3")]
    assert queue.claim("i2", now=100) == []  # held by i1
    jack1, ann3 = heads
    queue.failed(jack1.seq, "HTTP 500", next_at=200)
    queue.delivered(ann3.seq, now=100)
    assert queue.claim("i1", now=150) == []  # jack's 2 waits behind jack's failing 1
    assert queue.next_due() == 200
    (again,) = queue.claim("i1", now=200)
    assert again.seq == jack1.seq and again.attempts == 1 and again.last_error == "HTTP 500"
    queue.delivered(again.seq, now=200)
    (second,) = queue.claim("i1", now=200)
    assert json.loads(second.body)["tweet_id"] == "2"
    queue.delivered(second.seq, now=201)
    assert queue.pending() == 0 and queue.next_due() is None
    assert [d.delivered_at for d in queue.log()] == [100, 201, 200]  # newest queued first
    queue.prune(delivered_before=201)
    assert {json.loads(d.body)["tweet_id"] for d in queue.log()} == {"2"}


def test_an_expired_claim_is_taken_by_another_instance(state: State) -> None:
    queue = WebhookQueue(state)
    queue.enqueue([queued(1)], now=100)
    assert len(queue.claim("dead", now=100, hold_seconds=60)) == 1
    assert queue.claim("alive", now=159) == []
    assert len(queue.claim("alive", now=160)) == 1


@pytest.mark.integration
def test_a_claim_on_postgresql_skips_a_head_another_instance_is_claiming(pg_url: str) -> None:
    """The claim neither waits for nor takes a row another transaction holds (``SKIP LOCKED``): its
    connections give up on a lock wait, so a claim that waited would fail."""
    holder = open_state(pg_url)
    impatient = open_state(pg_url + "?options=-c%20lock_timeout%3D2000")
    try:
        WebhookQueue(holder).enqueue([queued(1), queued(2, "ann")], now=100)
        with holder.engine.begin() as conn:  # another instance, mid-claim of jack's head
            conn.exec_driver_sql("SELECT seq FROM webhook_deliveries WHERE username = 'jack' FOR UPDATE")
            taken = WebhookQueue(impatient).claim("i2", now=100)
        assert [d.username for d in taken] == ["ann"]
        assert [d.username for d in WebhookQueue(impatient).claim("i3", now=100)] == ["jack"]
    finally:
        impatient.close()
        holder.close()
