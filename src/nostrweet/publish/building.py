"""The build step of publishing: the documents, what a tweet's event names, then the pure build.

:class:`TweetSource` is where the publisher's documents come from: those the caller handed in (an
archive run's, in memory), else the cache, each file read once per round, else fetched by an archiver.

A tweet's event may name other events (a reply's parent and thread root, a quoted tweet, a retweeted
original) and other identities (its author, the mentioned users, a reply's parent author). Before
:func:`nostrweet.bridge.events.build_tweet_event` runs, :func:`load_context` loads exactly what
:func:`~nostrweet.bridge.context.needed_refs` and :func:`~nostrweet.bridge.context.needed_users` list into
plain mappings, so building reads neither the disk nor the state.

:class:`RefBook` is where a tweet's event is found: a round in progress first (never evicted while it
runs), then a bounded LRU, then the tweet's best event record in the state (the record a re-send would
use), so a miss reads the record and never builds a different event.

:class:`TweetBuilder` prepares a tweet's unit: its recorded event when it has one (an event that has a
record is never rebuilt, so its id never changes), else a new event built from the loaded context and
signed with the author's mirror key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

import msgspec

from nostrweet.bridge.context import BuildContext, EventRef, needed_refs, needed_users, sub_document
from nostrweet.bridge.events import build_tweet_event
from nostrweet.bridge.media import MediaLink
from nostrweet.cache.layout import EventSubject
from nostrweet.errors import NostrweetError
from nostrweet.nostr.event import SignedEvent, UnsignedEvent, sign_event
from nostrweet.nostr.keys import MirrorKey
from nostrweet.nostr.record import EventRecord, best_record
from nostrweet.publish.media import MediaUploader
from nostrweet.publish.outcome import LruDict, PublishOutcome, Unit
from nostrweet.publish.plan import PlanItem, send_targets
from nostrweet.publish.records import PublishRecords
from nostrweet.shaping.filters import FilterBook, Skip
from nostrweet.store import CacheStore
from nostrweet.twitter.models import TweetDocument

if TYPE_CHECKING:
    from nostrweet.archive.archiver import Archiver

log = logging.getLogger("nostrweet.publish.publisher")  # (the name the skip lines always had)


class KeySource(Protocol):
    """Where mirror keys come from (a KeyDeriver)."""

    def for_user(self, user_id: str | int) -> MirrorKey: ...


class RetiredTweets(Protocol):
    """Which tweets X deleted or an edit replaced (``state.lifecycle.LifecycleRepo``)."""

    def retired(self, tweet_ids: Iterable[str | int]) -> Mapping[str, str | None]:
        """Of ``tweet_ids``, those retired: id -> the newest version's id (an edit), or None (deleted)."""
        ...


class NoneRetired:
    """No tweet is retired (a publisher without the state's lifecycle)."""

    def retired(self, tweet_ids: Iterable[str | int]) -> Mapping[str, str | None]:
        return {}


Retired = Callable[[Iterable[str | int]], Mapping[str, str | None]]
"""Of some tweet ids, those retired on X: id -> the newest version's id (an edit), or None (deleted)."""


class SkipLog(Protocol):
    """Where skipped tweets are recorded (the state's ``skipped_tweets``; SPEC §12)."""

    def record_skip(self, tweet_id: str, rule: str) -> None: ...


class TweetSource:
    """The publisher's tweet documents: handed in, else read from the cache once per round, else
    fetched; and which of them the filters keep."""

    def __init__(
        self, store: CacheStore, archiver: Archiver | None, filters: FilterBook, skip_log: SkipLog
    ) -> None:
        self.store = store
        self.archiver = archiver
        self.filters = filters
        self.skip_log = skip_log
        self.given: Mapping[str, TweetDocument] = {}
        """Documents the caller holds (an archive run's), by id; used as they are."""
        self.read: dict[str, TweetDocument] = {}
        """Documents read from the cache in the current round (each file once)."""

    def cached(self, tweet_id: str) -> TweetDocument | None:
        """A tweet's document, handed in or from the cache (read once per round); None if not cached."""
        doc = self.given.get(tweet_id) or self.read.get(tweet_id)
        if doc is None and self.store.has_tweet(tweet_id):
            doc = self.store.read_tweet(tweet_id)
            if doc is not None:
                self.read[tweet_id] = doc
        return doc

    async def load(self, tweet_id: str) -> TweetDocument | None:
        """A requested tweet's document: :meth:`cached`, else fetched (with an archiver) unless X said
        it cannot be had."""
        doc = self.cached(tweet_id)
        if doc is None and self.archiver is not None and not self.store.is_not_found(tweet_id):
            doc = await self.archiver.fetch_tweet(tweet_id)
        return doc

    def resolve(self, parent: TweetDocument, tweet_id: str) -> TweetDocument | None:
        """A dependency of ``parent``: its own cached document, else its copy in the includes; None if
        neither, or if the filters leave it out."""
        own = self.cached(tweet_id)
        doc = own if own is not None else sub_document(parent, tweet_id)
        return doc if doc is not None and self.filters.keeps_dependency(parent, doc) else None

    def skipped(self, doc: TweetDocument) -> PublishOutcome | None:
        """The filters' one decision point (SPEC §12): a skipped tweet's outcome, recorded; else None."""
        decision = self.filters.decide(doc)
        if not isinstance(decision, Skip):
            return None
        self.skip_log.record_skip(doc.data.id, decision.rule)
        log.info(
            "tweet %s skipped by %s",
            doc.data.id,
            decision.describe(),
            extra={"tweet_id": doc.data.id, "action": "filter"},
        )
        return PublishOutcome(doc.data.id, "skipped", message=decision.rule)


def ref_of_event(event: SignedEvent) -> EventRef:
    """The ref other tweets' events name a signed event by."""
    return EventRef(event.id, event.pubkey, event.kind, event.to_json())


class RefBook:
    """The events tweets are referenced by: rounds in progress, a bounded LRU, then the state."""

    def __init__(self, records: PublishRecords, retired: Retired, *, cap: int) -> None:
        self.records = records
        self.retired = retired
        self.lru: LruDict[str, EventRef] = LruDict(cap)
        self.rounds: dict[object, dict[str, EventRef]] = {}

    def remember(self, tweet_id: str, ref: EventRef, round_refs: dict[str, EventRef]) -> None:
        """Keep a tweet's ref for its round (pinned) and in the LRU."""
        round_refs[tweet_id] = self.lru[tweet_id] = ref

    def of(self, tweet_id: str, retired: Mapping[str, str | None] | None = None) -> EventRef | None:
        """The event a tweet is referenced by; a reply or quote of an edited tweet names its newest
        version's event. None if the tweet has no event. ``retired``: the answer of the lifecycle for
        this id, when the caller asked it already (for several ids at once)."""
        for round_refs in self.rounds.values():
            found = round_refs.get(tweet_id)
            if found is not None:
                return found
        if tweet_id.isdigit():
            newer = (retired if retired is not None else self.retired([tweet_id])).get(tweet_id)
            if newer is not None and newer != tweet_id and (found := self.of(newer)) is not None:
                return found
        ref = self.lru.hit(tweet_id)
        if ref is None:
            best = best_record(self.records.for_tweet(tweet_id)) if tweet_id.isdigit() else None
            if best is None:
                return None
            ref = self.lru[tweet_id] = ref_of_event(SignedEvent.from_dict(best.event))
        return ref

    def load(self, tweet_ids: Sequence[str]) -> dict[str, EventRef]:
        """The refs of those of ``tweet_ids`` that have an event, as a plain mapping (the lifecycle is
        asked once for all of them)."""
        asked = [t for t in tweet_ids if t.isdigit() and not any(t in r for r in self.rounds.values())]
        retired = self.retired(asked) if asked else {}
        out: dict[str, EventRef] = {}
        for tweet_id in tweet_ids:
            ref = self.of(tweet_id, retired)
            if ref is not None:
                out[tweet_id] = ref
        return out


def load_context(
    doc: TweetDocument,
    keys: KeySource,
    refs: RefBook,
    media: Mapping[str, MediaLink],
    first_relay: str | None,
) -> BuildContext:
    """Everything building ``doc``'s event reads, loaded into plain mappings."""
    return BuildContext(
        pubkeys={uid: keys.for_user(uid).pubkey_hex for uid in needed_users(doc)},
        media=media,
        refs=refs.load(needed_refs(doc)),
        first_relay=first_relay,
    )


SIGN_GROUP = 8
"""Tweets of a level built before their events are signed, one after another. Signing in a row keeps
libsecp256k1's code and tables in the CPU caches, which building an event in Python between two
signatures evicts (docs/PERFORMANCE.md, B1); the rounds yield to the event loop between groups."""


class _Staged(msgspec.Struct):
    """A tweet on its way to a unit: its recorded event, one built and waiting to be signed, or the
    error that stopped it."""

    item: PlanItem
    record: EventRecord | None
    event: SignedEvent | None = None
    unsigned: UnsignedEvent | None = None
    key: MirrorKey | None = None
    error: NostrweetError | None = None


class TweetBuilder:
    """A tweet's unit to send: its recorded event, else one built and signed now (with its record)."""

    def __init__(
        self,
        keys: KeySource,
        refs: RefBook,
        records: PublishRecords,
        media: MediaUploader,
        relays: Sequence[str],
        *,
        force: bool,
        signers: int,
    ) -> None:
        self.keys = keys
        self.refs = refs
        self.records = records
        self.media = media
        self.relays = relays
        self.force = force
        self.signers: LruDict[str, MirrorKey] = LruDict(signers)
        """Mirror keys by pubkey, for NIP-42 AUTH of what they signed."""
        self.uploaders: set[str] = set()
        """Authors with media uploaded in the current round (their kind 10063 follows)."""

    async def prepare_group(
        self, items: Sequence[PlanItem], round_refs: dict[str, EventRef]
    ) -> list[Unit | NostrweetError]:
        """The units of planned tweets of one dependency level (none names another), in order; a
        tweet that fails gives its error instead. Each kept ref is the round's (what later levels
        name). Tweets with a recorded event keep it; the others are built first, then signed one
        after another (:data:`SIGN_GROUP`)."""
        staged = [await self._stage(item) for item in items]
        for entry in staged:  # signing in a row: see SIGN_GROUP
            if entry.unsigned is not None and entry.key is not None:
                try:
                    entry.event = sign_event(entry.unsigned, entry.key)
                except NostrweetError as exc:
                    entry.error = exc
        return [self._unit(entry, round_refs) for entry in staged]

    async def _stage(self, item: PlanItem) -> _Staged:
        """A tweet's recorded event, else its event built (not signed yet) with the signing key, else
        the error that stopped it."""
        try:
            best = best_record(self.records.for_tweet(item.tweet_id))
            if best is not None:
                return _Staged(item, best, event=SignedEvent.from_dict(best.event))
            unsigned, key = await self.build_unsigned(item)
        except NostrweetError as exc:
            return _Staged(item, None, error=exc)
        return _Staged(item, None, unsigned=unsigned, key=key)

    def _unit(self, staged: _Staged, round_refs: dict[str, EventRef]) -> Unit | NostrweetError:
        """The unit of a staged tweet whose event is signed: its record written ``pending`` if new."""
        tid = staged.item.tweet_id
        if staged.error is not None:
            return staged.error
        event = staged.event
        assert event is not None
        try:
            record = staged.record or self.records.get_or_create(
                event.to_dict(), EventSubject.TWEET, tid, tweet_id=tid
            )
        except NostrweetError as exc:
            return exc
        self.refs.remember(tid, ref_of_event(event), round_refs)
        accepted = self.records.accepted_relays(tid)
        rejected = {url for url, st in record.relays.items() if st.status == "rejected"}
        targets = send_targets(self.relays, accepted, rejected, force=self.force)
        return Unit(tid, record, event, targets, self.key_of(staged.item.author_id, event))

    async def build_unsigned(self, item: PlanItem) -> tuple[UnsignedEvent, MirrorKey]:
        """Upload the tweet's media, load what its event names and build it (pure); with the key
        that signs it."""
        author = item.author_id
        if author is None:
            raise NostrweetError(f"tweet {item.tweet_id} has no author_id")
        key = self.keys.for_user(author)
        media = await self.media.links_for(item.doc, key)
        if media.uploaded_any:
            self.uploaders.add(author)
        first_relay = self.relays[0] if self.relays else None
        ctx = load_context(item.doc, self.keys, self.refs, media.links, first_relay)
        return build_tweet_event(item.doc, ctx), key

    def key_of(self, user_id: str | None, event: SignedEvent) -> MirrorKey | None:
        """The mirror key of ``user_id`` if it signed ``event`` (remembered for AUTH), else None."""
        if user_id is None:
            return None
        key = self.keys.for_user(user_id)
        self.signers[key.pubkey_hex] = key
        return key if key.pubkey_hex == event.pubkey else None

    def own_key(self, event: SignedEvent, author_id: Callable[[], str | None]) -> MirrorKey | None:
        """The mirror key that signed a recorded event, if it is ours (for NIP-42 AUTH): remembered
        from this process, else derived from ``author_id()`` (the author of the event's tweet)."""
        key = self.signers.hit(event.pubkey)
        if key is None:
            author = author_id()
            if author is not None:
                candidate = self.keys.for_user(author)
                if candidate.pubkey_hex == event.pubkey:
                    key = self.signers[event.pubkey] = candidate
        return key
