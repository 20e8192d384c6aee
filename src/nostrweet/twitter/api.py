"""PURE: the X API v2 requests we make and the shapes we read back from them.

Endpoint templates (the keys of the rate budgets), the fields and expansions every request asks for,
and the functions that turn a decoded response body into a :class:`TimelinePage` or a
:class:`LookupResult` of typed values (:mod:`nostrweet.twitter.wire`, each kept with its raw JSON),
including which Problems mean "this resource cannot be had". No I/O here: the requests themselves are
sent by :mod:`nostrweet.twitter.session`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from nostrweet.errors import NotFoundError, TwitterApiError
from nostrweet.twitter.models import Tweet, User
from nostrweet.twitter.wire import Decoded, WireIncludes, decode_tweet, decode_tweets, decode_user

TWEET_EXPANSIONS = (
    "author_id,referenced_tweets.id,referenced_tweets.id.author_id,"
    "referenced_tweets.id.attachments.media_keys,attachments.media_keys,attachments.poll_ids,"
    "entities.mentions.username,in_reply_to_user_id"
)
TWEET_FIELDS = (
    "id,text,created_at,author_id,conversation_id,in_reply_to_user_id,referenced_tweets,attachments,"
    "entities,note_tweet,lang,possibly_sensitive,edit_history_tweet_ids,display_text_range"
)
MEDIA_FIELDS = "media_key,type,url,preview_image_url,width,height,alt_text,duration_ms,variants"
USER_FIELDS = "id,name,username,description,profile_image_url,url,entities,protected,created_at,location"
POLL_FIELDS = "id,options,duration_minutes,end_datetime,voting_status"

TWEET_PARAMS: dict[str, str] = {
    "expansions": TWEET_EXPANSIONS,
    "tweet.fields": TWEET_FIELDS,
    "media.fields": MEDIA_FIELDS,
    "user.fields": USER_FIELDS,
    "poll.fields": POLL_FIELDS,
}
USER_PARAMS: dict[str, str] = {"user.fields": USER_FIELDS}

# Endpoint templates: the keys of the rate budgets.
EP_USER_BY_USERNAME = "/2/users/by/username/:username"
EP_USERS = "/2/users"
EP_TIMELINE = "/2/users/:id/tweets"
EP_TWEETS = "/2/tweets"
EP_TWEET = "/2/tweets/:id"

BATCH = 100
_NOT_FOUND_TYPES = ("resource-not-found", "not-authorized-for-resource", "resource-unavailable")


@dataclass(slots=True)
class TimelinePage:
    """One page of a user timeline: tweets (newest first), includes, Problems and paging meta."""

    tweets: list[Decoded[Tweet]] = field(default_factory=list)
    includes: WireIncludes = field(default_factory=WireIncludes.empty)
    errors: list[dict[str, Any]] = field(default_factory=list)
    next_token: str | None = None
    newest_id: str | None = None
    oldest_id: str | None = None
    result_count: int = 0


@dataclass(slots=True)
class LookupResult:
    """Tweets looked up by id: tweets by id, merged includes, raw Problems, and the ids not had."""

    tweets: dict[str, Decoded[Tweet]] = field(default_factory=dict)
    includes: WireIncludes = field(default_factory=WireIncludes.empty)
    problems: list[dict[str, Any]] = field(default_factory=list)
    not_found: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> its Problem
    unreadable: set[str] = field(default_factory=set)
    """Asked ids X answered with a tweet nostrweet cannot read: neither had nor "not found"."""


def problem_is_not_found(problem: dict[str, Any]) -> bool:
    """True for a Problem that means the resource cannot be had (deleted, protected, suspended)."""
    kind = str(problem.get("type", ""))
    return any(kind.endswith(t) for t in _NOT_FOUND_TYPES) or problem.get("title") in (
        "Not Found Error",
        "Authorization Error",
        "Forbidden",
    )


def _problem_id(problem: dict[str, Any]) -> str | None:
    value = problem.get("resource_id") or problem.get("value")
    return str(value) if value is not None else None


def chunks(ids: list[str], size: int = BATCH) -> Iterable[list[str]]:
    """``ids`` in consecutive batches of at most ``size``."""
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def dedup(ids: Iterable[str]) -> list[str]:
    """The ids as strings, each once, in first-seen order."""
    return list(dict.fromkeys(str(i) for i in ids))


def user_data(body: dict[str, Any], name: str) -> Decoded[User]:
    """The user of a by-username answer; NotFoundError (with the API's detail) if it has none,
    TwitterApiError if it has one nostrweet cannot read."""
    data = body.get("data")
    if not isinstance(data, dict):
        problems = body.get("errors") or []
        detail = problems[0].get("detail") if problems and isinstance(problems[0], dict) else None
        raise NotFoundError(f"X user @{name} not found" + (f": {detail}" if detail else ""))
    user = decode_user(data)
    if user is None:
        raise TwitterApiError(f"X API answered a user for @{name} that nostrweet cannot read")
    return user


def users_by_id(body: dict[str, Any]) -> dict[str, Decoded[User]]:
    """The readable users of a ``/2/users`` answer, by id."""
    data = body.get("data")
    found: dict[str, Decoded[User]] = {}
    for raw in data if isinstance(data, list) else []:
        user = decode_user(raw)
        if user is not None:
            found[user.value.id] = user
    return found


def timeline_page(body: dict[str, Any]) -> TimelinePage:
    """A timeline answer as a :class:`TimelinePage`."""
    page = TimelinePage()
    page.tweets = decode_tweets(body.get("data"))
    page.includes.extend(body.get("includes"))
    page.errors = [p for p in body.get("errors") or [] if isinstance(p, dict)]
    meta = body.get("meta")
    meta = meta if isinstance(meta, dict) else {}
    page.next_token = meta.get("next_token") or None
    page.newest_id = meta.get("newest_id")
    page.oldest_id = meta.get("oldest_id")
    page.result_count = int(meta.get("result_count") or len(page.tweets))
    return page


def collect_lookup(result: LookupResult, body: dict[str, Any], asked: Iterable[str]) -> None:
    """Add a lookup answer to ``result``; every asked id it neither returns nor explains is not found."""
    data = body.get("data")
    asked_set = set(asked)
    for raw in data if isinstance(data, list) else [data] if isinstance(data, dict) else []:
        tweet = decode_tweet(raw)
        if tweet is not None:
            result.tweets[tweet.value.id] = tweet
        elif isinstance(raw, dict) and str(raw.get("id")) in asked_set:
            result.unreadable.add(str(raw.get("id")))
    result.includes.extend(body.get("includes"))
    for problem in body.get("errors") or []:
        if not isinstance(problem, dict):
            continue
        result.problems.append(problem)
        pid = _problem_id(problem)
        kind = problem.get("resource_type")
        if pid in asked_set and kind in (None, "tweet") and problem_is_not_found(problem):
            result.not_found[pid] = problem
    for tweet_id in asked_set - result.tweets.keys() - result.not_found.keys() - result.unreadable:
        # Neither data nor a Problem: count it as not found, with a Problem of our own.
        result.not_found[tweet_id] = {
            "title": "Not Found Error",
            "detail": f"Could not find tweet with id: [{tweet_id}].",
            "type": "https://api.twitter.com/2/problems/resource-not-found",
            "resource_type": "tweet",
            "resource_id": tweet_id,
            "value": tweet_id,
        }
