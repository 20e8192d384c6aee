"""The fake X world: every tweet, user, media object, poll and place of the recorded fixtures.

Pure (no I/O besides reading the fixtures once). Objects stay raw dicts, exactly as recorded; when the
same object appears in several recordings the copies are merged field-wise (union of keys, later
non-empty value wins). A few SYNTHETIC objects fill what no fixture covers (see x_synthetic.py).
"""

from __future__ import annotations

import csv
import functools
import json
import pickle
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.data import FIXTURES
from tests.fakes.x_synthetic import (
    PHILLY_USER_ID,
    PHILLY_USERNAME,
    SYNTHETIC_GIF_MEDIA_KEY,
    SYNTHETIC_GIF_TWEET_ID,
    SYNTHETIC_NOTE_TWEET_ID,
    SYNTHETIC_PHOTO_MEDIA_KEY,
    SYNTHETIC_PHOTO_TWEET_ID,
    SYNTHETIC_USER_ID,
    SYNTHETIC_USERNAME,
    SYNTHETIC_VIDEO_MEDIA_KEY,
    SYNTHETIC_VIDEO_TWEET_ID,
    Raw,
    add_synthetic,
)

# The biggest recorded timeline: MariamBarghouti has 101 tweets (the two media_policy_violation
# recordings); PhillyNEFL has 100 (the full page in twarc-csv/withheld_04.json).
BIG_TIMELINE_USER_ID = "250858058"
BIG_TIMELINE_USERNAME = "MariamBarghouti"

__all__ = [
    "BIG_TIMELINE_USERNAME",
    "BIG_TIMELINE_USER_ID",
    "FIXTURES",
    "PHILLY_USERNAME",
    "PHILLY_USER_ID",
    "SYNTHETIC_GIF_MEDIA_KEY",
    "SYNTHETIC_GIF_TWEET_ID",
    "SYNTHETIC_NOTE_TWEET_ID",
    "SYNTHETIC_PHOTO_MEDIA_KEY",
    "SYNTHETIC_PHOTO_TWEET_ID",
    "SYNTHETIC_USERNAME",
    "SYNTHETIC_USER_ID",
    "SYNTHETIC_VIDEO_MEDIA_KEY",
    "SYNTHETIC_VIDEO_TWEET_ID",
    "FeatureExample",
    "MissingWorldError",
    "Raw",
    "World",
    "check_fixtures",
    "merge_into",
]


class MissingWorldError(RuntimeError):
    """The recorded fixtures are missing or incomplete; the message is one line saying what is wrong."""


def check_fixtures(fixtures_dir: Path) -> None:
    """Raise MissingWorldError unless `fixtures_dir` holds the recorded world: its feature_examples.tsv
    and every recorded response that file names (the big timelines among them)."""
    index = fixtures_dir / "feature_examples.tsv"
    if not index.is_file():
        raise MissingWorldError(
            f"the fake X API's recorded world is missing: no {index} (restore tests/data from git)"
        )
    with index.open(encoding="utf-8", newline="") as fh:
        named = sorted({row["file"] for row in csv.DictReader(fh, delimiter="\t") if row.get("file")})
    absent = [name for name in named if not (fixtures_dir / name).is_file()]
    if not named or absent:
        what = ", ".join(absent[:3]) + (" …" if len(absent) > 3 else "") if absent else "no file named"
        raise MissingWorldError(
            f"the fake X API's recorded world in {fixtures_dir} is incomplete ({what});"
            " restore tests/data from git"
        )


@dataclass(frozen=True, slots=True)
class FeatureExample:
    """One row of feature_examples.tsv: where a tweet showing `feature` sits."""

    feature: str
    file: str
    where: str
    id: str
    detail: str


@dataclass(slots=True)
class _Tables:
    tweets: dict[str, Raw]
    users: dict[str, Raw]
    media: dict[str, Raw]
    polls: dict[str, Raw]
    places: dict[str, Raw]


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def merge_into(table: dict[str, Raw], key: str, obj: Raw) -> None:
    """Merge `obj` into `table[key]` field-wise: union of keys, a later non-empty value wins."""
    old = table.get(key)
    if old is None:
        table[key] = dict(obj)
        return
    for k, v in obj.items():
        if k not in old or not _empty(v):
            old[k] = v


def _as_list(data: Any) -> list[Raw]:
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list):
        return [d for d in data if isinstance(d, dict)]
    return []


def _response_files(fixtures_dir: Path) -> list[Path]:
    return sorted(p for p in fixtures_dir.rglob("*.json") if not p.name.endswith(".meta.json"))


def _load_tables(fixtures_dir: Path) -> _Tables:
    t = _Tables({}, {}, {}, {}, {})
    for path in _response_files(fixtures_dir):
        body = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(body, dict):
            continue
        inc = body.get("includes") or {}
        # Users carry a username, tweets a text; the endpoint needs no guessing.
        for obj in _as_list(body.get("data")) + _as_list(inc.get("tweets")) + _as_list(inc.get("users")):
            if "username" in obj:
                merge_into(t.users, obj["id"], obj)
            elif "text" in obj and "id" in obj:
                merge_into(t.tweets, obj["id"], obj)
        for m in _as_list(inc.get("media")):
            merge_into(t.media, m["media_key"], m)
        for p in _as_list(inc.get("polls")):
            merge_into(t.polls, p["id"], p)
        for pl in _as_list(inc.get("places")):
            merge_into(t.places, pl["id"], pl)
    add_synthetic(t.users, t.tweets, t.media)
    return t


@functools.cache
def _pickled_tables(fixtures_dir: Path) -> bytes:
    return pickle.dumps(_load_tables(fixtures_dir), protocol=pickle.HIGHEST_PROTOCOL)


def _id_key(tweet_id: str) -> int:
    return int(tweet_id)


class World:
    """Everything the fake X API knows, plus the test mutations (delete, protect, hold back)."""

    def __init__(self, tables: _Tables, fixtures_dir: Path = FIXTURES) -> None:
        self.tweets: dict[str, Raw] = tables.tweets
        self.users: dict[str, Raw] = tables.users
        self.media: dict[str, Raw] = tables.media
        self.polls: dict[str, Raw] = tables.polls
        self.places: dict[str, Raw] = tables.places
        self.fixtures_dir = fixtures_dir
        self.deleted: set[str] = set()
        self.protected: set[str] = set()
        self.suspended: set[str] = set()  # user ids
        self.superseded: set[str] = set()  # old versions of edited tweets: out of timelines, still looked up
        # Mutations and the server's reads take this lock, so a test may release tweets while a
        # client polls.
        self.lock = threading.RLock()
        self._hidden: dict[str, set[str]] = {}
        self._hidden_all: set[str] = set()
        self._by_author: dict[str, list[str]] = {}
        self._name_index: dict[str, str] = {}
        self._name_index_size = -1
        self._reindex()

    @classmethod
    def from_fixtures(cls, fixtures_dir: Path = FIXTURES) -> World:
        """A fresh world built from every recorded response (parsed once per process, then copied).

        Raises MissingWorldError if the recorded responses are missing or incomplete."""
        check_fixtures(fixtures_dir)
        tables: _Tables = pickle.loads(_pickled_tables(fixtures_dir.resolve()))
        return cls(tables, fixtures_dir)

    # -- indexes -----------------------------------------------------------------------------------
    def _reindex(self) -> None:
        by_author: dict[str, list[str]] = {}
        for tid, tweet in self.tweets.items():
            author = tweet.get("author_id")
            if author:
                by_author.setdefault(author, []).append(tid)
        for ids in by_author.values():
            ids.sort(key=_id_key, reverse=True)
        self._by_author = by_author

    def _rehide(self) -> None:
        self._hidden_all = set().union(*self._hidden.values()) if self._hidden else set()

    # -- reads -------------------------------------------------------------------------------------
    def full_timeline(self, user_id: str) -> list[str]:
        """Every tweet id of that author, hidden/deleted ones included, newest first."""
        return list(self._by_author.get(user_id, []))

    def timeline(self, user_id: str) -> list[str]:
        """Visible tweet ids of that author (not deleted, protected or held back), newest first."""
        hidden = self._hidden.get(user_id, set())
        return [
            t
            for t in self._by_author.get(user_id, [])
            if t not in hidden
            and t not in self.deleted
            and t not in self.protected
            and t not in self.superseded
        ]

    def timeline_sizes(self) -> list[tuple[str, int]]:
        """(user_id, number of tweets) for every author, biggest first."""
        sizes = [(uid, len(ids)) for uid, ids in self._by_author.items()]
        return sorted(sizes, key=lambda x: (-x[1], x[0]))

    def tweet_state(self, tweet_id: str) -> str:
        """'ok', 'not_found' (absent, deleted or held back), 'protected' or 'suspended' (its author)."""
        if tweet_id not in self.tweets or tweet_id in self.deleted:
            return "not_found"
        if tweet_id in self._hidden_all:
            return "not_found"
        if tweet_id in self.protected:
            return "protected"
        if self.tweets[tweet_id].get("author_id") in self.suspended:
            return "suspended"
        return "ok"

    def get_tweet(self, tweet_id: str) -> Raw | None:
        """The raw tweet if visible, else None."""
        return self.tweets[tweet_id] if self.tweet_state(tweet_id) == "ok" else None

    def user_by_username(self, username: str) -> Raw | None:
        """Case-insensitive username lookup (indexed; a user renamed in place is found by a scan)."""
        low = username.lower()
        if self._name_index_size != len(self.users):
            self._name_index = {str(u.get("username", "")).lower(): uid for uid, u in self.users.items()}
            self._name_index_size = len(self.users)
        user = self.users.get(self._name_index.get(low, ""))
        if user is not None and str(user.get("username", "")).lower() == low:
            return user
        for user in self.users.values():
            if str(user.get("username", "")).lower() == low:
                return user
        return None

    def feature_examples(self) -> list[FeatureExample]:
        """Rows of feature_examples.tsv (feature, file, where, id, detail)."""
        path = self.fixtures_dir / "feature_examples.tsv"
        with path.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        return [
            FeatureExample(r["feature"], r["file"], r["where"], r["id"], r.get("detail") or "") for r in rows
        ]

    def feature_ids(self, feature: str) -> list[str]:
        """Ids of the tweets showing `feature` (exact name or prefix, e.g. 'media:video')."""
        return [
            e.id
            for e in self.feature_examples()
            if (e.feature == feature or e.feature.startswith(feature)) and e.id in self.tweets
        ]

    # -- mutations ---------------------------------------------------------------------------------
    def delete_tweet(self, tweet_id: str) -> None:
        """Lookups of this tweet now answer a resource-not-found Problem; timelines drop it."""
        with self.lock:
            self.deleted.add(tweet_id)

    def protect_tweet(self, tweet_id: str) -> None:
        """Lookups of this tweet now answer a not-authorized-for-resource Problem."""
        with self.lock:
            self.protected.add(tweet_id)

    def suspend_user(self, user_id: str) -> None:
        """Lookups of this user's tweets now answer the recorded "User has been suspended" Problem."""
        with self.lock:
            self.suspended.add(user_id)

    def edit_tweet(self, tweet_id: str, text: str) -> str:
        """Edit a tweet as X does: a new version with a new (greater) id, the edit's time and the same
        ``edit_history_tweet_ids`` (oldest first) on every version; timelines show the newest only,
        lookups still answer the old one. Returns the new version's id."""
        with self.lock:
            old = self.tweets[tweet_id]
            history = [str(i) for i in old.get("edit_history_tweet_ids") or [tweet_id]]
            new_id = str(max(int(i) for i in self.tweets) + 1)
            new = {k: v for k, v in old.items() if k not in ("entities", "note_tweet", "attachments")}
            new.update(
                id=new_id,
                text=text,
                created_at=time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                edit_history_tweet_ids=[*history, new_id],
            )
            for version in history:
                if version in self.tweets:
                    self.tweets[version]["edit_history_tweet_ids"] = [*history, new_id]
                    self.superseded.add(version)
            self.tweets[new_id] = new
            self._reindex()
            return new_id

    def add_tweet(self, raw: Raw) -> None:
        """Add (or merge) a raw tweet; it appears in its author's timeline at once."""
        with self.lock:
            merge_into(self.tweets, str(raw["id"]), raw)
            self._reindex()

    def add_user(self, raw: Raw) -> None:
        """Add (or merge) a raw user."""
        with self.lock:
            merge_into(self.users, str(raw["id"]), raw)

    def add_media(self, raw: Raw) -> None:
        """Add (or merge) a raw media object."""
        with self.lock:
            merge_into(self.media, str(raw["media_key"]), raw)

    def add_synthetic_users(self, n: int, tweets_each: int = 3) -> list[str]:
        """Add `n` SYNTHETIC users (synthetic: no fixture has 1,000 accounts), each with `tweets_each`
        short tweets; returns their usernames (`synth_u00000`...). Deterministic."""
        names: list[str] = []
        with self.lock:
            for i in range(n):
                uid = str(1691000000000000000 + i)
                name = f"synth_u{i:05d}"
                self.users[uid] = {"id": uid, "username": name, "name": f"Synthetic user {i}"}
                for j in range(tweets_each):
                    tid = str(1710000000000000000 + i * 1000 + j)
                    self.tweets[tid] = {
                        "id": tid,
                        "text": f"Synthetic tweet {j} of {name}",
                        "author_id": uid,
                        "created_at": f"2023-10-{1 + j % 28:02d}T{i % 24:02d}:00:00.000Z",
                        "edit_history_tweet_ids": [tid],
                        "conversation_id": tid,
                        "lang": "en",
                    }
                names.append(name)
            self._reindex()
        return names

    def hold_back(self, user_id: str, keep: int) -> None:
        """Hide all but the `keep` oldest tweets of that user (from timeline and lookups)."""
        with self.lock:
            ids = self._by_author.get(user_id, [])  # newest first
            self._hidden[user_id] = set(ids[: max(len(ids) - keep, 0)])
            self._rehide()

    def release(self, user_id: str, n: int) -> list[str]:
        """Reveal the next `n` held-back tweets of that user, oldest first; returns their ids."""
        with self.lock:
            hidden = self._hidden.get(user_id, set())
            out = sorted(hidden, key=_id_key)[:n]
            hidden.difference_update(out)
            self._rehide()
            return out

    def release_all(self, user_id: str) -> list[str]:
        """Reveal every held-back tweet of that user."""
        with self.lock:
            return self.release(user_id, len(self._hidden.get(user_id, set())))

    def held_back(self, user_id: str) -> list[str]:
        """Ids still hidden for that user, oldest first."""
        with self.lock:
            return sorted(self._hidden.get(user_id, set()), key=_id_key)

    def hidden_ids(self) -> set[str]:
        """Every held-back tweet id."""
        with self.lock:
            return set(self._hidden_all)
