"""The index of the archive in the state: cached tweets, newest profiles, not-found markers, and the
tweets whose files were moved aside.

The store looks everything up here by id or by user (indexed queries, batched where a caller needs
many), so start-up lists nothing (SPEC §2) and costs the same at 1,000 or 1,000,000 files. The
archive's files stay as they are; a row is written after its file (crash order), and ``reindex`` adds
files the state does not know (one listing, through ``cache.scan.build_index``).

A tweet whose file did not parse (moved aside to ``*.corrupt``) is a ``meta`` row ``corrupt <id>`` →
its lower-case username: such files are rare, and the next fetch of that user looks them up again.

Every statement is SQL text (``state.sql``) on the state's own connections: no SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from nostrweet.cache import layout
from nostrweet.cache.index import CacheIndex
from nostrweet.cache.layout import EventSubject, normalize_username
from nostrweet.state.engine import State
from nostrweet.state.sql import BATCH, Tx, chunks, in_list, values_list

__all__ = ["BATCH", "ArchiveIndex", "ReindexReport", "TweetRow"]

_CORRUPT = "corrupt "
"""The ``meta`` key prefix of a tweet whose file was moved aside."""
_CORRUPT_KEYS = '"key" >= :corrupt_lo AND "key" < :corrupt_hi'
"""The ``meta`` keys of tweets whose files were moved aside: a range of the primary key (its bounds in
:data:`_CORRUPT_RANGE`)."""
_CORRUPT_RANGE = {"corrupt_lo": _CORRUPT, "corrupt_hi": _CORRUPT[:-1] + "!"}
_TWEET_COLUMNS = ("tweet_id", "username", "stamp", "file_name")


@dataclass(frozen=True, slots=True)
class TweetRow:
    """One cached tweet file: id, owner (lower case), stamp (YYYYMMDDHHMMSS) and file name."""

    tweet_id: int
    username: str
    stamp: int
    file_name: str

    @classmethod
    def from_name(cls, name: str) -> TweetRow | None:
        """The row of a tweet file name, None when it is not one."""
        stamp = layout.tweet_stamp_number(name)
        key = layout.tweet_name_key(name)
        if stamp is None or key is None:
            return None
        return cls(key[1], key[0], stamp, name)


@dataclass(frozen=True, slots=True)
class ReindexReport:
    """What ``reindex`` added to the state: files it did not know."""

    tweets: int
    profiles: int
    not_found: int

    @property
    def total(self) -> int:
        """Everything added."""
        return self.tweets + self.profiles + self.not_found


def _tweet_values(rows: Iterable[TweetRow]) -> list[dict[str, Any]]:
    return [
        {"tweet_id": r.tweet_id, "username": r.username, "stamp": r.stamp, "file_name": r.file_name}
        for r in rows
    ]


def _profile_stamp(name: str) -> int | None:
    """The stamp (YYYYMMDDHHMMSS) of a profile file name, None when it is not one."""
    parsed = layout.parse_profile_filename(name)
    return None if parsed is None else int(parsed.fetched_at.strftime("%Y%m%d%H%M%S"))


def write_profiles(tx: Tx, rows: Sequence[dict[str, Any]]) -> None:
    """Write profile rows (``username``, ``stamp``, ``file_name``), each replacing the user's row, in
    the caller's transaction: which snapshot wins is the caller's rule."""
    for part in chunks(rows):
        spelled, params = values_list(("username", "stamp", "file_name"), part)
        tx.run(
            f"INSERT INTO profiles (username, stamp, file_name) VALUES {spelled} "
            "ON CONFLICT (username) DO UPDATE SET stamp = excluded.stamp, file_name = excluded.file_name",
            params,
        )


class ArchiveIndex:
    """The ``tweets``, ``profiles`` and ``not_found`` tables."""

    def __init__(self, state: State) -> None:
        self.state = state

    def add_tweets(self, rows: Iterable[TweetRow]) -> None:
        """Record tweet files in one transaction (a tweet already known keeps its row)."""
        first: dict[int, TweetRow] = {}
        for r in rows:
            first.setdefault(r.tweet_id, r)
        values = _tweet_values(first.values())
        if not values:
            return
        with self.state.write() as tx:
            for part in chunks(values):
                spelled, params = values_list(_TWEET_COLUMNS, part)
                tx.run(
                    f"INSERT INTO tweets (tweet_id, username, stamp, file_name) VALUES {spelled} "
                    "ON CONFLICT (tweet_id) DO NOTHING",
                    params,
                )

    def add_listing(self, index: CacheIndex) -> ReindexReport:
        """Add what one listing of the data directory shows and the state does not know: tweet files,
        newer profile snapshots, not-found markers (``reindex``; what is known stays as it is)."""
        rows = [
            row
            for i in index.iter_tweet_ids()
            if (n := index.tweet_name(i)) and (row := TweetRow.from_name(n))
        ]
        names = [e.newest_profile for e in index.users.values() if e.newest_profile]
        before = self._counts()
        self.add_tweets(rows)
        self.add_profiles(n for n in names if n)
        self._repoint_profiles(index)
        self.add_not_found(index.not_found)
        for username, ids in index.corrupt.items():
            for tweet_id in ids:
                self.add_corrupt(username, tweet_id)
        after = self._counts()
        changed_profiles = after[1] - before[1]
        return ReindexReport(after[0] - before[0], changed_profiles, after[2] - before[2])

    def _repoint_profiles(self, index: CacheIndex) -> None:
        """A user's profile row that names a snapshot newer than every one the listing shows points at
        a file that is gone (removed by hand): it is pointed at the newest snapshot that is there."""
        listed = {u: e.newest_profile for u, e in index.users.items() if e.newest_profile}
        known = self.profile_names()
        stale = {
            u: n
            for u, n in listed.items()
            if u in known
            and known[u] > n
            and layout.parse_profile_filename(n) is not None
            and layout.parse_profile_filename(known[u]) is not None
        }
        if not stale:
            return
        updates: list[dict[str, Any]] = []
        for username, name in stale.items():
            stamp = _profile_stamp(name)
            assert stamp is not None
            updates.append({"username": username, "stamp": stamp, "file_name": name})
        with self.state.write() as tx:
            for part in chunks(updates):
                tx.run_many(
                    "UPDATE profiles SET stamp = :stamp, file_name = :file_name WHERE username = :username",
                    part,
                )

    def _counts(self) -> tuple[int, int, int]:
        with self.state.read() as tx:
            row = tx.first(
                "SELECT (SELECT count(*) FROM tweets), (SELECT count(*) FROM profiles), "
                "(SELECT count(*) FROM not_found)"
            )
        assert row is not None
        return int(row[0] or 0), int(row[1] or 0), int(row[2] or 0)

    def put_tweet(self, row: TweetRow) -> None:
        """Record a tweet file just written (its row replaces an older one of the same id: the author
        was renamed, so the file name changed); its not-found marker, if any, goes."""
        self.put_tweets([row])

    def put_tweets(self, rows: Sequence[TweetRow]) -> None:
        """:meth:`put_tweet` for many files just written, in one transaction."""
        if not rows:
            return
        last = {r.tweet_id: r for r in rows}  # one statement may not update a row twice: the last wins
        values = _tweet_values(last.values())
        ids = list(last)
        with self.state.write() as tx:
            for part in chunks(values):
                spelled, params = values_list(_TWEET_COLUMNS, part)
                tx.run(
                    f"INSERT INTO tweets (tweet_id, username, stamp, file_name) VALUES {spelled} "
                    "ON CONFLICT (tweet_id) DO UPDATE SET username = excluded.username, "
                    "stamp = excluded.stamp, file_name = excluded.file_name",
                    params,
                )
            for part in chunks(ids):
                inside, params = in_list("id", part)
                tx.run(f"DELETE FROM not_found WHERE tweet_id IN ({inside})", params)
                inside, params = in_list("k", [f"{_CORRUPT}{i}" for i in part])
                tx.run(f'DELETE FROM meta WHERE "key" IN ({inside})', params)

    def clear(self) -> None:
        """Forget every tweet, profile and not-found marker (``clear-cache``)."""
        with self.state.write() as tx:
            for table in ("tweets", "profiles", "not_found"):
                tx.run(f"DELETE FROM {table}")
            tx.run(f"DELETE FROM meta WHERE {_CORRUPT_KEYS}", _CORRUPT_RANGE)

    def remove_tweet(self, tweet_id: int) -> None:
        """Forget a tweet file (it was moved aside)."""
        with self.state.write() as tx:
            tx.run("DELETE FROM tweets WHERE tweet_id = :id", {"id": int(tweet_id)})

    def tweet_name(self, tweet_id: int) -> str | None:
        """The file name of a cached tweet, None if not cached."""
        with self.state.read() as tx:
            name = tx.scalar("SELECT file_name FROM tweets WHERE tweet_id = :id", {"id": int(tweet_id)})
        return str(name) if name is not None else None

    def tweet_names(self, tweet_ids: Iterable[int]) -> dict[int, str]:
        """The file names of those of ``tweet_ids`` that are cached (one query per :data:`BATCH` ids)."""
        wanted = sorted(set(tweet_ids))
        out: dict[int, str] = {}
        if not wanted:
            return out
        with self.state.read() as tx:
            for part in chunks(wanted):
                out.update(self._names_among(tx, part))
        return out

    @staticmethod
    def _names_among(tx: Tx, ids: Sequence[int]) -> Iterator[tuple[int, str]]:
        inside, params = in_list("id", ids)
        for i, n in tx.rows(f"SELECT tweet_id, file_name FROM tweets WHERE tweet_id IN ({inside})", params):
            yield int(i), str(n)

    def tweet_rows_of(self, username: str) -> list[tuple[int, str]]:
        """A user's cached tweets as (id, file name), oldest first (one indexed query)."""
        with self.state.read() as tx:
            rows = tx.rows(
                "SELECT tweet_id, file_name FROM tweets WHERE username = :user ORDER BY tweet_id",
                {"user": normalize_username(username)},
            )
        return [(int(i), str(n)) for i, n in rows]

    def tweet_ids_of(self, username: str) -> list[int]:
        """A user's cached tweet ids, oldest first."""
        return [i for i, _ in self.tweet_rows_of(username)]

    def iter_tweets(self, *, newest_first: bool = False, page: int = 5000) -> Iterator[tuple[int, str]]:
        """Every cached tweet as (id, file name), by id, in pages of ``page`` rows (keyset paging: the
        memory stays one page whatever the archive's size)."""
        after: int | None = None
        order, past = ("DESC", "<") if newest_first else ("ASC", ">")
        while True:
            where = "" if after is None else f"WHERE tweet_id {past} :after "
            with self.state.read() as tx:
                found = tx.rows(
                    f"SELECT tweet_id, file_name FROM tweets {where}ORDER BY tweet_id {order} LIMIT :page",
                    {"after": after, "page": int(page)} if after is not None else {"page": int(page)},
                )
            rows = [(int(i), str(n)) for i, n in found]
            yield from rows
            if len(rows) < page:
                return
            after = rows[-1][0]

    def tweet_counts(self) -> dict[str, int]:
        """How many tweets of each user are cached (one grouped query over the user index)."""
        with self.state.read() as tx:
            rows = tx.rows("SELECT username, count(*) FROM tweets GROUP BY username")
        return {str(u): int(n) for u, n in rows}

    def users_with_tweets(self) -> list[str]:
        """The (lower-case) users with at least one cached tweet, sorted."""
        with self.state.read() as tx:
            rows = tx.rows("SELECT DISTINCT username FROM tweets ORDER BY username")
        return [str(u) for (u,) in rows]

    def usernames(self) -> list[str]:
        """Every (lower-case) user the archive knows: with a cached tweet or a profile snapshot, sorted."""
        with self.state.read() as tx:
            rows = tx.rows("SELECT username FROM tweets UNION SELECT username FROM profiles")
        return sorted(str(u) for (u,) in rows)

    def profile_names(self) -> dict[str, str]:
        """Every user's newest profile snapshot: lower-case username → file name."""
        with self.state.read() as tx:
            rows = tx.rows("SELECT username, file_name FROM profiles")
        return {str(u): str(n) for u, n in rows}

    def tweet_span(self, username: str) -> tuple[int, int, int]:
        """A user's cached tweets as (how many, oldest id, newest id), (0, 0, 0) if none: one aggregate
        over the user index, whatever the user's archive."""
        with self.state.read() as tx:
            row = tx.first(
                "SELECT count(*), min(tweet_id), max(tweet_id) FROM tweets WHERE username = :user",
                {"user": normalize_username(username)},
            )
        assert row is not None
        return int(row[0] or 0), int(row[1] or 0), int(row[2] or 0)

    def newest_tweet_id(self, username: str) -> int:
        """A user's newest cached tweet id (0 if none)."""
        with self.state.read() as tx:
            newest = tx.scalar(
                "SELECT max(tweet_id) FROM tweets WHERE username = :user",
                {"user": normalize_username(username)},
            )
        return int(newest or 0)

    def tweet_count(self) -> int:
        """How many tweets are cached."""
        with self.state.read() as tx:
            return int(tx.scalar("SELECT count(*) FROM tweets") or 0)

    def tweets_without_events(self) -> list[int]:
        """Cached tweet ids that no event record is built for yet, oldest first."""
        with self.state.read() as tx:
            rows = tx.rows(
                "SELECT t.tweet_id FROM tweets AS t WHERE NOT EXISTS (SELECT e.event_id FROM events AS e "
                "WHERE e.subject = :subject AND e.subject_id = CAST(t.tweet_id AS TEXT)) ORDER BY t.tweet_id",
                {"subject": EventSubject.TWEET.value},
            )
        return [int(i) for (i,) in rows]

    def add_profiles(self, names: Iterable[str]) -> None:
        """Record profile files; each user keeps the newest (by stamp, then name)."""
        newest: dict[str, tuple[int, str]] = {}
        for name in names:
            parsed = layout.parse_profile_filename(name)
            if parsed is None:
                continue
            stamp = int(parsed.fetched_at.strftime("%Y%m%d%H%M%S"))
            if (stamp, name) > newest.get(parsed.username, (-1, "")):
                newest[parsed.username] = (stamp, name)
        if not newest:
            return
        with self.state.write() as tx:
            known: dict[str, tuple[int, str]] = {}
            for part in chunks(list(newest)):
                inside, params = in_list("u", part)
                for u, s, n in tx.rows(
                    f"SELECT username, stamp, file_name FROM profiles WHERE username IN ({inside})", params
                ):
                    known[str(u)] = (int(s), str(n))
            values = [
                {"username": u, "stamp": s, "file_name": n}
                for u, (s, n) in newest.items()
                if (s, n) > known.get(u, (-1, ""))
            ]
            write_profiles(tx, values)

    def newest_profile(self, username: str) -> str | None:
        """The file name of a user's newest profile snapshot."""
        with self.state.read() as tx:
            name = tx.scalar(
                "SELECT file_name FROM profiles WHERE username = :user",
                {"user": normalize_username(username)},
            )
        return str(name) if name is not None else None

    def add_not_found(self, tweet_ids: Iterable[int]) -> None:
        """Record tweets that are deleted, protected or never existed."""
        values = [{"tweet_id": i} for i in sorted({int(i) for i in tweet_ids})]
        if not values:
            return
        with self.state.write() as tx:
            for part in chunks(values):
                spelled, params = values_list(("tweet_id",), part)
                tx.run(
                    f"INSERT INTO not_found (tweet_id) VALUES {spelled} ON CONFLICT (tweet_id) DO NOTHING",
                    params,
                )

    def not_found_among(self, tweet_ids: Iterable[int]) -> set[int]:
        """Those of ``tweet_ids`` that carry a not-found marker (one query per :data:`BATCH` ids)."""
        wanted = sorted(set(tweet_ids))
        out: set[int] = set()
        if not wanted:
            return out
        with self.state.read() as tx:
            for part in chunks(wanted):
                inside, params = in_list("id", part)
                out.update(
                    int(i)
                    for (i,) in tx.rows(
                        f"SELECT tweet_id FROM not_found WHERE tweet_id IN ({inside})", params
                    )
                )
        return out

    def remove_not_found(self, tweet_id: int) -> None:
        """Forget a tweet's not-found marker."""
        with self.state.write() as tx:
            tx.run("DELETE FROM not_found WHERE tweet_id = :id", {"id": int(tweet_id)})

    def add_corrupt(self, username: str, tweet_id: int) -> None:
        """Remember a tweet of ``username`` whose file was moved aside: the next fetch of that user
        looks it up again."""
        with self.state.write() as tx:
            tx.run(
                'INSERT INTO meta ("key", "value") VALUES (:key, :value) '
                'ON CONFLICT ("key") DO UPDATE SET "value" = excluded."value"',
                {"key": f"{_CORRUPT}{int(tweet_id)}", "value": normalize_username(username)},
            )

    def corrupt_users(self) -> dict[int, str]:
        """Every tweet whose file was moved aside: id → lower-case username (one range of ``meta``)."""
        with self.state.read() as tx:
            rows = tx.rows(f'SELECT "key", "value" FROM meta WHERE {_CORRUPT_KEYS}', _CORRUPT_RANGE)
        return {int(str(k).removeprefix(_CORRUPT)): str(v) for k, v in rows}

    def corrupt_ids_of(self, username: str) -> list[int]:
        """Ids of a user's tweets whose files were moved aside and that are neither cached again nor
        marked not found, oldest first."""
        with self.state.read() as tx:
            rows = tx.rows(
                f'SELECT "key" FROM meta WHERE {_CORRUPT_KEYS} AND "value" = :user',
                {**_CORRUPT_RANGE, "user": normalize_username(username)},
            )
        ids = sorted(int(str(k).removeprefix(_CORRUPT)) for (k,) in rows)
        if not ids:
            return []
        gone = set(self.tweet_names(ids)) | self.not_found_among(ids)
        return [i for i in ids if i not in gone]

    def is_not_found(self, tweet_id: int) -> bool:
        """Whether a tweet carries a not-found marker."""
        with self.state.read() as tx:
            return (
                tx.first("SELECT tweet_id FROM not_found WHERE tweet_id = :id", {"id": int(tweet_id)})
                is not None
            )
