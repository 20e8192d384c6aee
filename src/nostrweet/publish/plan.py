"""Publishing decisions as pure functions: what to publish, in which order, to which relays.

Nothing here touches the network or the disk. The publisher gathers facts (tweet documents, records,
what the duplicate check found) and asks these functions what to do.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

import msgspec

from nostrweet.bridge.context import dependencies, sub_document
from nostrweet.bridge.tags import legacy_tweet_url, tweet_url
from nostrweet.twitter.models import TweetDocument

MAX_DEPTH = 3
"""References are followed at most this many levels deep (SPEC §4)."""
R_LOOKUP_BATCH = 50
"""Tweets per duplicate-check query (two ``#r`` values each)."""

T = TypeVar("T")


class PlanItem(msgspec.Struct, frozen=True):
    """One tweet to publish: its document, and how deep below the requested tweet it sits (0 = itself)."""

    tweet_id: str
    doc: TweetDocument
    depth: int

    @property
    def author_id(self) -> str | None:
        """The numeric id of the tweet's author."""
        return self.doc.data.author_id


Resolver = Callable[[TweetDocument, str], "TweetDocument | None"]


def plan_tweet(
    doc: TweetDocument,
    *,
    seen: set[str] | None = None,
    max_depth: int = MAX_DEPTH,
    resolve: Resolver = sub_document,
) -> list[PlanItem]:
    """The tweet and what it depends on, dependencies first (parent, quoted, retweeted original).

    Each id appears once; ids in ``seen`` are left out (and the new ones are added to it), so a run
    handles every tweet id once. Dependencies are followed ``max_depth`` levels deep. ``resolve``
    gives a dependency's document (default: the included tweet as its own document; the publisher
    prefers the dependency's own cached file).
    """
    seen = set() if seen is None else seen
    out: list[PlanItem] = []

    def visit(d: TweetDocument, depth: int) -> None:
        if d.data.id in seen:
            return
        seen.add(d.data.id)
        if depth < max_depth:
            for dep in dependencies(d):
                if dep in seen:
                    continue
                sub = resolve(d, dep)
                if sub is not None:
                    visit(sub, depth + 1)
        out.append(PlanItem(d.data.id, d, depth))

    visit(doc, 0)
    return out


def dependency_levels(items: Sequence[PlanItem]) -> list[list[PlanItem]]:
    """The items grouped into send levels: level 0 depends on nothing in ``items``, level n only on
    lower levels. Sending level by level keeps parents, quoted tweets and originals ahead of what
    references them while every event of a level is in flight at once. Order inside a level is kept.
    """
    by_id = {item.tweet_id: item for item in items}
    level: dict[str, int] = {}

    def level_of(tweet_id: str, path: frozenset[str]) -> int:
        known = level.get(tweet_id)
        if known is not None:
            return known
        deps = [d for d in dependencies(by_id[tweet_id].doc) if d in by_id and d not in path]
        value = 1 + max((level_of(d, path | {d}) for d in deps), default=-1)
        level[tweet_id] = value
        return value

    groups: list[list[PlanItem]] = []
    for item in items:
        n = level_of(item.tweet_id, frozenset({item.tweet_id}))
        while len(groups) <= n:
            groups.append([])
        groups[n].append(item)
    return [g for g in groups if g]


def oldest_first(tweet_ids: Iterable[str | int]) -> list[str]:
    """Tweet ids sorted oldest first (ids grow with time), without duplicates."""
    return [str(i) for i in sorted({int(i) for i in tweet_ids})]


def lookup_urls(tweet_id: str) -> tuple[str, str]:
    """The two ``r`` values a tweet may be found by: ours and the earlier tool's."""
    return tweet_url(tweet_id), legacy_tweet_url(tweet_id)


def chunked(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), max(1, size)):
        yield items[start : start + size]


def tweet_id_of_url(url: str) -> str | None:
    """The tweet id of an ``r`` value in either form, else None."""
    for prefix in ("https://x.com/i/status/", "https://twitter.com/i/status/"):
        if url.startswith(prefix):
            rest = url[len(prefix) :]
            return rest if rest.isdigit() else None
    return None


def send_targets(
    relays: Sequence[str],
    accepted: set[str],
    rejected: set[str],
    *,
    force: bool = False,
) -> list[str]:
    """Relays to send an event to: those that have not accepted it and did not reject it for good.

    ``force`` sends to every relay again (relays answer ``duplicate:`` for what they hold).
    """
    if force:
        return list(relays)
    return [r for r in relays if r not in accepted and r not in rejected]


def needs_lookup(relays: Sequence[str], accepted: set[str], *, force: bool = False) -> bool:
    """Whether the duplicate check must ask the relays about a tweet (not when records already say so)."""
    return not force and any(r not in accepted for r in relays)


def profile_changed(new_content: str, old_content: str | None) -> bool:
    """True when a kind 0 content differs from the last published one (compared as JSON, key order aside)."""
    if old_content is None:
        return True
    try:
        return bool(json.loads(new_content) != json.loads(old_content))
    except ValueError:
        return new_content != old_content


def same_tag_set(new_tags: Sequence[Sequence[str]], old_tags: Sequence[Sequence[str]] | None) -> bool:
    """True when two replaceable events carry the same tags (order matters: it is the user's preference)."""
    if old_tags is None:
        return False
    return [list(t) for t in new_tags] == [list(t) for t in old_tags]
