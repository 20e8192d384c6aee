"""Pure publishing decisions: dependency order, duplicate-check matching, send targets, change checks."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nostrweet.publish.outcome import PublishOutcome, PublishSummary
from nostrweet.publish.plan import (
    chunked,
    lookup_urls,
    needs_lookup,
    oldest_first,
    plan_tweet,
    profile_changed,
    same_tag_set,
    send_targets,
    tweet_id_of_url,
)
from nostrweet.twitter.models import TweetDocument, decode_document

R1, R2, R3 = "ws://a", "ws://b", "ws://c"


def tweet(tid: str, author: str = "1", refs: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "id": tid,
        "text": f"tweet {tid}",
        "author_id": author,
        "created_at": "2020-01-01T00:00:00.000Z",
    }
    if refs:
        raw["referenced_tweets"] = [{"type": t, "id": i} for t, i in refs]
    return raw


def doc(main: dict[str, Any], *included: dict[str, Any]) -> TweetDocument:
    users = [
        {"id": a, "username": f"user{a}"}
        for a in sorted({main["author_id"], *(t["author_id"] for t in included)})
    ]
    return decode_document({"data": main, "includes": {"tweets": list(included), "users": users}})


def test_plan_reply_chain_parents_first_and_depth_limit() -> None:
    # 5 replies to 4 replies to 3 replies to 2 replies to 1: only 3 levels below 5 are followed.
    chain = [tweet("1")] + [tweet(str(n), refs=[("replied_to", str(n - 1))]) for n in range(2, 6)]
    d = doc(chain[4], *chain[:4])
    items = plan_tweet(d)
    assert [i.tweet_id for i in items] == ["2", "3", "4", "5"]
    assert [i.depth for i in items] == [3, 2, 1, 0]


def test_plan_retweet_original_first_under_its_author() -> None:
    original = tweet("10", author="7")
    d = doc(tweet("11", author="8", refs=[("retweeted", "10")]), original)
    items = plan_tweet(d)
    assert [(i.tweet_id, i.author_id) for i in items] == [("10", "7"), ("11", "8")]


def test_plan_quote_of_reply_and_each_id_once() -> None:
    parent = tweet("20")
    quoted = tweet("21", author="2", refs=[("replied_to", "20")])
    quote = tweet("22", refs=[("quoted", "21"), ("replied_to", "20")])
    seen: set[str] = set()
    items = plan_tweet(doc(quote, parent, quoted), seen=seen)
    ids = [i.tweet_id for i in items]
    assert ids[-1] == "22" and sorted(ids) == ["20", "21", "22"]
    assert ids.index("20") < ids.index("21")
    assert seen == {"20", "21", "22"}
    # a second plan in the same run skips what was handled
    assert plan_tweet(doc(tweet("23", refs=[("replied_to", "20")]), parent), seen=seen) == [
        plan_tweet(doc(tweet("23", refs=[("replied_to", "20")]), parent), seen={"20"})[0]
    ]


def test_plan_missing_dependency_is_left_out() -> None:
    items = plan_tweet(doc(tweet("31", refs=[("replied_to", "30")])))
    assert [i.tweet_id for i in items] == ["31"]


def test_plan_resolver_prefers_given_document() -> None:
    own = doc(tweet("40", author="9"))
    items = plan_tweet(
        doc(tweet("41", refs=[("quoted", "40")]), tweet("40", author="9")),
        resolve=lambda parent, tid: own if tid == "40" else None,
    )
    assert items[0].doc is own


def test_oldest_first_and_chunks() -> None:
    assert oldest_first(["100", 9, "20", "9"]) == ["9", "20", "100"]
    assert [list(c) for c in chunked([1, 2, 3, 4, 5], 2)] == [[1, 2], [3, 4], [5]]


def test_lookup_urls_both_forms_and_parse_back() -> None:
    new, old = lookup_urls("123")
    assert new == "https://x.com/i/status/123" and old == "https://twitter.com/i/status/123"
    assert tweet_id_of_url(new) == tweet_id_of_url(old) == "123"
    assert tweet_id_of_url("https://x.com/i/status/12a") is None
    assert tweet_id_of_url("https://example.com/i/status/1") is None


def test_send_targets_and_lookup_need() -> None:
    relays = [R1, R2, R3]
    assert send_targets(relays, {R1}, {R2}) == [R3]
    assert send_targets(relays, {R1}, {R2}, force=True) == relays
    assert needs_lookup(relays, {R1, R2, R3}) is False
    assert needs_lookup(relays, {R1}) is True
    assert needs_lookup(relays, set(), force=True) is False


@given(
    st.lists(st.sampled_from([R1, R2, R3]), unique=True),
    st.sets(st.sampled_from([R1, R2, R3])),
    st.sets(st.sampled_from([R1, R2, R3])),
)
def test_send_targets_never_resends_final_answers(relays: list[str], acc: set[str], rej: set[str]) -> None:
    targets = send_targets(relays, acc, rej)
    assert not set(targets) & (acc | rej)
    assert set(targets) | (acc | rej) >= set(relays)


def test_profile_changed_compares_json() -> None:
    assert profile_changed('{"a":1,"b":2}', None)
    assert not profile_changed('{"a":1,"b":2}', '{"b": 2, "a": 1}')
    assert profile_changed('{"a":1}', '{"a":2}')
    assert profile_changed("x", "y") and not profile_changed("x", "x")


def test_same_tag_set_order_matters() -> None:
    assert same_tag_set([["r", R1], ["r", R2]], [["r", R1], ["r", R2]])
    assert not same_tag_set([["r", R1], ["r", R2]], [["r", R2], ["r", R1]])
    assert not same_tag_set([["r", R1]], None)


@pytest.mark.parametrize(
    ("statuses", "ok"),
    [(["published", "already"], True), (["published", "failed"], False), (["error"], False), ([], True)],
)
def test_summary_ok_and_line(statuses: list[str], ok: bool) -> None:
    outcomes = [
        PublishOutcome(str(i), s, accepted=(R1,) if s in ("published", "already") else ())
        for i, s in enumerate(statuses)
    ]  # type: ignore[arg-type]
    summary = PublishSummary(outcomes, outcomes)
    assert summary.ok is ok
    assert summary.line().startswith(f"{len(statuses)} tweets: {statuses.count('published')} published")


def test_dependency_levels_parents_before_what_references_them() -> None:
    """Requested tweets, oldest first, where later ones reply to / quote / retweet earlier ones in the
    same batch: each level depends only on lower levels, order inside a level is kept."""
    from nostrweet.publish.plan import PlanItem, dependency_levels

    t1 = tweet("1")
    t2 = tweet("2", refs=[("replied_to", "1")])
    t3 = tweet("3")
    t4 = tweet("4", refs=[("quoted", "2")])
    t5 = tweet("5", refs=[("retweeted", "3")])
    t6 = tweet("6", refs=[("replied_to", "99")])  # parent not in the batch
    docs = [doc(t1), doc(t2, t1), doc(t3), doc(t4, t2, t1), doc(t5, t3), doc(t6, tweet("99"))]
    items = [PlanItem(d.data.id, d, 0) for d in docs]
    levels = [[i.tweet_id for i in level] for level in dependency_levels(items)]
    assert levels == [["1", "3", "6"], ["2", "5"], ["4"]]
    assert dependency_levels([]) == []


@given(st.lists(st.integers(min_value=0, max_value=30), min_size=1, max_size=30))
def test_dependency_levels_property(parents: list[int]) -> None:
    """Any reply forest: every item lands in exactly one level, strictly above its parent's."""
    from nostrweet.publish.plan import PlanItem, dependency_levels

    items = []
    raws: dict[str, dict[str, Any]] = {}
    for n, p in enumerate(parents, start=1):
        parent = str(p) if 0 < p < n else None
        raw = tweet(str(n), refs=[("replied_to", parent)] if parent else None)
        raws[str(n)] = raw
        included = [raws[parent]] if parent else []
        items.append(PlanItem(str(n), doc(raw, *included), 0))
    levels = dependency_levels(items)
    where = {i.tweet_id: n for n, level in enumerate(levels) for i in level}
    assert sorted(where, key=int) == [i.tweet_id for i in items]
    for n, p in enumerate(parents, start=1):
        if 0 < p < n:
            assert where[str(n)] > where[str(p)]
