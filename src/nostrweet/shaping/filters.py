"""Filters (SPEC §12) as pure functions: a cached tweet and the rules of its author → keep, or skip by
one named rule.

Rules come from ``[filters]`` (every user) and ``[users.<name>.filters]`` (one user). A key set in the
user's table replaces the same key of ``[filters]`` for that user (so a user can also relax a global
rule: ``skip_replies = false``); the rule name says which table the deciding value came from
(``filters.exclude``, ``users.alice.filters.skip_replies``). The earlier keys ``[users.<name>]
skip_retweets`` / ``skip_replies`` still work, named ``users.<name>.skip_retweets``; the
``filters`` table of the same user wins over them.

The rules are checked in a fixed order, and the first that skips names the decision: ``skip_retweets``,
``skip_replies``, ``skip_quotes``, ``languages``, ``min_length``, ``exclude``, ``include``.

- the text the rules read is the tweet's full text (a long tweet's ``note_tweet``), with HTML entities
  decoded and t.co links replaced by the URL they stand for; for a retweet whose original is included,
  the original's (the retweet's own ``RT @…`` text is truncated);
- ``min_length`` counts characters of that text with its links removed and spaces collapsed;
- ``languages`` compares X's ``lang`` without case, by its first subtag (``en`` keeps ``en-GB``); a
  tweet X gives no language (no ``lang``, ``und``, ``zxx``, ``qme`` …: media only, links only, hashtags
  only) is not skipped by it;
- ``include`` keeps a tweet only if one of its expressions is found in the text; ``exclude`` skips it if
  one is (Python :mod:`re`, ``re.search``; write ``(?i)`` for case-insensitive).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from nostrweet.bridge.content import decode_html_entities, expanded_link
from nostrweet.twitter.models import Tweet, TweetDocument

__all__ = [
    "FILTER_KEYS",
    "FilterBook",
    "FilterTable",
    "Keep",
    "Skip",
    "decide",
    "filter_text",
    "invalid_pattern",
    "parse_filter_table",
]

FILTER_KEYS: dict[str, type | tuple[type, ...]] = {
    "skip_retweets": bool,
    "skip_replies": bool,
    "skip_quotes": bool,
    "include": list,
    "exclude": list,
    "min_length": int,
    "languages": list,
}
"""The keys of a ``[filters]`` table and their TOML types."""

NO_LANGUAGE = frozenset({"und", "zxx", "qam", "qct", "qht", "qme", "qst", "art"})
"""X's ``lang`` values that name no language (undetermined, no text, hashtags, mentions, media only)."""

_LINK = re.compile(r"https?://\S+")
_SPACE = re.compile(r"\s+")


class Keep(msgspec.Struct, frozen=True, gc=False):
    """The tweet is published."""


class Skip(msgspec.Struct, frozen=True, gc=False):
    """The tweet is not published: ``rule`` names the rule (``filters.exclude``); ``detail`` says more
    (the expression that matched, the tweet's language)."""

    rule: str
    detail: str = ""

    def describe(self) -> str:
        """``filters.exclude ('(?i)crypto')``: the rule, and the detail when there is one."""
        return f"{self.rule} ({self.detail})" if self.detail else self.rule


Decision = Keep | Skip
KEEP = Keep()


class FilterTable(msgspec.Struct, frozen=True):
    """One table of filters as written; ``None`` is a key the table does not set. ``where`` is the
    table's name (``filters``, ``users.alice.filters``), the prefix of its rule names."""

    where: str = "filters"
    skip_retweets: bool | None = None
    skip_replies: bool | None = None
    skip_quotes: bool | None = None
    include: tuple[re.Pattern[str], ...] | None = None
    exclude: tuple[re.Pattern[str], ...] | None = None
    min_length: int | None = None
    languages: frozenset[str] | None = None


def invalid_pattern(patterns: Iterable[str]) -> str | None:
    """The problem of the first expression that does not compile (``'a(': missing ), …``), or None."""
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            return f"has an invalid regular expression {pattern!r}: {exc}"
    return None


def parse_filter_table(where: str, values: Mapping[str, Any]) -> FilterTable:
    """A checked table's values (types and expressions already validated) as a FilterTable."""

    def patterns(key: str) -> tuple[re.Pattern[str], ...] | None:
        got = values.get(key)
        return None if got is None else tuple(re.compile(p) for p in got)

    langs = values.get("languages")
    return FilterTable(
        where=where,
        skip_retweets=values.get("skip_retweets"),
        skip_replies=values.get("skip_replies"),
        skip_quotes=values.get("skip_quotes"),
        include=patterns("include"),
        exclude=patterns("exclude"),
        min_length=values.get("min_length"),
        languages=None if langs is None else frozenset(_primary(x) for x in langs if x.strip()),
    )


def _primary(lang: str) -> str:
    return lang.strip().lower().replace("_", "-").split("-", 1)[0]


class _Effective(msgspec.Struct, frozen=True):
    """Each key's value and the name of the rule it came from, after layering the tables."""

    values: dict[str, Any] = msgspec.field(default_factory=dict)
    names: dict[str, str] = msgspec.field(default_factory=dict)


def _layer(tables: Iterable[FilterTable]) -> _Effective:
    eff = _Effective()
    for table in tables:
        for key in FILTER_KEYS:
            value = getattr(table, key)
            if value is not None:
                eff.values[key] = value
                eff.names[key] = f"{table.where}.{key}"
    return eff


def filter_text(doc: TweetDocument) -> str:
    """The text the rules read (see the module docstring)."""
    tweet = doc.data
    original = tweet.reference("retweeted")
    if original is not None:
        included = doc.tweet(original)
        if included is not None:
            tweet = included
    return _full_text(tweet)


def _full_text(tweet: Tweet) -> str:
    if tweet.note_tweet is not None and tweet.note_tweet.text:
        text, entities = tweet.note_tweet.text, tweet.note_tweet.entities or tweet.entities
    else:
        text, entities = tweet.text, tweet.entities
    for url in entities.urls if entities is not None else []:
        if url.url:
            text = text.replace(url.url, expanded_link(url) or url.url)
    return decode_html_entities(text)


def _language(doc: TweetDocument) -> str | None:
    tweet = doc.data
    original = tweet.reference("retweeted")
    included = doc.tweet(original) if original is not None else None
    lang = (included.lang if included is not None and included.lang else None) or tweet.lang
    if not lang:
        return None
    primary = _primary(lang)
    return None if primary in NO_LANGUAGE else primary


def _is_reply(tweet: Tweet) -> bool:
    return tweet.reference("replied_to") is not None or bool(tweet.in_reply_to_user_id)


def decide(doc: TweetDocument, tables: Iterable[FilterTable]) -> Decision:
    """Keep, or the first rule (in the module's order) that skips the tweet under ``tables`` (global
    first, then the user's: a later table's key replaces an earlier one's)."""
    eff = _layer(tables)
    v, names = eff.values, eff.names
    tweet = doc.data
    if v.get("skip_retweets") and tweet.reference("retweeted") is not None:
        return Skip(names["skip_retweets"])
    if v.get("skip_replies") and _is_reply(tweet):
        return Skip(names["skip_replies"])
    if v.get("skip_quotes") and tweet.reference("quoted") is not None:
        return Skip(names["skip_quotes"])
    languages = v.get("languages")
    if languages:
        lang = _language(doc)
        if lang is not None and lang not in languages:
            return Skip(names["languages"], f"lang {lang}")
    minimum = v.get("min_length")
    needs_text = minimum or v.get("exclude") or v.get("include")
    text = filter_text(doc) if needs_text else ""
    if minimum:
        length = len(_SPACE.sub(" ", _LINK.sub(" ", text)).strip())
        if length < minimum:
            return Skip(names["min_length"], f"{length} < {minimum}")
    for pattern in v.get("exclude") or ():
        if pattern.search(text):
            return Skip(names["exclude"], repr(pattern.pattern))
    include = v.get("include")
    if include and not any(p.search(text) for p in include):
        return Skip(names["include"], "no expression found")
    return KEEP


class FilterBook(msgspec.Struct, frozen=True):
    """Every table of a config: the global one and each user's (usernames in lower case). A tweet is
    judged by the tables of its author, found by the author's username in the document."""

    global_table: FilterTable | None = None
    users: Mapping[str, tuple[FilterTable, ...]] = msgspec.field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """No rule at all: every tweet is kept."""
        return self.global_table is None and not any(self.users.values())

    def tables_for(self, username: str | None) -> tuple[FilterTable, ...]:
        """The tables that apply to a user, global first."""
        own = self.users.get(username.lower(), ()) if username else ()
        return ((self.global_table,) if self.global_table is not None else ()) + tuple(own)

    def keeps_dependency(self, parent: TweetDocument, dependency: TweetDocument) -> bool:
        """Whether a tweet that ``parent`` depends on is published with it: a retweet's original always
        is (a kept repost carries it); a skipped parent or quoted tweet is linked on X instead."""
        if parent.data.reference("retweeted") == dependency.data.id:
            return True
        return not isinstance(self.decide(dependency), Skip)

    def decide(self, doc: TweetDocument) -> Decision:
        """Keep or Skip for a tweet, by its author's rules."""
        if self.empty:
            return KEEP
        author = doc.user(doc.data.author_id)
        return decide(doc, self.tables_for(author.username if author is not None else None))
