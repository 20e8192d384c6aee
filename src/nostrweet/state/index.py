"""The index of the archive in the state: cached tweets, newest profiles, not-found markers, and the
tweets whose files were moved aside.

The store looks everything up here by id or by user (indexed queries, batched where a caller needs
many), so start-up lists nothing (SPEC §2) and costs the same at 1,000 or 1,000,000 files. The
archive's files stay as they are; a row is written after its file (crash order), and ``reindex`` adds
files the state does not know (one listing, through ``cache.scan.build_index``).

A tweet whose file did not parse (moved aside to ``*.corrupt``) is a ``meta`` row ``corrupt <id>`` →
its lower-case username: such files are rare, and the next fetch of that user looks them up again.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Text, cast, delete, func, select, union

from nostrweet.cache import layout
from nostrweet.cache.index import CacheIndex
from nostrweet.cache.layout import EventSubject, normalize_username
from nostrweet.state.engine import State
from nostrweet.state.schema import events, meta, not_found, profiles, tweets

BATCH = 500
"""Ids per ``IN (…)`` query of the batched lookups."""
_CORRUPT = "corrupt "
"""The ``meta`` key prefix of a tweet whose file was moved aside."""


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


class ArchiveIndex:
    """The ``tweets``, ``profiles`` and ``not_found`` tables."""

    def __init__(self, state: State) -> None:
        self.state = state

    def add_tweets(self, rows: Iterable[TweetRow]) -> None:
        """Record tweet files in one transaction (a tweet already known keeps its row)."""
        values = [
            {"tweet_id": r.tweet_id, "username": r.username, "stamp": r.stamp, "file_name": r.file_name}
            for r in rows
        ]
        if not values:
            return
        stmt = self.state.insert(tweets).on_conflict_do_nothing(index_elements=["tweet_id"])
        with self.state.engine.begin() as conn:
            conn.execute(stmt, values)

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
        with self.state.engine.begin() as conn:
            for username, name in stale.items():
                parsed = layout.parse_profile_filename(name)
                assert parsed is not None
                stamp = int(parsed.fetched_at.strftime("%Y%m%d%H%M%S"))
                conn.execute(
                    profiles.update()
                    .where(profiles.c.username == username)
                    .values(stamp=stamp, file_name=name)
                )

    def _counts(self) -> tuple[int, int, int]:
        with self.state.engine.connect() as conn:
            n = [
                int(conn.execute(select(func.count()).select_from(t)).scalar() or 0)
                for t in (tweets, profiles, not_found)
            ]
        return n[0], n[1], n[2]

    def put_tweet(self, row: TweetRow) -> None:
        """Record a tweet file just written (its row replaces an older one of the same id: the author
        was renamed, so the file name changed); its not-found marker, if any, goes."""
        self.put_tweets([row])

    def put_tweets(self, rows: Sequence[TweetRow]) -> None:
        """:meth:`put_tweet` for many files just written, in one transaction."""
        if not rows:
            return
        stmt = self.state.insert(tweets)
        stmt = stmt.on_conflict_do_update(
            index_elements=["tweet_id"],
            set_={c: stmt.excluded[c] for c in ("username", "stamp", "file_name")},
        )
        values = [
            {"tweet_id": r.tweet_id, "username": r.username, "stamp": r.stamp, "file_name": r.file_name}
            for r in rows
        ]
        ids = [r.tweet_id for r in rows]
        with self.state.engine.begin() as conn:
            conn.execute(stmt, values)
            conn.execute(delete(not_found).where(not_found.c.tweet_id.in_(ids)))
            conn.execute(delete(meta).where(meta.c.key.in_([f"{_CORRUPT}{i}" for i in ids])))

    def clear(self) -> None:
        """Forget every tweet, profile and not-found marker (``clear-cache``)."""
        with self.state.engine.begin() as conn:
            for table in (tweets, profiles, not_found):
                conn.execute(delete(table))
            conn.execute(delete(meta).where(*_corrupt_keys()))

    def remove_tweet(self, tweet_id: int) -> None:
        """Forget a tweet file (it was moved aside)."""
        with self.state.engine.begin() as conn:
            conn.execute(delete(tweets).where(tweets.c.tweet_id == tweet_id))

    def tweet_name(self, tweet_id: int) -> str | None:
        """The file name of a cached tweet, None if not cached."""
        with self.state.engine.connect() as conn:
            name = conn.execute(select(tweets.c.file_name).where(tweets.c.tweet_id == tweet_id)).scalar()
        return str(name) if name is not None else None

    def tweet_names(self, tweet_ids: Iterable[int]) -> dict[int, str]:
        """The file names of those of ``tweet_ids`` that are cached (one query per :data:`BATCH` ids)."""
        wanted = sorted(set(tweet_ids))
        out: dict[int, str] = {}
        with self.state.engine.connect() as conn:
            for at in range(0, len(wanted), BATCH):
                query = select(tweets.c.tweet_id, tweets.c.file_name).where(
                    tweets.c.tweet_id.in_(wanted[at : at + BATCH])
                )
                out.update((int(i), str(n)) for i, n in conn.execute(query))
        return out

    def tweet_rows_of(self, username: str) -> list[tuple[int, str]]:
        """A user's cached tweets as (id, file name), oldest first (one indexed query)."""
        query = (
            select(tweets.c.tweet_id, tweets.c.file_name)
            .where(tweets.c.username == normalize_username(username))
            .order_by(tweets.c.tweet_id)
        )
        with self.state.engine.connect() as conn:
            return [(int(i), str(n)) for i, n in conn.execute(query)]

    def tweet_ids_of(self, username: str) -> list[int]:
        """A user's cached tweet ids, oldest first."""
        return [i for i, _ in self.tweet_rows_of(username)]

    def iter_tweets(self, *, newest_first: bool = False, page: int = 5000) -> Iterator[tuple[int, str]]:
        """Every cached tweet as (id, file name), by id, in pages of ``page`` rows (keyset paging: the
        memory stays one page whatever the archive's size)."""
        after: int | None = None
        order = tweets.c.tweet_id.desc() if newest_first else tweets.c.tweet_id
        while True:
            query = select(tweets.c.tweet_id, tweets.c.file_name).order_by(order).limit(page)
            if after is not None:
                query = query.where(tweets.c.tweet_id < after if newest_first else tweets.c.tweet_id > after)
            with self.state.engine.connect() as conn:
                rows = [(int(i), str(n)) for i, n in conn.execute(query)]
            yield from rows
            if len(rows) < page:
                return
            after = rows[-1][0]

    def tweet_counts(self) -> dict[str, int]:
        """How many tweets of each user are cached (one grouped query over the user index)."""
        query = select(tweets.c.username, func.count()).group_by(tweets.c.username)
        with self.state.engine.connect() as conn:
            return {str(u): int(n) for u, n in conn.execute(query)}

    def users_with_tweets(self) -> list[str]:
        """The (lower-case) users with at least one cached tweet, sorted."""
        query = select(tweets.c.username).distinct().order_by(tweets.c.username)
        with self.state.engine.connect() as conn:
            return [str(u) for u in conn.execute(query).scalars()]

    def usernames(self) -> list[str]:
        """Every (lower-case) user the archive knows: with a cached tweet or a profile snapshot, sorted."""
        query = union(select(tweets.c.username), select(profiles.c.username))
        with self.state.engine.connect() as conn:
            return sorted(str(u) for u in conn.execute(query).scalars())

    def profile_names(self) -> dict[str, str]:
        """Every user's newest profile snapshot: lower-case username → file name."""
        with self.state.engine.connect() as conn:
            return {
                str(u): str(n) for u, n in conn.execute(select(profiles.c.username, profiles.c.file_name))
            }

    def tweet_span(self, username: str) -> tuple[int, int, int]:
        """A user's cached tweets as (how many, oldest id, newest id), (0, 0, 0) if none: one aggregate
        over the user index, whatever the user's archive."""
        user = normalize_username(username)
        query = select(func.count(), func.min(tweets.c.tweet_id), func.max(tweets.c.tweet_id)).where(
            tweets.c.username == user
        )
        with self.state.engine.connect() as conn:
            row = conn.execute(query).one()
        return int(row[0] or 0), int(row[1] or 0), int(row[2] or 0)

    def newest_tweet_id(self, username: str) -> int:
        """A user's newest cached tweet id (0 if none)."""
        query = select(func.max(tweets.c.tweet_id)).where(tweets.c.username == normalize_username(username))
        with self.state.engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    def tweet_count(self) -> int:
        """How many tweets are cached."""
        with self.state.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(tweets)).scalar() or 0)

    def tweets_without_events(self) -> list[int]:
        """Cached tweet ids that no event record is built for yet, oldest first."""
        has = select(events.c.event_id).where(
            events.c.subject == EventSubject.TWEET.value,
            events.c.subject_id == cast(tweets.c.tweet_id, Text),
        )
        query = select(tweets.c.tweet_id).where(~has.exists()).order_by(tweets.c.tweet_id)
        with self.state.engine.connect() as conn:
            return [int(i) for i in conn.execute(query).scalars()]

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
        with self.state.engine.begin() as conn:
            known = {
                r.username: (int(r.stamp), str(r.file_name))
                for r in conn.execute(select(profiles).where(profiles.c.username.in_(list(newest))))
            }
            values = [
                {"username": u, "stamp": s, "file_name": n}
                for u, (s, n) in newest.items()
                if (s, n) > known.get(u, (-1, ""))
            ]
            if values:
                stmt = self.state.insert(profiles).values(values)
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["username"],
                        set_={"stamp": stmt.excluded.stamp, "file_name": stmt.excluded.file_name},
                    )
                )

    def newest_profile(self, username: str) -> str | None:
        """The file name of a user's newest profile snapshot."""
        query = select(profiles.c.file_name).where(profiles.c.username == normalize_username(username))
        with self.state.engine.connect() as conn:
            name = conn.execute(query).scalar()
        return str(name) if name is not None else None

    def add_not_found(self, tweet_ids: Iterable[int]) -> None:
        """Record tweets that are deleted, protected or never existed."""
        values = [{"tweet_id": int(i)} for i in set(tweet_ids)]
        if not values:
            return
        stmt = self.state.insert(not_found).on_conflict_do_nothing(index_elements=["tweet_id"])
        with self.state.engine.begin() as conn:
            conn.execute(stmt, values)

    def not_found_among(self, tweet_ids: Iterable[int]) -> set[int]:
        """Those of ``tweet_ids`` that carry a not-found marker (one query per :data:`BATCH` ids)."""
        wanted = sorted(set(tweet_ids))
        out: set[int] = set()
        with self.state.engine.connect() as conn:
            for at in range(0, len(wanted), BATCH):
                query = select(not_found.c.tweet_id).where(not_found.c.tweet_id.in_(wanted[at : at + BATCH]))
                out.update(int(i) for i in conn.execute(query).scalars())
        return out

    def remove_not_found(self, tweet_id: int) -> None:
        """Forget a tweet's not-found marker."""
        with self.state.engine.begin() as conn:
            conn.execute(delete(not_found).where(not_found.c.tweet_id == tweet_id))

    def add_corrupt(self, username: str, tweet_id: int) -> None:
        """Remember a tweet of ``username`` whose file was moved aside: the next fetch of that user
        looks it up again."""
        stmt = self.state.insert(meta).values(
            key=f"{_CORRUPT}{int(tweet_id)}", value=normalize_username(username)
        )
        with self.state.engine.begin() as conn:
            conn.execute(
                stmt.on_conflict_do_update(index_elements=["key"], set_={"value": stmt.excluded.value})
            )

    def corrupt_users(self) -> dict[int, str]:
        """Every tweet whose file was moved aside: id → lower-case username (one range of ``meta``)."""
        query = select(meta.c.key, meta.c.value).where(*_corrupt_keys())
        with self.state.engine.connect() as conn:
            return {int(str(k).removeprefix(_CORRUPT)): str(v) for k, v in conn.execute(query)}

    def corrupt_ids_of(self, username: str) -> list[int]:
        """Ids of a user's tweets whose files were moved aside and that are neither cached again nor
        marked not found, oldest first."""
        query = select(meta.c.key).where(*_corrupt_keys(), meta.c.value == normalize_username(username))
        with self.state.engine.connect() as conn:
            ids = sorted(int(str(k).removeprefix(_CORRUPT)) for k in conn.execute(query).scalars())
        if not ids:
            return []
        gone = set(self.tweet_names(ids)) | self.not_found_among(ids)
        return [i for i in ids if i not in gone]

    def is_not_found(self, tweet_id: int) -> bool:
        """Whether a tweet carries a not-found marker."""
        with self.state.engine.connect() as conn:
            return (
                conn.execute(select(not_found.c.tweet_id).where(not_found.c.tweet_id == tweet_id)).first()
                is not None
            )


def _corrupt_keys() -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """The ``meta`` keys of tweets whose files were moved aside: a range of the primary key."""
    return meta.c.key >= _CORRUPT, meta.c.key < _CORRUPT[:-1] + "!"
