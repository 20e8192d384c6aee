"""A tweet's later life end to end (SPEC §10): a daemon against the fake X API and both real relays;
tweets deleted and edited on X at run time become NIP-09 kind 5 events; protected tweets and
suspended authors do not; a restart republishes nothing retired; a hand-off note goes out once."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nostrweet.nostr.event import SignedEvent, verify_event
from nostrweet.nostr.keys import KeyDeriver
from nostrweet.nostr.relays import QueryFilter, RelayPool
from nostrweet.publish.publisher import Publisher
from nostrweet.settings import Secret
from nostrweet.state.lifecycle import LifecycleRepo, TweetFate, open_lifecycle_state
from nostrweet.store import CacheStore
from tests.fakes.nostr_helpers import random_key
from tests.fakes.relay_fixtures import SdkRelay
from tests.fakes.x_api import FakeXApi
from tests.integration.publish_helpers import make_cli, records
from tests.integration.test_daemon import DaemonProc, query_events, wait_for

pytestmark = pytest.mark.integration

WHO_ID, WHO = "1154498013626327041", "WhoDisTweet"
EDITED, DELETED, PROTECTED = "1253788283760492544", "1251278505406533632", "1250403528197263360"
RT_USER_ID, RT_USER = "910384352282005505", "antifascista__1"
RETWEET = "1574185734650892288"  # a retweet by RT_USER; its original gets deleted
SUSPENDED_ID, SUSPENDED = "26257166", "SportsCenter"


@pytest.fixture
def daemons() -> Iterator[list[DaemonProc]]:
    """Every daemon a test starts is killed at the end."""
    started: list[DaemonProc] = []
    yield started
    for d in started:
        d.kill()


def records_by_tweet(data_dir: Path) -> dict[str, list[SignedEvent]]:
    """The signed events of the tweet records in the data dir, by tweet id."""
    out: dict[str, dict[str, SignedEvent]] = {}
    for doc in records(data_dir).values():
        if doc["subject"] != "tweet":
            continue
        event = SignedEvent.from_dict(doc["event"])
        out.setdefault(str(doc["tweet_id"]), {})[event.id] = event
    return {tweet: list(events.values()) for tweet, events in out.items()}


def deletions_on(relay: str) -> list[SignedEvent]:
    return query_events(relay, kinds=(5,))


def ids_on(relay: str, ids: set[str]) -> set[str]:
    """Which of ``ids`` the relay serves."""

    async def go() -> set[str]:
        pool = RelayPool([relay], connect_timeout=3)
        await pool.start()
        try:
            found = await pool.query(QueryFilter(ids=sorted(ids)), timeout=5)
        finally:
            await pool.close()
        return {e.id for e in found}

    return asyncio.run(go())


def config(tmp: Path, extra: str = "") -> Path:
    path = tmp / "nostrweet.toml"
    path.write_text(f"[daemon]\ndeletion_interval = 2\ndeletion_window = 3000000000\n{extra}")
    return path


def test_deletions_and_edits_reach_both_relays_and_stay_retired(
    tmp_path: Path, fake_x: FakeXApi, sdk_relay: str, pypi_relay: str, daemons: list[DaemonProc]
) -> None:
    world = fake_x.world
    original = next(r["id"] for r in world.tweets[RETWEET]["referenced_tweets"] if r["type"] == "retweeted")
    users = [WHO, RT_USER, SUSPENDED]
    relays = [sdk_relay, pypi_relay]
    data = tmp_path / "data"
    d = DaemonProc(tmp_path, data, fake_x, relays, users, poll=1, config=config(tmp_path))
    daemons.append(d.start())
    mirrored = {
        *world.timeline(WHO_ID),
        *world.timeline(RT_USER_ID),
        *world.timeline(SUSPENDED_ID),
        original,
    }
    wait_for(lambda: mirrored <= set(records_by_tweet(data)), 60, "every tweet recorded", d)
    events = records_by_tweet(data)
    every = {e.id for evs in events.values() for e in evs}
    wait_for(
        lambda: every <= ids_on(sdk_relay, every) and every <= ids_on(pypi_relay, every), 30, "on both", d
    )

    # a small lookup budget from now on: the checks may take only what the polls' half leaves
    fake_x.set_limit("/2/tweets", 6, window_seconds=3600)
    lookups_before = len(fake_x.requests_to("/2/tweets"))
    # on X: two tweets deleted (one of them the original of a watched retweet), one edited, one
    # protected, and one author suspended
    world.delete_tweet(DELETED)
    world.delete_tweet(original)
    new_version = world.edit_tweet(EDITED, "edited: the second version")
    world.protect_tweet(PROTECTED)
    world.suspend_user(SUSPENDED_ID)

    targets = {e.id: e for t in (DELETED, original, RETWEET, EDITED) for e in events[t]}
    assert {e.kind for e in events[RETWEET]} == {6}
    for relay in relays:
        wait_for(
            lambda r=relay: targets.keys() <= {t[1] for k in deletions_on(r) for t in k.tags if t[0] == "e"},
            30,
            f"the kind 5 events on {relay}",
            d,
        )
        found = deletions_on(relay)
        named = {t[1]: k for k in found for t in k.tags if t[0] == "e"}
        assert set(named) == set(targets), "a kind 5 for exactly the deleted and superseded events"
        for target_id, deletion in named.items():
            target = targets[target_id]
            assert verify_event(deletion) and deletion.kind == 5
            assert deletion.pubkey == target.pubkey, "signed by the identity that signed the target"
            assert ("k", str(target.kind)) in deletion.tags
        edit_note = named[events[EDITED][0].id]
        assert "nostr:nevent1" in edit_note.content
    # the new version is mirrored, under the same identity
    new_events = records_by_tweet(data)[new_version]
    assert [e.pubkey for e in new_events] == [events[EDITED][0].pubkey]
    # both relays honour NIP-09: neither serves the retracted events any more
    for relay in relays:
        wait_for(
            lambda r=relay: not ids_on(r, set(targets)), 10, f"the retracted events gone from {relay}", d
        )
    # protected and suspended tweets are not deletions
    kept = {e.id for t in (PROTECTED, *world.timeline(SUSPENDED_ID)) for e in events[t]}
    for relay in relays:
        assert kept <= ids_on(relay, kept)
    time.sleep(12)  # six deletion checks more: their lookups must stop where the polls' half begins
    assert d.stop() == 0

    # a restart with one more (empty) relay: everything alive reaches it, nothing retired does
    extra = SdkRelay()
    extra.start()
    try:
        again = DaemonProc(
            tmp_path, data, fake_x, [*relays, extra.url], users, poll=1, config=config(tmp_path)
        )
        daemons.append(again.start())
        wait_for(lambda: bool(again.stats()), 60, "the restarted daemon running", again)
        alive = {e.id for t, evs in records_by_tweet(data).items() for e in evs} - set(targets)
        alive -= {e.id for t in world.timeline(SUSPENDED_ID) for e in events.get(t, [])}  # its polls fail now
        wait_for(lambda: alive <= ids_on(extra.url, alive), 40, "the live events on the new relay", again)
        time.sleep(3)  # a deletion check and an outbox pass more
        assert ids_on(extra.url, set(targets)) == set(), "nothing deleted or superseded is published again"
        # the PyPI relay keeps its data and takes a deleted event back if it is sent again: it would show
        assert ids_on(pypi_relay, set(targets)) == set()
        assert again.stop() == 0
    finally:
        extra.close()
    # with 6 lookups a window, the checks of both runs left at least half of them to the polls
    late = fake_x.requests_to("/2/tweets")[lookups_before:]
    assert 1 <= len(late) <= 4, [r.query.get("ids", "")[:40] for r in late]
    assert all(r.status == 200 for r in late)
    # every lookup asked at most 100 ids, and the budget was never overdrawn
    lookups = fake_x.requests_to("/2/tweets")
    assert lookups and all(len(r.query["ids"].split(",")) <= 100 for r in lookups)
    assert not [r for r in fake_x.requests if r.over_budget]


def test_handoff_note_is_published_once_across_sigkill(
    tmp_path: Path, fake_x: FakeXApi, sdk_relay: str, daemons: list[DaemonProc]
) -> None:
    owner, other = random_key("owner"), random_key("other")
    extra = (
        f'\n[users.{WHO.lower()}]\nnostr_npub = "{owner.npub}"\n'
        f'\n[users.{RT_USER}]\nnostr_npub = "{other.npub}"\nhandoff = "continue"\n'
    )
    data = tmp_path / "data"
    users = [WHO, RT_USER]

    def notes(person: str) -> list[SignedEvent]:
        return [e for e in query_events(sdk_relay, kinds=(1,)) if ("p", person) in e.tags]

    def run() -> DaemonProc:
        d = DaemonProc(tmp_path, data, fake_x, [sdk_relay], users, poll=1, config=config(tmp_path, extra))
        daemons.append(d.start())
        return d

    # killed at once, then killed again right after the notes are out, then a clean run
    first = run()
    time.sleep(1.0)
    first.kill()
    second = run()
    wait_for(lambda: bool(notes(owner.pubkey_hex)) and bool(notes(other.pubkey_hex)), 30, "the notes", second)
    second.kill()
    third = run()
    wait_for(lambda: len(third.stats()) >= 3, 60, "a few rounds of the third run", third)
    assert third.stop() == 0, third.log_text()[-3000:]
    [note] = notes(owner.pubkey_hex)
    [kept_on] = notes(other.pubkey_hex)
    assert f"nostr:{owner.npub}" in note.content and verify_event(note) and "stops here" in note.content
    assert f"nostr:{other.npub}" in kept_on.content and "goes on" in kept_on.content
    profiles = {e.pubkey: json.loads(e.content)["about"] for e in query_events(sdk_relay, kinds=(0,))}
    assert owner.npub in profiles[note.pubkey] and other.npub in profiles[kept_on.pubkey]
    # the mirror of WHO stops (no tweet of it, no timeline request); RT_USER's goes on
    mirrored = query_events(sdk_relay, kinds=(1, 6))
    assert [e for e in mirrored if e.pubkey == note.pubkey] == [note]
    assert not [r for r in fake_x.requests_to("/2/users/{id}/tweets") if f"/{WHO_ID}/" in r.path]
    assert {e.kind for e in mirrored if e.pubkey == kept_on.pubkey and e.id != kept_on.id} == {6}


def test_post_commands_publish_nothing_retired(tmp_path: Path, fake_x: FakeXApi, sdk_relay: str) -> None:
    """post-user-to-nostr and post-tweet-to-nostr leave out what the state says X deleted or replaced;
    a reply to the old version of an edit points at the new version's event; --force still publishes."""
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    cli.run("user-tweets", WHO, "--count", "20")
    timeline = fake_x.world.timeline(WHO_ID)
    # the state of a daemon that saw EDITED replaced by the newest tweet, and DELETED deleted
    newest = timeline[0]
    state = open_lifecycle_state(cli.data_dir, None, create=True)
    assert state is not None
    try:
        LifecycleRepo(state).retire(
            [TweetFate(DELETED, "deleted", None, 1), TweetFate(EDITED, "superseded", newest, 1)]
        )
    finally:
        state.close()
    out = cli.run("post-user-to-nostr", WHO, "-r", sdk_relay).stdout
    assert "2 deleted or edited on X" in out, out
    on_relay = {t[1].rsplit("/", 1)[1] for e in query_events(sdk_relay) for t in e.tags if t[0] == "r"}
    assert set(timeline) - {DELETED, EDITED} <= on_relay
    assert not {DELETED, EDITED} & on_relay
    # what a reply or quote of the old version is built with: the newest version's event
    store = CacheStore(cli.data_dir)
    state = open_lifecycle_state(cli.data_dir, None, create=False)
    assert state is not None
    try:
        publisher = Publisher(
            store, KeyDeriver(Secret(cli.mnemonic)), RelayPool([sdk_relay]), relays=[sdk_relay]
        )
        publisher.lifecycle = LifecycleRepo(state)
        old_ref, new_ref = publisher.ref_of(EDITED), publisher.ref_of(newest)
        assert old_ref is not None and new_ref is not None and old_ref.event_id == new_ref.event_id
    finally:
        state.close()
    single = cli.run("post-tweet-to-nostr", DELETED, "-r", sdk_relay)
    assert "not published: deleted on X" in single.stdout + single.stderr
    assert DELETED not in {
        t[1].rsplit("/", 1)[1] for e in query_events(sdk_relay) for t in e.tags if t[0] == "r"
    }
    cli.run("post-tweet-to-nostr", DELETED, "-r", sdk_relay, "--force")
    assert DELETED in {t[1].rsplit("/", 1)[1] for e in query_events(sdk_relay) for t in e.tags if t[0] == "r"}


def test_fetch_tweet_finding_a_mirrored_tweet_deleted(
    tmp_path: Path, fake_x: FakeXApi, sdk_relay: str, daemons: list[DaemonProc]
) -> None:
    """A mirrored tweet whose file is gone (clear-cache keeps the records) and that X now says is
    deleted: fetch-tweet marks it deleted, and the daemon's next check sends its kind 5."""
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    cli.run("user-tweets", WHO, "--count", "20")
    cli.run("post-user-to-nostr", WHO, "-r", sdk_relay)
    [target] = records_by_tweet(cli.data_dir)[DELETED]
    cli.run("clear-cache", "--force")
    fake_x.world.delete_tweet(DELETED)
    gone = cli.run("fetch-tweet", DELETED, check=False)
    assert gone.returncode == 1 and "it was mirrored" in gone.stderr, gone.stderr
    assert len(gone.stderr.strip().splitlines()) == 1
    fake_x.world.protect_tweet(PROTECTED)  # mirrored too, but protected is not deleted
    protected = cli.run("fetch-tweet", PROTECTED, check=False)
    assert protected.returncode == 1 and "mirrored" not in protected.stderr
    d = DaemonProc(tmp_path, cli.data_dir, fake_x, [sdk_relay], [WHO], poll=1, config=config(tmp_path))
    d.mnemonic_file.write_text(cli.mnemonic + "\n")
    daemons.append(d.start())

    def retracted() -> list[SignedEvent]:
        return [k for k in deletions_on(sdk_relay) if ("e", target.id) in k.tags]

    wait_for(lambda: bool(retracted()), 40, "the kind 5 of the tweet fetch-tweet found deleted", d)
    [kind5] = retracted()
    assert kind5.pubkey == target.pubkey and verify_event(kind5)
    assert d.stop() == 0
    kept = {e.id for e in records_by_tweet(cli.data_dir)[PROTECTED]}
    assert kept <= ids_on(sdk_relay, kept)
    assert not [k for k in deletions_on(sdk_relay) if any(t[0] == "e" and t[1] in kept for t in k.tags)]
