"""One listing of the cache directory: its names in chunks, and the :class:`~nostrweet.cache.index.CacheIndex`
built from them (SPEC §2). Reads no file: every fact comes from a file name (``cache.layout``,
``cache.name_lists``).

Only the one-time import of an older cache (``state.import_files``), ``reindex`` and clear-cache list the
directory; start-up asks the state.
"""

from __future__ import annotations

import gc
import operator
import os
from array import array
from bisect import bisect_left
from collections.abc import Iterator
from itertools import compress, islice, repeat
from pathlib import Path

from nostrweet.cache import layout, legacy, name_lists
from nostrweet.cache.index import CacheIndex

_CHUNK = 65_536  # names per chunk of the streaming scan: bounds the transient name strings


def scan_names(directory: Path) -> list[str]:
    """Names of the entries of a directory (none if it does not exist), from one listing."""
    try:
        return os.listdir(directory)
    except FileNotFoundError:
        return []


def scan_chunks(directory: Path) -> Iterator[list[str]]:
    """The names of a directory's entries in chunks (none if it does not exist), from one streaming
    listing: at most one chunk of names is alive at a time."""
    try:
        entries = os.scandir(directory)
    except FileNotFoundError:
        return
    with entries:
        while chunk := [entry.name for entry in islice(entries, _CHUNK)]:
            yield chunk


def build_index(data_dir: Path, *, events: bool = True) -> CacheIndex:
    """Rebuild the index from one scan of ``data_dir`` and (with ``events``) ``data_dir/nostr_events``.
    Reads no file. The commands pass ``events=False``: their records are in the state, and the record
    files of earlier versions are read only by the state's one-time import.

    Temp files that a killed writer left behind are listed in ``index.temp_files`` (paths) during the
    same scan, so that the store can remove them without listing the directories again.

    Fast paths (docs/PERFORMANCE.md, B3/B5): the listing is read in chunks; in each, the bulk kinds,
    tweet files, settled tweet records and media, are recognized by one regex call over the whole
    chunk (``name_lists.split_tweet_names``, ``name_lists.settled_tweet_events``,
    ``name_lists.split_media_names``) and go straight into arrays or the media set; everything else
    goes name by name through the per-name parsers. Both paths accept the same names. The garbage
    collector is off meanwhile.
    """
    collecting = gc.isenabled()
    gc.disable()  # ~10^6 short-lived containers, none in a cycle: collecting would only slow the scan
    try:
        index = CacheIndex()
        tweets = _TweetColumns()
        legacy_tweets: list[str] = []
        for names in scan_chunks(data_dir):
            rest = tweets.add_chunk(names)
            del names
            _add_other_names(index, data_dir, rest, legacy_tweets)
        tweets.build_into(index)
        del tweets
        for name in legacy_tweets:
            index.add_legacy_tweet(name)
        if events:
            _add_events(index, data_dir)
        return index
    finally:
        if collecting:
            gc.enable()


class _TweetColumns:
    """The tweets of the scan as columns (listing order) until they are sorted into the index."""

    def __init__(self) -> None:
        self.ids: array[int] = array("q")
        self.stamps: array[int] = array("q")
        self.owners: array[int] = array("I")
        self.number: dict[str, int] = {}

    def add_chunk(self, names: list[str]) -> list[str]:
        """Take the tweet names of a chunk of the listing; return the other names."""
        tweets, keys, rest = name_lists.split_tweet_names(names)
        self.stamps.extend(map(int, map(operator.itemgetter(slice(0, 15)), tweets)))
        del tweets
        parts = list(map(str.rpartition, keys, repeat("_")))  # (username, "_", id)
        del keys
        self.ids.extend(map(int, map(operator.itemgetter(2), parts)))
        users = list(map(operator.itemgetter(0), parts))
        del parts
        number = self.number
        for user in set(users).difference(number):
            number[user] = len(number)
        self.owners.extend(map(number.__getitem__, users))
        return rest

    def build_into(self, index: CacheIndex) -> None:
        """Sort the columns into the index: one argsort of the ids (:func:`_argsort`) gives the sorted
        ids and where each one's stamp and owner sit; one pass appends each id to its owner's array.
        The stamps and owners stay in listing order."""
        stamps, owners = self.stamps, self.owners
        ids, at = _argsort(self.ids)
        self.ids = array("q")
        if _has_repeats(ids):  # the same id under two names (a renamed author): keep one, any
            keep = list(compress(range(len(ids)), map(operator.ne, ids, islice(ids, 1, None))))
            keep.append(len(ids) - 1)
            ids = array("q", map(ids.__getitem__, keep))
            at = array("I", map(at.__getitem__, keep))
        index._owners = usernames = list(self.number)
        index._tweet_ids, index._tweet_at = ids, at
        index._tweet_stamps, index._tweet_owner = stamps, owners
        per_user: list[list[int]] = [[] for _ in usernames]
        appends = [listed.append for listed in per_user]
        for owner, tweet_id in zip(map(owners.__getitem__, at), ids, strict=True):
            appends[owner](tweet_id)
        for username, listed in zip(usernames, per_user, strict=True):
            index.user(username).ids = array("q", listed)


def _add_other_names(index: CacheIndex, data_dir: Path, names: list[str], legacy_tweets: list[str]) -> None:
    """Media of the data dir in bulk; profiles, markers and temp files name by name. Tweet names of the
    earlier tool that only it writes (upper case in the username) go to ``legacy_tweets``, added once
    the scanned tweets are in place."""
    media, names = name_lists.split_media_names(names)
    index.media.update(media)
    del media
    parse_profile = layout.parse_profile_filename
    parse_not_found = layout.parse_not_found_filename
    is_temp = layout.is_temp_filename
    for name in names:
        if name.endswith(".json"):
            profile = parse_profile(name)
            if profile is not None:
                index.add_profile(name, profile)
            elif (old := legacy.parse_profile_name(name)) is not None:
                entry = index.user(old.username)
                if entry.newest_profile is None:  # ours are newer than the earlier tool's
                    entry.newest_profile = name
            elif legacy.parse_tweet_name(name) is not None:
                legacy_tweets.append(name)
        elif name.endswith(layout.NOT_FOUND_SUFFIX):
            tweet_id = parse_not_found(name)
            if tweet_id is None:
                tweet_id = legacy.parse_not_found_name(name)
            if tweet_id is not None:
                index.not_found.add(tweet_id)
        elif is_temp(name):
            index.temp_files.append(data_dir / name)
        elif layout.CORRUPT_SUFFIX in name:
            corrupt = layout.parse_corrupt_tweet_filename(name)
            if corrupt is not None:
                index.add_corrupt(corrupt.username, corrupt.tweet_id)


def _add_events(index: CacheIndex, data_dir: Path) -> None:
    """Add the names of ``nostr_events/``: settled tweet records in bulk, the rest one by one."""
    at = name_lists.SETTLED_TWEET_EVENT_ID_AT
    tweet_ids: array[int] = array("q")
    events = bytearray()
    rest: list[str] = []
    for names in scan_chunks(data_dir / layout.EVENTS_DIR):
        settled, event_ids, others = name_lists.settled_tweet_events(names)
        del names
        tweet_ids.extend(map(int, map(operator.itemgetter(slice(at, -5)), settled)))
        events += event_ids
        rest += others
    ids, index._rec_at = _argsort_packed(tweet_ids)
    index._rec_ids = ids
    index._rec_events = events
    del tweet_ids
    if _has_repeats(ids):  # some tweet has several settled records: they go to the dict
        several = set(compress(ids, map(operator.eq, ids, islice(ids, 1, None))))
        for tweet_id in several:
            i = bisect_left(ids, tweet_id)
            listed: list[str] = []
            while i < len(ids) and ids[i] == tweet_id:
                listed.append(index._settled_name(i, tweet_id))
                del ids[i], index._rec_at[i]
            index._rec_extra[tweet_id] = listed
    events_dir = data_dir / layout.EVENTS_DIR
    for name in rest:
        event = layout.parse_event_filename(name)
        if event is not None:
            index.add_event(name, event)
        elif layout.is_temp_filename(name):
            index.temp_files.append(events_dir / name)


def _argsort_packed(ids: array[int]) -> tuple[array[int], array[int]]:
    """``(sorted ids, where each sat in ids)`` by one sort of ``id | position`` ints: slower than
    :func:`_argsort` but with less memory alive while it sorts (one int an id, not an int and a float)."""
    bits = max(1, len(ids).bit_length())
    packed = list(map(operator.or_, map(operator.lshift, ids, repeat(bits)), range(len(ids))))
    packed.sort()
    mask = (1 << bits) - 1
    return array("q", map(operator.rshift, packed, repeat(bits))), array(
        "I", map(operator.and_, packed, repeat(mask))
    )


def _argsort(ids: array[int]) -> tuple[array[int], array[int]]:
    """``(sorted ids, where each sat in ids)``. The ids are sorted as floats first: Python compares
    floats much faster than ints above 2**30, and ``float`` keeps the order (a < b gives
    float(a) <= float(b)); only ids closer than the float's precision (~256 apart for tweet ids) can
    come out swapped, and then one exact sort of ``id | position`` ints, nearly in order, fixes it."""
    keys = list(map(float, ids))
    order = sorted(range(len(ids)), key=keys.__getitem__)
    del keys
    in_order = array("q", map(ids.__getitem__, order))
    if not any(map(operator.gt, in_order, islice(in_order, 1, None))):
        return in_order, array("I", order)
    bits = max(1, len(ids).bit_length())
    packed = list(map(operator.or_, map(operator.lshift, in_order, repeat(bits)), order))
    del order, in_order
    packed.sort()
    mask = (1 << bits) - 1
    return array("q", map(operator.rshift, packed, repeat(bits))), array(
        "I", map(operator.and_, packed, repeat(mask))
    )


def _has_repeats(ids: array[int]) -> bool:
    return any(map(operator.eq, ids, islice(ids, 1, None)))
