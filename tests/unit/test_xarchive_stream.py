"""The incremental JSON array reader that lets a huge archive part be imported with flat memory."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nostrweet.archive.xarchive import schema
from nostrweet.archive.xarchive.stream import iter_array_objects
from nostrweet.errors import InputError
from tests.fakes import x_archive_builder as xb


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet=st.characters(codec="utf-8")),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
elements = st.lists(
    st.dictionaries(st.text(max_size=6), json_values, max_size=4) | st.lists(json_values, max_size=3),
    max_size=6,
)


@given(items=elements, size=st.integers(1, 40), indent=st.sampled_from([None, 2]))
def test_any_chunking_gives_the_same_elements(items: list[Any], size: int, indent: int | None) -> None:
    data = json.dumps(items, indent=indent, ensure_ascii=False).encode()
    assert list(iter_array_objects(split(data, size))) == items


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b"{}",
        b"[1, 2]",  # the elements of a part are objects
        b'[{"a": 1}',  # not closed
        b'[{"a": 1}, {"a": }]',
        b'[{"a": "unterminated}]',
        b'[{"a": 1}] trailing',
    ],
)
def test_not_an_array_of_objects_is_a_value_error(text: bytes) -> None:
    for size in (1, 3, 1000):
        with pytest.raises(ValueError):
            list(iter_array_objects(split(text, size)))


def test_tweets_stream_from_a_part_in_small_chunks() -> None:
    arc = xb.standard_archive()
    data = arc.files["data/tweets.js"]
    whole = schema.decode_tweets(data, "data/tweets.js")
    assert list(schema.iter_tweets(split(data, 7), "data/tweets.js")) == whole
    assert len(whole) == 5


def test_bad_tweet_in_a_stream_names_the_file_after_the_good_ones() -> None:
    data = b'window.YTD.tweets.part0 = [{"tweet": {"id_str": "1"}}, {"tweet": {"id_str": ' + b"]"
    got: list[str] = []
    with pytest.raises(InputError, match=r"bad archive part data/tweets\.js"):
        for tweet in schema.iter_tweets(split(data, 5), "data/tweets.js"):
            got.append(tweet.id_str)
    assert got == ["1"]
