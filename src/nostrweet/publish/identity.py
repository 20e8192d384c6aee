"""The replaceable events of a mirror identity: kind 0 profile, kind 10002 relay list, kind 10063 Blossom list.

Each is published again only when it changed against the newest record of the same subject (kind 0:
its content; 10002/10063: its tags), or with ``--force``. When unchanged, the recorded event is sent to
the configured relays that do not hold it yet. A new version's ``created_at`` is now, and always later
than the previous version's, so relays replace the old one.
"""

from __future__ import annotations

from collections.abc import Callable

from nostrweet.bridge.profile import build_blossom_list_event, build_profile_event, build_relay_list_event
from nostrweet.cache.layout import EventSubject
from nostrweet.nostr.event import SignedEvent, UnsignedEvent, sign_event
from nostrweet.nostr.record import EventRecord
from nostrweet.publish.delivery import UnitDelivery
from nostrweet.publish.outcome import PublishOutcome, Unit
from nostrweet.publish.plan import profile_changed, same_tag_set, send_targets
from nostrweet.twitter.models import User


def _changed_tags(new: UnsignedEvent, old: EventRecord) -> bool:
    return not same_tag_set(new.tags, old.event.get("tags"))


def _changed_content(new: UnsignedEvent, old: EventRecord) -> bool:
    return profile_changed(new.content, str(old.event.get("content", "")))


async def _publish_replaceable(
    pub: UnitDelivery,
    subject: EventSubject,
    user_id: str,
    build: Callable[[str, int], UnsignedEvent],
    changed: Callable[[UnsignedEvent, EventRecord], bool],
) -> PublishOutcome:
    key = pub.keys.for_user(user_id)
    newest = pub.records.newest_for_user(subject, user_id)
    now = int(pub.clock())
    created_at = max(now, newest.created_at + 1) if newest is not None else now
    unsigned = build(key.pubkey_hex, created_at)
    if newest is not None and newest.event.get("pubkey") == key.pubkey_hex and not changed(unsigned, newest):
        record = newest
        event = SignedEvent.from_dict(newest.event)
    else:
        event = sign_event(unsigned, key)
        record = pub.records.get_or_create(event.to_dict(), subject, user_id)
    rejected = {url for url, st in record.relays.items() if st.status == "rejected"}
    targets = send_targets(pub.relays, record.accepted_on(), rejected, force=pub.force)
    [outcome] = await pub.deliver_units([Unit(user_id, record, event, targets, key)])
    return outcome


async def publish_profile(pub: UnitDelivery, user: User) -> PublishOutcome:
    """kind 0 of ``user``'s mirror identity (``bot: true``, ``nip05`` with a domain), when its content
    changed: a new domain, a renamed account or a hand-off (``about`` names the owner's npub) changes it."""
    domain = pub.nip05_domain
    owner = pub.handoff_npubs.get(user.username.lower())
    return await _publish_replaceable(
        pub,
        EventSubject.PROFILE,
        user.id,
        lambda pubkey, ts: build_profile_event(user, pubkey, ts, domain, owner),
        _changed_content,
    )


async def publish_relay_list(pub: UnitDelivery, user_id: str) -> PublishOutcome:
    """kind 10002 of a mirror identity listing the configured relays, when the list changed."""
    relays = list(pub.relays)
    return await _publish_replaceable(
        pub,
        EventSubject.RELAYS,
        user_id,
        lambda pubkey, ts: build_relay_list_event(pubkey, relays, ts),
        _changed_tags,
    )


async def publish_blossom_list(pub: UnitDelivery, user_id: str) -> PublishOutcome:
    """kind 10063 (BUD-03) of a mirror identity that has uploaded media, when the server list changed."""
    servers = list(pub.blossom)
    return await _publish_replaceable(
        pub,
        EventSubject.BLOSSOM,
        user_id,
        lambda pubkey, ts: build_blossom_list_event(pubkey, servers, ts),
        _changed_tags,
    )
