"""Filters (SPEC §12): a table of tweets from the recorded fixtures against each rule, the layering of
global and per-user tables, the rule names, and the config keys (an invalid expression names its key)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nostrweet.config import check_config, parse_config
from nostrweet.errors import ConfigError
from nostrweet.shaping.filters import (
    KEEP,
    FilterBook,
    FilterTable,
    Keep,
    Skip,
    decide,
    filter_text,
    parse_filter_table,
)
from nostrweet.twitter.models import TweetDocument
from tests.unit.test_conversion_fixtures import WORLD

DOCS: dict[str, TweetDocument] = {case.doc.data.id: case.doc for case in WORLD}

PLAIN = "1440716895355764743"  # @WarmongerHodges, en, no reference
RETWEET_DE = "1440715564863791107"  # @666_rolf retweets @tagesschau (de), a link in it
REPLY = "1440716638421090309"  # @HallworthNeil replies to @Nigel_Farage
REPLY_USER_ONLY = "1440714901538803715"  # in_reply_to_user_id and a replied_to reference
QUOTE = "1440715911913107471"  # @lynnhthomas quotes a tweet
AMP = "1440716848299872269"  # "Debt &amp; owned"
YOUTUBE = "1440716522796638212"  # a t.co link that stands for youtu.be
GERMAN = "1440714938054418436"  # @tagesschau, de
UND = "1440621713281093641"  # hashtags and a photo: lang und
SPANISH = "1440714751642800139"  # es
SHORT = "1440706774407864325"  # "Aaaaaaand my energy supplier has gone bust" (42 characters)


def table(**values: object) -> FilterTable:
    checked = {k: v for k, v in values.items()}
    return parse_filter_table("filters", checked)


CASES = [
    # (rule set, tweet, expected: None = keep, else the rule name)
    ({"skip_retweets": True}, RETWEET_DE, "filters.skip_retweets"),
    ({"skip_retweets": True}, PLAIN, None),
    ({"skip_retweets": True}, QUOTE, None),
    ({"skip_replies": True}, REPLY, "filters.skip_replies"),
    ({"skip_replies": True}, REPLY_USER_ONLY, "filters.skip_replies"),
    ({"skip_replies": True}, PLAIN, None),
    ({"skip_replies": True}, RETWEET_DE, None),
    ({"skip_quotes": True}, QUOTE, "filters.skip_quotes"),
    ({"skip_quotes": True}, REPLY, None),
    ({"languages": ["en"]}, GERMAN, "filters.languages"),
    ({"languages": ["en"]}, SPANISH, "filters.languages"),
    ({"languages": ["en"]}, PLAIN, None),
    ({"languages": ["en"]}, UND, None),  # no language: not skipped by it
    ({"languages": ["en"]}, RETWEET_DE, "filters.languages"),  # the original's language
    ({"languages": ["EN-gb", "de"]}, GERMAN, None),  # first subtag, any case
    ({"languages": ["en_US"]}, PLAIN, None),
    ({"min_length": 43}, SHORT, "filters.min_length"),
    ({"min_length": 42}, SHORT, None),
    ({"min_length": 10}, UND, None),  # hashtags count, links do not
    ({"min_length": 200}, UND, "filters.min_length"),
    ({"exclude": ["(?i)supplier"]}, SHORT, "filters.exclude"),
    ({"exclude": ["supplier"]}, PLAIN, None),
    ({"exclude": ["Debt & owned"]}, AMP, "filters.exclude"),  # entities decoded
    ({"exclude": ["&amp;"]}, AMP, None),
    ({"exclude": [r"youtu\.be/qJrz3Ambln8"]}, YOUTUBE, "filters.exclude"),  # URLs expanded
    ({"exclude": [r"t\.co/"]}, YOUTUBE, None),  # no t.co link is left to match
    ({"exclude": ["tagesschau\\.de"]}, RETWEET_DE, "filters.exclude"),  # the original's full text
    ({"include": ["#Brexit"]}, PLAIN, None),
    ({"include": ["#Brexit"]}, SHORT, "filters.include"),
    ({"include": ["nothing here", "energy"]}, SHORT, None),  # any one expression keeps it
    ({"include": ["(?i)brexit"], "exclude": ["Corbyn"]}, PLAIN, "filters.exclude"),
    # the order: retweets before languages
    ({"skip_retweets": True, "languages": ["en"]}, RETWEET_DE, "filters.skip_retweets"),
    ({}, RETWEET_DE, None),
]


@pytest.mark.parametrize(("rules", "tweet", "expected"), CASES)
def test_rule_table(rules: dict[str, object], tweet: str, expected: str | None) -> None:
    got = decide(DOCS[tweet], [table(**rules)])
    if expected is None:
        assert got == KEEP
    else:
        assert isinstance(got, Skip)
        assert got.rule == expected


def test_a_user_table_replaces_the_global_key_and_names_itself() -> None:
    glob = parse_filter_table("filters", {"skip_replies": True, "exclude": ["Farage"]})
    user = parse_filter_table("users.HallworthNeil.filters", {"skip_replies": False})
    assert decide(DOCS[REPLY], [glob]) == Skip("filters.skip_replies")
    got = decide(DOCS[REPLY], [glob, user])
    assert isinstance(got, Skip) and got.rule == "filters.exclude"  # skip_replies relaxed for this user
    strict = parse_filter_table(
        "users.HallworthNeil.filters", {"skip_replies": False, "exclude": ["massive"]}
    )
    got = decide(DOCS[REPLY], [glob, strict])
    assert isinstance(got, Skip) and got.rule == "users.HallworthNeil.filters.exclude"


def test_the_book_judges_a_tweet_by_its_authors_tables() -> None:
    config = parse_config(
        """
[filters]
languages = ["en", "de"]

[users.HallworthNeil.filters]
skip_replies = true

[users.tagesschau]
skip_retweets = true
""",
        Path("t.toml"),
    )
    book = config.filter_book()
    assert book.decide(DOCS[REPLY]) == Skip("users.HallworthNeil.filters.skip_replies")
    assert book.decide(DOCS[REPLY_USER_ONLY]) == KEEP  # another author: only [filters]
    assert book.decide(DOCS[SPANISH]) == Skip("filters.languages", "lang es")
    assert book.tables_for("TAGESSCHAU")[-1].where == "users.tagesschau"
    assert not book.empty
    assert FilterBook().empty and FilterBook().decide(DOCS[REPLY]) == KEEP


def test_dependencies_follow_their_own_rules_except_a_retweets_original() -> None:
    book = FilterBook(parse_filter_table("filters", {"languages": ["en"]}))
    retweet = DOCS[RETWEET_DE]
    original_id = retweet.data.reference("retweeted")
    assert original_id is not None
    original = DOCS[original_id]
    assert isinstance(book.decide(original), Skip)  # German: skipped on its own
    assert book.keeps_dependency(retweet, original)  # but a kept repost carries it
    reply = DOCS[REPLY]
    assert book.keeps_dependency(reply, DOCS[PLAIN])
    assert not book.keeps_dependency(reply, DOCS[GERMAN])


def test_skip_describes_its_detail() -> None:
    got = decide(DOCS[SHORT], [table(exclude=["(?i)supplier"])])
    assert isinstance(got, Skip)
    assert got.describe() == "filters.exclude ('(?i)supplier')"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('[filters]\ninclude = ["a(", "ok"]\n', "[filters] include has an invalid regular expression 'a('"),
        ('[filters]\nexclude = ["[z-a]"]\n', "[filters] exclude has an invalid regular expression '[z-a]'"),
        (
            '[users.bob.filters]\nexclude = ["(?P<x"]\n',
            "[users.bob.filters] exclude has an invalid regular expression '(?P<x'",
        ),
        ("[filters]\nmin_length = -1\n", "[filters] min_length must be at least 0"),
        ("[filters]\nskip_retweets = 1\n", "[filters] skip_retweets must be bool, not int"),
        ("[filters]\nlanguages = [1]\n", "[filters] languages must be a list of strings"),
        ("[filters]\nmaybe = true\n", "unknown key 'maybe' in [filters]"),
        ("[users.bob.filters]\nmaybe = true\n", "unknown key 'maybe' in [users.bob.filters]"),
        ("[users.bob]\nfilters = 3\n", "[users.bob] filters must be dict, not int"),
    ],
)
def test_bad_filter_config_names_the_key(text: str, line: str) -> None:
    _config, problems = check_config(text, Path("c.toml"))
    assert any(p.startswith(f"c.toml: {line}") for p in problems), problems
    with pytest.raises(ConfigError) as err:
        parse_config(text, Path("c.toml"))
    assert str(err.value).startswith("c.toml: ")


def test_check_config_lists_every_bad_expression() -> None:
    text = '[filters]\ninclude = ["("]\nexclude = [")"]\n[users.bob.filters]\ninclude = ["*"]\n'
    _config, problems = check_config(text, Path("c.toml"))
    assert len(problems) == 3


def test_filter_text_decodes_and_expands() -> None:
    text = filter_text(DOCS[YOUTUBE])
    assert "https://youtu.be/qJrz3Ambln8" in text and "t.co/" not in text
    assert "&amp;" not in filter_text(DOCS[AMP])


@given(st.sampled_from(sorted(DOCS)), st.booleans(), st.booleans(), st.booleans())
def test_no_rule_keeps_everything_and_a_skip_names_a_set_key(
    tweet: str, retweets: bool, replies: bool, quotes: bool
) -> None:
    doc = DOCS[tweet]
    assert isinstance(decide(doc, []), Keep)
    got = decide(doc, [table(skip_retweets=retweets, skip_replies=replies, skip_quotes=quotes)])
    if isinstance(got, Skip):
        key = got.rule.removeprefix("filters.")
        assert {"skip_retweets": retweets, "skip_replies": replies, "skip_quotes": quotes}[key]


@given(st.sampled_from(sorted(DOCS)), st.text(min_size=1, max_size=8))
def test_include_and_exclude_of_the_same_literal_never_both_keep(tweet: str, word: str) -> None:
    pattern = re.escape(word)
    inc = decide(DOCS[tweet], [table(include=[pattern])])
    exc = decide(DOCS[tweet], [table(exclude=[pattern])])
    assert isinstance(inc, Skip) != isinstance(exc, Skip)
