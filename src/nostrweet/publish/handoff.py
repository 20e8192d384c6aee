"""The hand-off of a mirror to the real person's Nostr identity (SPEC §10, ``[users.<name>] nostr_npub``).

Once per account, whatever restarts happen: the pointer note (``nostr:npub1…`` and a ``p`` tag) is signed
and kept in the state before it is sent, so a process killed at any moment sends that same note again on
its next start and never a second one; then the kind 0 whose ``about`` names the npub goes out (the
publisher's ``handoff_npubs`` holds it). The state remembers which relays took the note and that the
kind 0 went out.
"""

from __future__ import annotations

import logging

from nostrweet.bridge.lifecycle import build_handoff_note
from nostrweet.nostr.event import pubkey_from_npub_or_hex, sign_event
from nostrweet.publish.publisher import Publisher
from nostrweet.state.lifecycle import Handoff, LifecycleRepo
from nostrweet.twitter.models import User

log = logging.getLogger("nostrweet.lifecycle")


async def ensure_handoff(
    publisher: Publisher, repo: LifecycleRepo, user: User, npub: str, *, continues: bool
) -> Handoff:
    """Publish the account's pointer note and updated kind 0 unless done; return the hand-off."""
    key = publisher.keys.for_user(user.id)
    found = repo.handoff(user.username)
    if found is None:
        now = int(publisher.clock())
        owner = pubkey_from_npub_or_hex(npub)
        unsigned = build_handoff_note(key.pubkey_hex, user.username, npub, owner, now, continues=continues)
        found = repo.start_handoff(user.username, npub, sign_event(unsigned, key), now)
        log.info(
            "@%s is on Nostr now (%s): publishing the pointer note%s",
            user.username,
            npub,
            "" if continues else "; mirroring stops",
            extra={"user": user.username, "action": "handoff"},
        )
    elif found.npub != npub:
        log.warning(
            "@%s was handed off to %s already; the new nostr_npub %s is only named in the profile",
            user.username,
            found.npub,
            npub,
        )
    due = [url for url in publisher.relays if url not in found.accepted]
    if due:
        [answer] = await publisher.pool.publish_many([(found.event, due)], auth_keys={key.pubkey_hex: key})
        took = [url for url, a in answer.items() if a.is_accepted]
        if took:
            repo.mark_handoff(user.username, accepted=took)
    if not found.profile_done:
        outcome = await publisher.publish_profile(user)
        if outcome.reached_relay:
            repo.mark_handoff(user.username, profile_done=True)
    return repo.handoff(user.username) or found
