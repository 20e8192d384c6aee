"""A tweet's later life in the state database (SPEC §10): fates, deletion requests, hand-offs.

- ``tweet_fates``: a mirrored tweet X deleted (``deleted``) or an edit replaced (``superseded``, with the
  newest version's id). Nothing publishes such a tweet again, ``--force`` aside.
- ``retractions``: the kind 5 deletion requests, one per retracted event (``target_id`` is unique), kept
  signed so that a restart sends the same event, and the relays that accepted each.
- ``handoffs``: per account, the one pointer note to the real person's npub (signed and written before it
  is sent, so that a restart sends that same note and never a second one), which relays took it, and
  whether the kind 0 naming the npub went out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from nostrweet.cache.atomic import make_private_dir
from nostrweet.cache.layout import normalize_username
from nostrweet.nostr.event import SignedEvent
from nostrweet.state.engine import STATE_FILE, State, default_state_url, open_state
from nostrweet.state.sql import Row, chunks, in_list

DELETED = "deleted"
SUPERSEDED = "superseded"


@dataclass(frozen=True, slots=True)
class TweetFate:
    """A retired tweet: why, and (superseded) its newest version."""

    tweet_id: str
    fate: str
    successor: str | None
    decided_at: int


@dataclass(frozen=True, slots=True)
class Retraction:
    """A kind 5 sent (or to send) for one event of a retired tweet."""

    event: SignedEvent
    target_id: str
    tweet_id: str
    relays: frozenset[str]
    accepted: frozenset[str]
    created_at: int

    @property
    def due(self) -> list[str]:
        """The relays it goes to that have not accepted it yet."""
        return sorted(self.relays - self.accepted)


@dataclass(frozen=True, slots=True)
class Handoff:
    """An account's hand-off: the pointer note, who took it, and whether kind 0 went out."""

    username: str
    npub: str
    event: SignedEvent
    accepted: frozenset[str]
    profile_done: bool
    created_at: int


def open_lifecycle_state(data_dir: Path, url: str | None, *, create: bool) -> State | None:
    """The state a tweet's later life is kept in (``url``, else ``<data-dir>/nostrweet.sqlite3``),
    migrated; None when ``create`` is False and the default file does not exist (a data dir no daemon
    ran on has nothing retired).

    It does not import the file layout: the commands and the daemon open the state through
    :func:`~nostrweet.state.opening.open_data_state`, which does, and share it with the lifecycle; this
    opener is for tools and tests that only look at the lifecycle tables.
    """
    if url is None:
        if not create and not (Path(data_dir) / STATE_FILE).exists():
            return None
        make_private_dir(Path(data_dir))
    return open_state(url or default_state_url(Path(data_dir)))


def _relays(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _join(relays: Iterable[str]) -> str:
    return " ".join(sorted(set(relays)))


class LifecycleRepo:
    """The tables ``tweet_fates``, ``retractions`` and ``handoffs``."""

    def __init__(self, state: State) -> None:
        self.state = state

    # -- fates ------------------------------------------------------------------------------

    def fates(self, tweet_ids: Iterable[str | int]) -> dict[str, TweetFate]:
        """The fates of those of ``tweet_ids`` that are retired."""
        ids = sorted({str(t) for t in tweet_ids})
        out: dict[str, TweetFate] = {}
        with self.state.read() as tx:
            for part in chunks(ids):
                inside, params = in_list("t", part)
                rows = tx.rows(
                    "SELECT tweet_id, fate, successor, decided_at FROM tweet_fates "
                    f"WHERE tweet_id IN ({inside})",
                    params,
                )
                for tweet_id, fate, successor, decided_at in rows:
                    out[tweet_id] = TweetFate(tweet_id, fate, successor, int(decided_at))
        return out

    def retired(self, tweet_ids: Iterable[str | int]) -> dict[str, str | None]:
        """Of ``tweet_ids``, those retired: id -> the newest version (superseded) or None (deleted)."""
        return {t: f.successor if f.fate == SUPERSEDED else None for t, f in self.fates(tweet_ids).items()}

    def deleted_without_retractions(self, *, limit: int = 1000) -> list[str]:
        """Tweets marked deleted that have no kind 5 kept (marked by ``fetch-tweet``, which cannot sign)."""
        with self.state.read() as tx:
            rows = tx.rows(
                "SELECT tweet_id FROM tweet_fates WHERE fate = :fate "
                "AND tweet_id NOT IN (SELECT tweet_id FROM retractions) "
                "ORDER BY decided_at LIMIT :limit",
                {"fate": DELETED, "limit": limit},
            )
        return [str(r[0]) for r in rows]

    def fate(self, tweet_id: str | int) -> TweetFate | None:
        """The fate of one tweet, or None while it is alive."""
        return self.fates([tweet_id]).get(str(tweet_id))

    def retire(self, fates: Sequence[TweetFate]) -> None:
        """Record fates in one transaction. A deletion replaces a superseded mark, never the reverse."""
        if not fates:
            return
        values = [
            {"tweet_id": f.tweet_id, "fate": f.fate, "successor": f.successor, "decided_at": f.decided_at}
            for f in fates
        ]
        with self.state.write() as tx:
            tx.run_many(
                "INSERT INTO tweet_fates (tweet_id, fate, successor, decided_at) "
                "VALUES (:tweet_id, :fate, :successor, :decided_at) "
                "ON CONFLICT (tweet_id) DO UPDATE SET fate = excluded.fate, successor = excluded.successor "
                f"WHERE excluded.fate = '{DELETED}'",
                values,
            )

    # -- retractions ------------------------------------------------------------------------

    def add_retractions(self, items: Sequence[Retraction]) -> None:
        """Keep signed kind 5 events (one per target; a target already retracted keeps its first)."""
        if not items:
            return
        values = [
            {
                "event_id": r.event.id,
                "target_id": r.target_id,
                "tweet_id": r.tweet_id,
                "event_json": r.event.to_json(),
                "relays": _join(r.relays),
                "accepted": _join(r.accepted),
                "created_at": r.created_at,
            }
            for r in items
        ]
        with self.state.write() as tx:
            tx.run_many(
                "INSERT INTO retractions (event_id, target_id, tweet_id, event_json, relays, accepted, "
                "created_at) VALUES (:event_id, :target_id, :tweet_id, :event_json, :relays, :accepted, "
                ":created_at) ON CONFLICT DO NOTHING",
                values,
            )

    _RETRACTION_COLUMNS = "event_json, target_id, tweet_id, relays, accepted, created_at"

    @staticmethod
    def _retraction(row: Row) -> Retraction:
        event_json, target_id, tweet_id, relays, accepted, created_at = row
        return Retraction(
            SignedEvent.from_json(event_json),
            str(target_id),
            str(tweet_id),
            _relays(relays),
            _relays(accepted),
            int(created_at),
        )

    def retractions_of(self, tweet_ids: Iterable[str | int]) -> list[Retraction]:
        """The kind 5 events kept for these tweets."""
        ids = sorted({str(t) for t in tweet_ids})
        rows: list[Row] = []
        with self.state.read() as tx:
            for part in chunks(ids):
                inside, params = in_list("t", part)
                rows += tx.rows(
                    f"SELECT {self._RETRACTION_COLUMNS} FROM retractions WHERE tweet_id IN ({inside}) "
                    "ORDER BY created_at",
                    params,
                )
        rows.sort(key=lambda r: int(r[5]))  # one order across the slices (stable within each)
        return [self._retraction(r) for r in rows]

    def unsent_retractions(self, *, limit: int = 500) -> list[Retraction]:
        """Kind 5 events that some relay they go to has not accepted yet, oldest first."""
        out: list[Retraction] = []
        with self.state.read() as tx:
            rows = tx.rows(
                f"SELECT {self._RETRACTION_COLUMNS} FROM retractions WHERE relays <> accepted ORDER BY created_at"
            )
        for row in rows:
            item = self._retraction(row)
            if item.due:
                out.append(item)
                if len(out) >= limit:
                    break
        return out

    def retracted_targets(self) -> set[str]:
        """Every event id a kind 5 has been kept for."""
        with self.state.read() as tx:
            return {str(r[0]) for r in tx.rows("SELECT target_id FROM retractions")}

    def mark_retraction_accepted(self, event_id: str, relays: Iterable[str]) -> None:
        """Add relays that accepted the kind 5 ``event_id``."""
        with self.state.write() as tx:
            accepted = tx.scalar("SELECT accepted FROM retractions WHERE event_id = :id", {"id": event_id})
            if accepted is None:
                return
            merged = _join([*_relays(accepted), *relays])
            tx.run(
                "UPDATE retractions SET accepted = :accepted WHERE event_id = :id",
                {"accepted": merged, "id": event_id},
            )

    # -- hand-offs --------------------------------------------------------------------------

    def handoff(self, username: str) -> Handoff | None:
        """The hand-off of an account, or None if it has none yet."""
        name = normalize_username(username)
        with self.state.read() as tx:
            row = tx.first(
                "SELECT username, npub, event_json, accepted, profile_done, created_at FROM handoffs "
                "WHERE username = :name",
                {"name": name},
            )
        if row is None:
            return None
        found, npub, event_json, accepted, profile_done, created_at = row
        return Handoff(
            found,
            npub,
            SignedEvent.from_json(event_json),
            _relays(accepted),
            bool(profile_done),
            int(created_at),
        )

    def start_handoff(self, username: str, npub: str, event: SignedEvent, created_at: int) -> Handoff:
        """Keep the pointer note before it is sent; if the account already has one, that one is returned
        and ``event`` is dropped (two processes racing keep one note)."""
        name = normalize_username(username)
        with self.state.write() as tx:
            tx.run(
                "INSERT INTO handoffs (username, npub, event_id, event_json, accepted, profile_done, "
                "created_at) VALUES (:username, :npub, :event_id, :event_json, :accepted, :profile_done, "
                ":created_at) ON CONFLICT DO NOTHING",
                {
                    "username": name,
                    "npub": npub,
                    "event_id": event.id,
                    "event_json": event.to_json(),
                    "accepted": "",
                    "profile_done": False,
                    "created_at": created_at,
                },
            )
        found = self.handoff(name)
        assert found is not None
        return found

    def mark_handoff(
        self, username: str, *, accepted: Iterable[str] = (), profile_done: bool = False
    ) -> None:
        """Add relays that took the pointer note; set ``profile_done`` once the kind 0 went out."""
        name = normalize_username(username)
        with self.state.write() as tx:
            row = tx.first(
                "SELECT accepted, profile_done FROM handoffs WHERE username = :name", {"name": name}
            )
            if row is None:
                return
            tx.run(
                "UPDATE handoffs SET accepted = :accepted, profile_done = :done WHERE username = :name",
                {
                    "accepted": _join([*_relays(row[0]), *accepted]),
                    "done": bool(row[1]) or profile_done,
                    "name": name,
                },
            )
