"""PURE: a tweet's later life on X, and the events it gives on Nostr (SPEC §10, NIP-09).

- :func:`classify_lookup`: what a batched ``/2/tweets?ids=`` answer says of each id asked: ``alive``,
  ``deleted`` (X answers a resource-not-found Problem for the tweet itself), or ``gone`` (X does not
  give it, but that is not a deletion: not authorized (protected), author suspended, or no word at all).
  Only ``deleted`` retracts a mirrored tweet.
- :func:`created_at_of_id`: the time a tweet id carries (the deletion window is picked by it).
- :func:`superseded_versions` / :func:`newest_version`: ``edit_history_tweet_ids`` (oldest first) tells
  the versions of an edited tweet apart.
- :func:`build_retraction`: a NIP-09 kind 5 deletion request for one event (``e`` and ``k`` tags), with a
  reason; :func:`deletion_reason` and :func:`edit_reason` (which names the new event as ``nostr:nevent1…``).
- :func:`build_handoff_note` and :func:`handoff_notice`: the one note that points at the real person's
  npub, and the line the mirror's kind 0 ``about`` gets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from enum import Enum
from typing import Any

from nostrweet.nostr.event import UnsignedEvent

KIND_DELETION = 5
"""NIP-09 event deletion request."""
KIND_NOTE = 1

_NOT_FOUND = "resource-not-found"
_LOOKUP_PARAMETERS = ("ids", "id")


class Fate(Enum):
    """What X says of a tweet now."""

    ALIVE = "alive"
    DELETED = "deleted"
    GONE = "gone"
    """Not given, and not a deletion: protected, author suspended or withheld, or unexplained."""


def _names(problem: Mapping[str, Any], tweet_id: str) -> bool:
    return str(problem.get("resource_id", problem.get("value", ""))) == tweet_id


def is_lookup_problem(problem: Mapping[str, Any]) -> bool:
    """True for a Problem about an id the lookup asked for (``ids``/``id``), not about an expansion
    (``referenced_tweets.id``, ``section: includes`` …)."""
    return problem.get("section") != "includes" and problem.get("parameter", "ids") in _LOOKUP_PARAMETERS


def problem_fate(problem: Mapping[str, Any]) -> Fate:
    """What one lookup Problem about an asked tweet id means: DELETED only for X's "Not Found Error" of
    type ``resource-not-found`` on the tweet itself; anything else (``Authorization Error`` of a
    protected tweet, ``Forbidden`` of a suspended author, a Problem about a user) is GONE."""
    kind = str(problem.get("type", ""))
    detail = str(problem.get("detail", "")).lower()
    if (
        problem.get("resource_type") == "tweet"
        and kind.endswith(_NOT_FOUND)
        and problem.get("title") == "Not Found Error"
        and "suspended" not in detail
    ):
        return Fate.DELETED
    return Fate.GONE


def classify_lookup(
    asked: Iterable[str], tweets: Mapping[str, Any], problems: Sequence[Mapping[str, Any]]
) -> dict[str, Fate]:
    """The fate of every asked id from a lookup's tweets (by id) and its raw Problems.

    A tweet in ``tweets`` is ALIVE. Otherwise the lookup Problems that name the id decide
    (:func:`problem_fate`; DELETED only when every one of them says so). An id that no lookup Problem
    explains is GONE: a lookup that says nothing is never a deletion.
    """
    out: dict[str, Fate] = {}
    for raw_id in asked:
        tweet_id = str(raw_id)
        if tweet_id in tweets:
            out[tweet_id] = Fate.ALIVE
            continue
        fates = {problem_fate(p) for p in problems if _names(p, tweet_id) and is_lookup_problem(p)}
        out[tweet_id] = Fate.DELETED if fates == {Fate.DELETED} else Fate.GONE
    return out


TWITTER_EPOCH_MS = 1288834974657
"""Snowflake ids carry their creation time: ``(id >> 22) + this`` is the epoch millisecond."""


def created_at_of_id(tweet_id: int) -> float:
    """The creation time (epoch seconds) a snowflake tweet id carries (0 for the older, smaller ids).

    The deletion check picks the tweets of its window by this, with no file to read."""
    if tweet_id < (1 << 22) * 1000:
        return 0.0
    return ((tweet_id >> 22) + TWITTER_EPOCH_MS) / 1000.0


def _history(raw_tweet: Mapping[str, Any]) -> list[str]:
    history = raw_tweet.get("edit_history_tweet_ids")
    if not isinstance(history, list):
        return []
    return [str(i) for i in history if str(i).isdigit()]


def newest_version(raw_tweet: Mapping[str, Any]) -> str:
    """The id of the newest version of a tweet (its own id when it was never edited).

    ``edit_history_tweet_ids`` lists the versions oldest first; so the newest is the greatest id."""
    own = str(raw_tweet.get("id", ""))
    versions = [*_history(raw_tweet), own] if own.isdigit() else _history(raw_tweet)
    return max(versions, key=int) if versions else own


def superseded_versions(raw_tweet: Mapping[str, Any]) -> list[str]:
    """The ids of the older versions a tweet replaces, oldest first; empty when the tweet is not the
    newest version of its history (an old version replaces nothing)."""
    own = str(raw_tweet.get("id", ""))
    if newest_version(raw_tweet) != own:
        return []
    return sorted({i for i in _history(raw_tweet) if i != own}, key=int)


def deletion_reason(tweet_url: str) -> str:
    """The content of the kind 5 of a tweet deleted on X."""
    return f"Deleted on X: {tweet_url}"


def edit_reason(new_nevent: str) -> str:
    """The content of the kind 5 of a superseded version: it names the new version's event."""
    return f"Edited on X; the new version is nostr:{new_nevent}"


def build_retraction(
    pubkey: str, target_id: str, target_kind: int, created_at: int, reason: str
) -> UnsignedEvent:
    """A NIP-09 kind 5 asking relays to delete one event of the same author (``e`` and ``k`` tags)."""
    return UnsignedEvent(
        pubkey=pubkey,
        created_at=created_at,
        kind=KIND_DELETION,
        tags=(("e", target_id), ("k", str(target_kind)), ("client", "nostrweet")),
        content=reason,
    )


def handoff_notice(npub: str) -> str:
    """The line a handed-off mirror's kind 0 ``about`` gets."""
    return f"The account's owner is on Nostr: nostr:{npub}"


def build_handoff_note(
    pubkey: str, username: str, npub: str, owner_hex: str, created_at: int, *, continues: bool
) -> UnsignedEvent:
    """The one note that points a mirror's followers at the real person's npub (``p`` tag)."""
    after = (
        "This mirror goes on copying the account's posts."
        if continues
        else "This mirror stops here: follow them there."
    )
    content = f"The owner of https://x.com/{username} is on Nostr now: nostr:{npub}\n\n{after}"
    return UnsignedEvent(
        pubkey=pubkey,
        created_at=created_at,
        kind=KIND_NOTE,
        tags=(("p", owner_hex), ("client", "nostrweet")),
        content=content,
    )
