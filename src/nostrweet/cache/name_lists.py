"""Batch forms of the ``cache.layout`` parsers, for the scan of a whole directory listing.

A chunk of a listing is joined into one string, and one regex call in C handles many names instead of
one match per name (docs/PERFORMANCE.md, B3). Each function accepts a name exactly when the per-name
parser of ``cache.layout`` does (tests/unit/test_name_lists.py checks it).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterator
from itertools import compress

from nostrweet.cache.layout import (
    ID_DIGITS,
    EventSubject,
    event_name_key,
    parse_media_filename,
    tweet_name_key,
)

_BATCH = 65_536  # names per joined chunk: bounds the transient string (a few MB)
_TWEET_KEY_LINES_RE = re.compile(rf"(?:\d{{8}}_\d{{6}}_([a-z0-9_]{{1,15}}_(?:{ID_DIGITS}))\.json|[^\n]*)\n")
_MEDIA_LINES_RE = re.compile(
    rf"(?:([a-z0-9_]{{1,15}}_(?:{ID_DIGITS})_\d{{1,3}}\.(?!json\n)[a-z0-9]{{1,5}})|[^\n]*)\n"
)
# The event id is matched loosely here (any 64 characters but a newline) and checked as lower-case hex
# afterwards for a whole chunk at once (``_settled_event_ids``): ~3x cheaper than ``[0-9a-f]{64}``.
_SETTLED_TWEET_EVENT_LINES_RE = re.compile(rf"(?:event_[^\n]{{64}}_tweet_(?:{ID_DIGITS})\.json\n)*")
SETTLED_TWEET_EVENT_ID_AT = len("event_") + 64 + len("_tweet_")
"""Where the tweet id starts in a settled tweet record's name (``event_<64 hex>_tweet_<id>.json``)."""


def _chunks(names: list[str]) -> Iterator[tuple[list[str], str | None]]:
    """Chunks of ``names`` with their newline-joined text (None if a name holds a newline)."""
    for start in range(0, len(names), _BATCH):
        chunk = names[start : start + _BATCH]
        text = "\n".join(chunk) + "\n"
        yield chunk, (text if text.count("\n") == len(chunk) else None)


def tweet_name_keys(names: list[str]) -> list[str]:
    """For each name, ``<username>_<tweetid>`` if :func:`tweet_name_key` accepts it, else ``""``; the
    batch form of it (one regex call per chunk of names)."""
    out: list[str] = []
    for chunk, text in _chunks(names):
        if text is None:
            out.extend(f"{k[0]}_{k[1]}" if (k := tweet_name_key(n)) else "" for n in chunk)
        else:
            out.extend(_TWEET_KEY_LINES_RE.findall(text))
    return out


def split_tweet_names(names: list[str]) -> tuple[list[str], list[str], list[str]]:
    """``(tweets, keys, rest)``: the names :func:`tweet_name_key` accepts, their ``<username>_<tweetid>``
    keys (:func:`tweet_name_keys`), and all the other names, each in listing order. A tweet name's
    stamp is ``int(name[:15])`` (the number ``YYYYMMDDHHMMSS``, see ``layout.tweet_name_of``); its key's
    ``rpartition("_")`` gives the username and the id."""
    keys = tweet_name_keys(names)
    tweets = list(compress(names, keys))
    rest = list(compress(names, map(operator.not_, keys)))
    return tweets, list(compress(keys, keys)), rest


def split_media_names(names: list[str]) -> tuple[list[str], list[str]]:
    """``(media, rest)``: the names :func:`parse_media_filename` accepts and all the others, in listing
    order; the batch form (one regex call per chunk of names)."""
    found: list[str] = []
    for chunk, text in _chunks(names):
        if text is None:
            found.extend(n if parse_media_filename(n) is not None else "" for n in chunk)
        else:
            found.extend(_MEDIA_LINES_RE.findall(text))
    return list(compress(names, found)), list(compress(names, map(operator.not_, found)))


def split_settled_tweet_events(names: list[str]) -> tuple[list[str], list[str]]:
    """``(settled, rest)``: the names of the form ``event_<eventid>_tweet_<tweetid>.json`` (a settled tweet
    record; its tweet id is ``name[SETTLED_TWEET_EVENT_ID_AT:-5]``) and all the others, in listing order
    (:func:`settled_tweet_events` without the event ids)."""
    settled, _, rest = settled_tweet_events(names)
    return settled, rest


def settled_tweet_events(names: list[str]) -> tuple[list[str], bytearray, list[str]]:
    """``(settled, event_ids, rest)``: as :func:`split_settled_tweet_events`, plus the event ids of the
    settled names, 32 bytes each in the same order.

    One regex call matches a whole run of such names at once, so the cost is one call per run, not per
    name: the runs are long, as nearly every record of a cache is a settled tweet record. The event ids
    of a chunk are then checked as lower-case hex and decoded in one call.
    """
    settled: list[str] = []
    rest: list[str] = []
    event_ids = bytearray()
    match = _SETTLED_TWEET_EVENT_LINES_RE.match
    for chunk, text in _chunks(names):
        found_settled: list[str] = []
        found_rest: list[str] = []
        if text is not None:
            pos = i = 0
            while i < len(chunk):
                found = match(text, pos)
                end = found.end() if found else pos
                j = i + text.count("\n", pos, end)
                found_settled.extend(chunk[i:j])
                if j >= len(chunk):
                    break
                found_rest.append(chunk[j])
                pos = text.index("\n", end) + 1
                i = j + 1
            decoded = _settled_event_ids(found_settled)
        if text is None or decoded is None:  # a newline or a non-hex id in the chunk: name by name
            found_settled, found_rest = [], []
            for name in chunk:
                key = event_name_key(name)
                is_settled = key is not None and key[1] is EventSubject.TWEET and not key[3]
                (found_settled if is_settled else found_rest).append(name)
            decoded = _settled_event_ids(found_settled)
            assert decoded is not None
        settled += found_settled
        rest += found_rest
        event_ids += decoded
    return settled, event_ids, rest


def _settled_event_ids(settled: list[str]) -> bytes | None:
    """The 32-byte event ids of settled record names, or None if one of them is not lower-case hex."""
    text = "".join(map(operator.itemgetter(slice(6, 70)), settled))
    try:
        decoded = bytes.fromhex(text)
    except ValueError:
        return None
    # fromhex also takes upper case and spaces: the round trip is equal only for lower-case hex
    return decoded if decoded.hex() == text else None
