"""The fake X API over HTTP: pagination, lookups, auth, rate limits, faults, media, validation."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from tests.fakes.openapi_params import endpoint_template
from tests.fakes.x_api import FakeXApi
from tests.fakes.x_world import (
    BIG_TIMELINE_USER_ID,
    FIXTURES,
    PHILLY_USER_ID,
    SYNTHETIC_GIF_TWEET_ID,
    SYNTHETIC_NOTE_TWEET_ID,
    SYNTHETIC_PHOTO_TWEET_ID,
    SYNTHETIC_VIDEO_TWEET_ID,
    World,
)

pytestmark = pytest.mark.integration

TIMELINE = "/2/users/{id}/tweets"
FULL_EXPANSIONS = {
    "expansions": "author_id,referenced_tweets.id,referenced_tweets.id.author_id,attachments.media_keys,"
    "entities.mentions.username,in_reply_to_user_id,attachments.poll_ids",
    "tweet.fields": "created_at,author_id,entities,attachments,referenced_tweets,note_tweet",
    "media.fields": "url,preview_image_url,variants,alt_text,type",
    "user.fields": "profile_image_url,description",
}


@pytest.fixture
def api(fake_x: FakeXApi) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=fake_x.url, headers={"Authorization": f"Bearer {fake_x.bearer_token}"}, timeout=10
    ) as client:
        yield client


def _walk(api: httpx.Client, user_id: str, **params: str) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    query = dict(params)
    while True:
        resp = api.get(f"/2/users/{user_id}/tweets", params=query)
        assert resp.status_code == 200, resp.text
        pages.append(resp.json())
        token = resp.json()["meta"].get("next_token")
        if not token:
            return pages
        query["pagination_token"] = token


def test_paginating_a_big_timeline_returns_every_tweet_once(
    fake_x: FakeXApi, api: httpx.Client, x_world: World
) -> None:
    pages = _walk(api, BIG_TIMELINE_USER_ID, max_results="100")
    ids = [t["id"] for p in pages for t in p.get("data", [])]
    assert len(pages) == 2 and len(ids) == 101 == len(set(ids))
    assert ids == x_world.timeline(BIG_TIMELINE_USER_ID)
    first = pages[0]["meta"]
    assert first["result_count"] == 100 and first["newest_id"] == ids[0] and first["oldest_id"] == ids[99]
    assert "next_token" not in pages[1]["meta"]
    assert len(fake_x.requests_to(TIMELINE)) == 2


def test_default_page_size_is_ten(api: httpx.Client) -> None:
    assert api.get(f"/2/users/{PHILLY_USER_ID}/tweets").json()["meta"]["result_count"] == 10


def test_since_id_and_until_id(api: httpx.Client, x_world: World) -> None:
    full = x_world.timeline(PHILLY_USER_ID)
    since, until = full[30], full[5]
    newer = [
        t["id"]
        for p in _walk(api, PHILLY_USER_ID, since_id=since, max_results="7")
        for t in p.get("data", [])
    ]
    assert newer == full[:30]
    older = api.get(
        f"/2/users/{PHILLY_USER_ID}/tweets", params={"until_id": until, "max_results": "5"}
    ).json()
    assert [t["id"] for t in older["data"]] == full[6:11]
    both = api.get(
        f"/2/users/{PHILLY_USER_ID}/tweets",
        params={"since_id": since, "until_id": until, "max_results": "100"},
    ).json()
    assert [t["id"] for t in both["data"]] == full[6:30]
    empty = api.get(f"/2/users/{PHILLY_USER_ID}/tweets", params={"since_id": full[0]}).json()
    assert empty == {"meta": {"result_count": 0}}


def test_exclude_retweets_and_time_window(api: httpx.Client, x_world: World) -> None:
    params = {
        "exclude": "retweets,replies",
        "max_results": "100",
        "tweet.fields": "referenced_tweets,created_at",
    }
    data = api.get(f"/2/users/{PHILLY_USER_ID}/tweets", params=params).json()["data"]
    assert 0 < len(data) < 100
    assert not [
        r for t in data for r in t.get("referenced_tweets", []) if r["type"] in ("retweeted", "replied_to")
    ]
    window = {
        "start_time": "2020-05-05T00:00:00Z",
        "end_time": "2020-05-05T12:00:00Z",
        "tweet.fields": "created_at",
    }
    data = api.get(f"/2/users/{PHILLY_USER_ID}/tweets", params=window).json()["data"]
    assert data and all("2020-05-05T00" <= t["created_at"] < "2020-05-05T12" for t in data)


def test_hold_back_and_release_through_http(fake_x: FakeXApi, api: httpx.Client) -> None:
    fake_x.world.hold_back(PHILLY_USER_ID, keep=3)
    first = api.get(f"/2/users/{PHILLY_USER_ID}/tweets").json()
    assert first["meta"]["result_count"] == 3
    fake_x.world.release(PHILLY_USER_ID, 2)
    again = api.get(
        f"/2/users/{PHILLY_USER_ID}/tweets", params={"since_id": first["meta"]["newest_id"]}
    ).json()
    assert again["meta"]["result_count"] == 2


def test_batch_lookup_with_missing_and_protected(fake_x: FakeXApi, api: httpx.Client) -> None:
    ok, gone, locked = fake_x.world.timeline(PHILLY_USER_ID)[:3]
    fake_x.world.delete_tweet(gone)
    fake_x.world.protect_tweet(locked)
    body = api.get("/2/tweets", params={"ids": f"{ok},{gone},{locked},1"}).json()
    assert [t["id"] for t in body["data"]] == [ok]
    by_id = {e["value"]: e for e in body["errors"]}
    assert by_id[gone]["type"] == "https://api.twitter.com/2/problems/resource-not-found"
    assert by_id[gone]["title"] == "Not Found Error" and by_id[gone]["parameter"] == "ids"
    assert by_id[gone]["resource_type"] == "tweet" and by_id[gone]["resource_id"] == gone
    assert by_id["1"]["title"] == "Not Found Error"
    assert by_id[locked]["type"] == "https://api.twitter.com/2/problems/not-authorized-for-resource"
    assert by_id[locked]["title"] == "Authorization Error"
    single = api.get(f"/2/tweets/{gone}")
    assert single.status_code == 200 and set(single.json()) == {"errors"}
    assert single.json()["errors"][0]["parameter"] == "id"


def test_expansions_and_field_filtering(api: httpx.Client, x_world: World) -> None:
    retweet = x_world.feature_ids("ref:retweeted")[0]
    body = api.get(f"/2/tweets/{retweet}", params=FULL_EXPANSIONS).json()
    ref = body["data"]["referenced_tweets"][0]["id"]
    assert ref in [t["id"] for t in body["includes"]["tweets"]]
    users = {u["id"] for u in body["includes"]["users"]}
    assert body["data"]["author_id"] in users
    assert all({"id", "name", "username"} <= set(u) for u in body["includes"]["users"])
    bare = api.get(f"/2/tweets/{retweet}").json()
    assert set(bare["data"]) <= {"id", "text", "edit_history_tweet_ids"} and "includes" not in bare
    note = api.get(f"/2/tweets/{SYNTHETIC_NOTE_TWEET_ID}", params=FULL_EXPANSIONS).json()
    assert len(note["data"]["note_tweet"]["text"]) > 280
    assert "PhillyNEFL" in [u["username"] for u in note["includes"]["users"]]


def test_user_lookups(api: httpx.Client) -> None:
    one = api.get("/2/users/by/username/phillynefl").json()["data"]
    assert one == {"id": PHILLY_USER_ID, "name": "Philly NEFL", "username": "PhillyNEFL"}
    many = api.get("/2/users/by", params={"usernames": "PhillyNEFL,nosuchuser_zz"}).json()
    assert [u["id"] for u in many["data"]] == [PHILLY_USER_ID]
    assert many["errors"][0]["value"] == "nosuchuser_zz"
    ids = api.get("/2/users", params={"ids": f"{PHILLY_USER_ID},{BIG_TIMELINE_USER_ID}"}).json()
    assert [u["username"] for u in ids["data"]] == ["PhillyNEFL", "MariamBarghouti"]
    missing = api.get("/2/users/by/username/nosuchuser_zz")
    assert missing.status_code == 200 and missing.json()["errors"][0]["resource_type"] == "user"


def test_401_without_the_token(fake_x: FakeXApi) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        resp = httpx.get(f"{fake_x.url}/2/tweets/20", headers=headers)
        assert resp.status_code == 401
        assert resp.json() == {
            "title": "Unauthorized",
            "type": "about:blank",
            "status": 401,
            "detail": "Unauthorized",
        }


def test_rate_limit_headers_and_budget(fake_x: FakeXApi, api: httpx.Client) -> None:
    first = api.get("/2/tweets/20")
    assert first.headers["x-rate-limit-limit"] == "300" and first.headers["x-rate-limit-remaining"] == "299"
    assert int(first.headers["x-rate-limit-reset"]) >= time.time() + 890
    fake_x.set_limit("/2/users/by/username/{username}", 2, window_seconds=1)
    answers = [api.get("/2/users/by/username/PhillyNEFL") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert [a.headers["x-rate-limit-remaining"] for a in answers] == ["1", "0", "0"]
    reset = int(answers[2].headers["x-rate-limit-reset"])
    assert reset <= time.time() + 2
    time.sleep(max(reset - time.time(), 0) + 0.05)
    assert api.get("/2/users/by/username/PhillyNEFL").status_code == 200
    # other endpoints keep their own budget
    assert api.get("/2/tweets/20").headers["x-rate-limit-remaining"] == "298"


def test_injected_429_carries_headers_and_blocks_until_reset(fake_x: FakeXApi, api: httpx.Client) -> None:
    fake_x.faults.fail_429(times=1, reset_in=1.0, endpoint=TIMELINE)
    assert api.get("/2/tweets/20").status_code == 200  # another endpoint is not affected
    resp = api.get(f"/2/users/{PHILLY_USER_ID}/tweets")
    assert resp.status_code == 429
    assert resp.json() == {
        "title": "Too Many Requests",
        "detail": "Too Many Requests",
        "type": "about:blank",
        "status": 429,
    }
    assert resp.headers["x-rate-limit-remaining"] == "0"
    reset = int(resp.headers["x-rate-limit-reset"])
    assert time.time() < reset <= time.time() + 2
    assert api.get(f"/2/users/{PHILLY_USER_ID}/tweets").status_code == 429  # still before the reset
    time.sleep(max(reset - time.time(), 0) + 0.05)
    ok = api.get(f"/2/users/{PHILLY_USER_ID}/tweets")
    assert ok.status_code == 200 and ok.headers["x-rate-limit-remaining"] == "1499"
    times = [(r.time, r.status) for r in fake_x.requests_to(TIMELINE)]
    assert [s for _, s in times] == [429, 429, 200] and times[2][0] >= reset


def test_5xx_injection(fake_x: FakeXApi, api: httpx.Client) -> None:
    fake_x.faults.fail_5xx(times=2, status=502)
    assert [api.get("/2/tweets/20").status_code for _ in range(3)] == [502, 502, 200]
    fake_x.faults.every_nth_5xx(3)
    assert [api.get("/2/tweets/20").status_code for _ in range(6)] == [200, 200, 503, 200, 200, 503]
    fake_x.faults.clear()
    assert api.get("/2/tweets/20").status_code == 200


def test_drop_closes_the_connection(fake_x: FakeXApi, api: httpx.Client) -> None:
    fake_x.faults.drop(times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        api.get("/2/tweets/20")
    assert api.get("/2/tweets/20").status_code == 200
    assert [r.status for r in fake_x.requests] == [0, 200]


def test_latency(fake_x: FakeXApi, api: httpx.Client) -> None:
    waits: list[float] = []

    async def note(seconds: float) -> None:
        waits.append(seconds)

    fake_x.faults.latency(0.3)
    fake_x.sleep = note
    assert api.get("/2/tweets/20").status_code == 200
    assert waits == [0.3]  # the answer waited the fault's latency first
    fake_x.sleep = asyncio.sleep
    with pytest.raises(httpx.ReadTimeout):  # and on the real clock, longer than the client would
        api.get("/2/tweets/20", timeout=0.1)


MAGIC = {
    "image/jpeg": b"\xff\xd8\xff",
    "image/png": b"\x89PNG\r\n\x1a\n",
    "image/gif": b"GIF89a",
    "application/x-mpegURL": b"#EXTM3U",
}


def _media_of(api: httpx.Client, tweet_id: str) -> list[dict[str, Any]]:
    body = api.get(f"/2/tweets/{tweet_id}", params=FULL_EXPANSIONS).json()
    media: list[dict[str, Any]] = body["includes"]["media"]
    return media


def test_media_urls_are_rewritten_and_served(fake_x: FakeXApi, api: httpx.Client) -> None:
    video = _media_of(api, SYNTHETIC_VIDEO_TWEET_ID)[0]
    urls = [v["url"] for v in video["variants"]] + [video["preview_image_url"]]
    assert all(u.startswith(f"{fake_x.url}/media/") for u in urls)
    gif = _media_of(api, SYNTHETIC_GIF_TWEET_ID)[0]
    photo = _media_of(api, SYNTHETIC_PHOTO_TWEET_ID)[0]
    urls += [gif["variants"][0]["url"], photo["url"], photo["url"] + "?name=orig"]
    for url in urls:
        resp = httpx.get(url)
        assert resp.status_code == 200
        ctype = resp.headers["content-type"].split(";")[0]
        if ctype == "video/mp4":
            assert resp.content[4:8] == b"ftyp"
        else:
            assert resp.content.startswith(MAGIC[ctype]), url
        assert httpx.get(url).content == resp.content  # deterministic
    assert fake_x.media_requests == 2 * len(urls)
    jpg = httpx.get(f"{fake_x.url}/media/pbs.twimg.com/media/X?format=png&name=orig")
    assert jpg.headers["content-type"] == "image/png"
    profile = api.get("/2/users/by/username/PhillyNEFL", params={"user.fields": "profile_image_url"}).json()
    assert httpx.get(profile["data"]["profile_image_url"]).content.startswith(MAGIC["image/jpeg"])
    fake_x.media_status["SynthPhoto"] = 404
    assert httpx.get(photo["url"]).status_code == 404


def test_recorded_video_media_keep_their_variants(api: httpx.Client, x_world: World) -> None:
    tid = x_world.feature_ids("media:video+variants")[0]
    videos = [m for m in _media_of(api, tid) if m["type"] == "video"]
    assert videos and len(videos[0]["variants"]) > 1


def test_invalid_request_is_recorded_and_answered_400() -> None:
    with FakeXApi() as server:
        headers = {"Authorization": f"Bearer {server.bearer_token}"}
        resp = httpx.get(f"{server.url}/2/users/12/tweets", params={"max_results": "500"}, headers=headers)
        assert resp.status_code == 400
        assert resp.json()["title"] == "Invalid Request"
        assert server.violations and "max_results" in server.violations[0]
        assert server.requests[0].status == 400 and server.requests[0].query == {"max_results": "500"}


async def test_works_from_async_code(fake_x: FakeXApi) -> None:
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {fake_x.bearer_token}"}) as client:
        resp = await client.get(f"{fake_x.url}/2/users/{PHILLY_USER_ID}/tweets", params={"max_results": "5"})
    assert resp.json()["meta"]["result_count"] == 5


REPLAYABLE = ("/2/tweets", "/2/tweets/{id}", "/2/users", "/2/users/by", "/2/users/by/username/{username}")


def _recorded_lookups() -> list[Path]:
    out = []
    for meta in sorted(FIXTURES.rglob("*.meta.json")):
        url = urlsplit(json.loads(meta.read_text())["request"]["url"])
        if endpoint_template("GET", url.path) in REPLAYABLE:
            out.append(meta)
    return out


def _as_list(data: Any) -> list[dict[str, Any]]:
    return [data] if isinstance(data, dict) else list(data or [])


@pytest.mark.parametrize("meta", _recorded_lookups(), ids=lambda p: p.name.removesuffix(".meta.json"))
def test_replaying_a_recorded_lookup_gives_the_recorded_shape(
    meta: Path, fake_x: FakeXApi, api: httpx.Client
) -> None:
    """The recorded request, sent to the fake, answers the same objects with at least the same fields."""
    url = urlsplit(json.loads(meta.read_text())["request"]["url"])
    recorded = json.loads(meta.with_name(meta.name.replace(".meta.json", ".json")).read_text())
    got = api.get(url.path, params=parse_qsl(url.query)).json()
    want_data, got_data = _as_list(recorded.get("data")), _as_list(got.get("data"))
    assert [o["id"] for o in got_data] == [o["id"] for o in want_data]
    for want, have in zip(want_data, got_data, strict=True):
        assert set(want) <= set(have), set(want) - set(have)
    for kind, key in (("users", "id"), ("tweets", "id"), ("media", "media_key")):
        want_ids = {o[key] for o in recorded.get("includes", {}).get(kind, [])}
        got_ids = {o[key] for o in got.get("includes", {}).get(kind, [])}
        assert want_ids <= got_ids, (kind, want_ids - got_ids)


def test_referenced_media_and_pinned_tweets(api: httpx.Client, x_world: World) -> None:
    with_ref_media = next(
        t
        for t in sorted(x_world.tweets)
        if any(
            set((x_world.tweets.get(r["id"]) or {}).get("attachments", {}).get("media_keys", []))
            & set(x_world.media)
            for r in x_world.tweets[t].get("referenced_tweets", [])
        )
    )
    params = {"expansions": "referenced_tweets.id", "tweet.fields": "referenced_tweets,attachments"}
    plain = api.get(f"/2/tweets/{with_ref_media}", params=params).json()
    assert "media" not in plain["includes"]
    params["expansions"] += ",referenced_tweets.id.attachments.media_keys"
    assert api.get(f"/2/tweets/{with_ref_media}", params=params).json()["includes"]["media"]
    pinned = next(u for u in x_world.users.values() if u.get("pinned_tweet_id") in x_world.tweets)
    body = api.get(f"/2/users/{pinned['id']}", params={"expansions": "pinned_tweet_id"}).json()
    assert body["includes"]["tweets"][0]["id"] == pinned["pinned_tweet_id"]


def test_unserved_endpoint_and_foreign_token() -> None:
    with FakeXApi() as server:
        headers = {"Authorization": f"Bearer {server.bearer_token}"}
        assert httpx.get(f"{server.url}/2/users/me", headers=headers).status_code == 404
        assert server.violations == []
        bad = httpx.get(
            f"{server.url}/2/users/{PHILLY_USER_ID}/tweets",
            params={"pagination_token": "7140dibdnow9c7bt"},
            headers=headers,
        )
        assert bad.status_code == 400 and server.violations
