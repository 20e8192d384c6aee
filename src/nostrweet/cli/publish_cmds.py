"""Commands that turn the cache into Nostr events: show-tweet, post-*, update-relay-list."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from nostrweet.cache.layout import normalize_username
from nostrweet.cli.common import (
    BlossomOption,
    ForceOption,
    Nip05DomainOption,
    RelayOption,
    blossom_from,
    command_store,
    emit,
    nip05_domain_from,
    relays_from,
    summary,
)
from nostrweet.cli.progress import progress_bar
from nostrweet.cli.root import app, options_of
from nostrweet.errors import NotFoundError, PublishError
from nostrweet.nostr.keys import KeyDeriver
from nostrweet.nostr.relays import RelayPool
from nostrweet.publish.keyring import KeyRing, cached_user_id, key_ring
from nostrweet.publish.outcome import PublishOutcome, PublishSummary
from nostrweet.settings import GlobalOptions
from nostrweet.shaping.filters import Skip
from nostrweet.store import CacheStore, read_json_or_quarantine
from nostrweet.textsafe import json_safe, printable
from nostrweet.twitter.refs import parse_tweet_ref

if TYPE_CHECKING:  # (loaded by the commands that publish: they bring the state and SQLAlchemy)
    from nostrweet.publish.publisher import Publisher

PostSkipProfilesOption = Annotated[
    bool,
    typer.Option(
        "--skip-profiles",
        help="Publish no profiles (kind 0), and fetch none for an uncached tweet, as in the earlier tool.",
    ),
]


def _keys(options: GlobalOptions, store: CacheStore) -> KeyRing:
    """The mirror keys: a user's fixed key file from the config, else the derived key."""
    return key_ring(
        store,
        options.config.key_files(),
        lambda: KeyDeriver(options.require_mnemonic(), options.key_derivation),
    )


@asynccontextmanager
async def _publisher(
    options: GlobalOptions,
    store: CacheStore,
    relays: list[str],
    blossom: list[str],
    *,
    force: bool = False,
    fetch: bool = False,
    skip_profiles: bool = False,
    nip05_domain: str | None = None,
) -> AsyncIterator[Publisher]:
    async with AsyncExitStack() as stack:
        archiver = None
        if fetch:  # the X client only for a tweet that is not cached
            from nostrweet.cli.archive_cmds import open_archiver

            archiver = await stack.enter_async_context(
                open_archiver(options, skip_profiles=skip_profiles, store=store)
            )
        from nostrweet.publish.publisher import Publisher

        keys = _keys(options, store)
        pool = RelayPool(relays)
        await pool.start()
        stack.push_async_callback(pool.close)
        publisher = Publisher(
            store,
            keys,
            pool,
            relays=relays,
            blossom=blossom,
            force=force,
            archiver=archiver,
            publish_profiles=not skip_profiles,  # as in the earlier tool: no kind 0 at all
            filters=options.config.filter_book(),
        )
        # The command ends with one error line that counts the failures; each one is shown at -v.
        publisher.failure_log_level = logging.DEBUG
        publisher.nip05_domain = nip05_domain
        publisher.media.optimize = options.config.media_settings()
        publisher.handoff_npubs = {n: o.nostr_npub for n, o in options.config.users.items() if o.nostr_npub}
        from nostrweet.state.lifecycle import LifecycleRepo

        publisher.lifecycle = LifecycleRepo(store.state)
        stack.push_async_callback(publisher.aclose)
        yield publisher


def _fail_if_unreached(outcomes: Sequence[PublishOutcome]) -> None:
    """One error line (exit 1) when some event reached no relay: the count and the first reason."""
    bad = [o for o in outcomes if o.status in ("failed", "error")]
    if bad:
        first = bad[0]
        raise PublishError(
            f"{len(bad)} event(s) reached no relay (first: {first.what} {first.subject_id}: "
            f"{first.describe()}); pending ones are retried on the next run; -v shows each"
        )


@app.command("show-tweet")
def show_tweet(
    ctx: typer.Context,
    tweet: Annotated[str, typer.Argument(metavar="URL_OR_ID")],
    pretty: Annotated[
        bool, typer.Option("--pretty/--compact", help="Indented JSON (the default), or one line.")
    ] = True,
) -> None:
    """Print the cached tweet and the Nostr event(s) it would become."""
    options = options_of(ctx)
    tweet_id = parse_tweet_ref(tweet)
    options.require_mnemonic()
    from nostrweet.publish.preview import preview_events

    with command_store(options, read_only=True) as store:
        keys = _keys(options, store)
        path = store.tweet_path(tweet_id)
        raw = read_json_or_quarantine(path, quarantine=False) if path is not None else None
        doc = store.read_tweet(tweet_id) if raw is not None else None
        if doc is None:
            raise NotFoundError(f"tweet {tweet_id} is not cached: run fetch-tweet first")
        relays = relays_from(options, None, required=False)
        book = options.config.filter_book()
        from nostrweet.publish.preview import preview_events

        events = preview_events(store, keys, doc, first_relay=relays[0] if relays else None, filters=book)
    out: dict[str, Any] = {"tweet": raw, "events": events}
    decision = book.decide(doc)
    if isinstance(decision, Skip):  # the events it would become if no rule skipped it
        out = {"tweet": raw, "skipped_by": decision.rule, "skip_detail": decision.detail, "events": events}
        summary(
            options,
            printable(f"tweet {tweet_id} is not published: skipped by {decision.describe()}"),
            to_stderr=True,
        )
    emit(
        json_safe(
            json.dumps(out, ensure_ascii=False, separators=(",", ":"))
            if not pretty
            else json.dumps(out, indent=2, ensure_ascii=False)
        )
    )


async def _post_one(
    options: GlobalOptions,
    store: CacheStore,
    tweet_id: str,
    relays: list[str],
    blossom: list[str],
    fetch: bool,
    force: bool,
    skip_profiles: bool,
    domain: str | None,
) -> tuple[PublishOutcome, list[PublishOutcome]]:
    async with _publisher(
        options,
        store,
        relays,
        blossom,
        force=force,
        fetch=fetch,
        skip_profiles=skip_profiles,
        nip05_domain=domain,
    ) as publisher:
        outcome = await publisher.publish_tweet(tweet_id)
        return outcome, list(publisher.outcomes)


def _post_tweet(
    ctx: typer.Context,
    tweet: Annotated[str, typer.Argument(metavar="URL_OR_ID")],
    relay: RelayOption = None,
    blossom_server: BlossomOption = None,
    force: ForceOption = False,
    skip_profiles: PostSkipProfilesOption = False,
    nip05: Nip05DomainOption = None,
) -> None:
    """Publish one tweet, fetching it first if it is not cached."""
    options = options_of(ctx)
    tweet_id = parse_tweet_ref(tweet)
    relays = relays_from(options, relay)
    domain = nip05_domain_from(options, nip05)
    blossom = blossom_from(options, blossom_server)
    options.require_mnemonic()
    with command_store(options) as store:
        fetch = not store.has_tweet(tweet_id)
        if fetch:
            options.require_bearer_token()
        outcome, everything = asyncio.run(
            _post_one(options, store, tweet_id, relays, blossom, fetch, force, skip_profiles, domain)
        )
    if outcome.status == "skipped":
        summary(options, f"tweet {tweet_id}: {outcome.describe()} (not published; show-tweet tells why)")
        return
    if outcome.status == "error":
        raise NotFoundError(f"tweet {tweet_id}: {outcome.message}")
    summary(options, f"tweet {tweet_id}: {outcome.describe()}")
    _fail_if_unreached(everything)


app.command("post-tweet-to-nostr")(_post_tweet)
app.command("post-tweet", help="Alias of post-tweet-to-nostr.")(_post_tweet)


@app.command("post-user-to-nostr")
def post_user(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(metavar="USERNAME")],
    relay: RelayOption = None,
    blossom_server: BlossomOption = None,
    force: ForceOption = False,
    skip_profiles: PostSkipProfilesOption = False,
    nip05: Nip05DomainOption = None,
) -> None:
    """Publish every cached tweet of a user, oldest first."""
    options = options_of(ctx)
    name = normalize_username(username)
    relays = relays_from(options, relay)
    domain = nip05_domain_from(options, nip05)
    blossom = blossom_from(options, blossom_server)
    options.require_mnemonic()
    with command_store(options) as store:
        if not store.tweet_ids_of(name):
            raise NotFoundError(f"no cached tweets of @{name}: run user-tweets first")

        async def run() -> PublishSummary:
            async with _publisher(
                options, store, relays, blossom, force=force, skip_profiles=skip_profiles, nip05_domain=domain
            ) as publisher:
                with progress_bar(f"@{name}", options) as progress:
                    return await publisher.publish_user(name, progress=progress)

        result = asyncio.run(run())
    summary(options, f"@{name}: {result.line()}")
    _fail_if_unreached(result.all_outcomes)


@app.command("post-profile-to-nostr")
def post_profile(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(metavar="USERNAME")],
    relay: RelayOption = None,
    nip05: Nip05DomainOption = None,
) -> None:
    """Publish the mirror identity's profile (kind 0)."""
    options = options_of(ctx)
    name = normalize_username(username)
    relays = relays_from(options, relay)
    domain = nip05_domain_from(options, nip05)
    options.require_mnemonic()
    with command_store(options) as store:
        user = store.newest_profile(name)
        if user is None:
            raise NotFoundError(f"no cached profile of @{name}: run fetch-profile first")

        async def run() -> PublishOutcome:
            async with _publisher(options, store, relays, [], nip05_domain=domain) as publisher:
                return await publisher.publish_profile(user)

        outcome = asyncio.run(run())
    summary(options, printable(f"@{user.username} profile: {outcome.describe()}"))
    _fail_if_unreached([outcome])


def _cached_user_ids(store: CacheStore, names: Sequence[str]) -> dict[str, str]:
    """username -> numeric id, from the newest cached profile, else from a cached tweet's author."""
    found = {name: cached_user_id(store, name) for name in names}
    return {name: uid for name, uid in found.items() if uid is not None}


def archived_users(store: CacheStore) -> list[str]:
    """The users whose tweets were archived on purpose: those with at least one cached tweet file.

    A referenced tweet lives inside the document of the tweet that references it, so its author gets a
    profile snapshot but no tweet file of their own; such accounts are not mirrored and get no relay list.
    """
    return store.archived_users()


@app.command("update-relay-list")
def update_relay_list(
    ctx: typer.Context,
    relay: RelayOption = None,
    user: Annotated[
        list[str] | None,
        typer.Option(
            "-u",
            "--user",
            help="Only this user; repeat it for more (default: every user with cached tweets).",
        ),
    ] = None,
) -> None:
    """Publish kind 10002 relay lists for the mirror identities.

    By default for every user whose own tweets are cached (by user-tweets, fetch-tweet or the daemon);
    accounts that only appear as the authors of referenced tweets are left out. --user chooses.
    """
    options = options_of(ctx)
    relays = relays_from(options, relay)
    options.require_mnemonic()
    with command_store(options) as store:
        names = [normalize_username(u) for u in user] if user else archived_users(store)
        ids = _cached_user_ids(store, names)
        unknown = [n for n in names if n not in ids]
        if user and unknown:
            raise NotFoundError(f"@{unknown[0]} is not cached: run fetch-profile first")
        if not ids:
            raise NotFoundError("no cached users: run user-tweets first, or name one with --user")

        async def run() -> list[PublishOutcome]:
            async with _publisher(options, store, relays, []) as publisher:
                return [await publisher.publish_relay_list(uid) for uid in ids.values()]

        outcomes = asyncio.run(run())
    for name, outcome in zip(ids, outcomes, strict=True):
        summary(options, f"@{name} relay list: {outcome.describe()}")
    _fail_if_unreached(outcomes)
