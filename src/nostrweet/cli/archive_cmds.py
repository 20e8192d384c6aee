"""Commands that talk only to X and the cache: fetch-tweet, user-tweets, fetch-profile, list-tweets, clear-cache."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from typing import Annotated, Any

import typer

from nostrweet.archive.archiver import Archiver
from nostrweet.bridge.content import decode_html_entities
from nostrweet.bridge.lifecycle import Fate, problem_fate
from nostrweet.cache import layout, legacy
from nostrweet.cli.common import SkipProfilesOption, command_store, emit, summary
from nostrweet.cli.progress import progress_bar as progress_bar
from nostrweet.cli.root import app, options_of
from nostrweet.errors import InputError, NotFoundError
from nostrweet.settings import GlobalOptions
from nostrweet.store import CacheStore
from nostrweet.textsafe import json_safe, printable
from nostrweet.twitter.client import TwitterClient
from nostrweet.twitter.ratelimit import RateLimiter
from nostrweet.twitter.refs import parse_tweet_ref
from nostrweet.values import MAX_DAYS


def _limiter(options: GlobalOptions) -> RateLimiter:
    max_wait = options.config.get("rate_limits", "max_wait_seconds")
    fraction = options.config.get("rate_limits", "low_budget_fraction")
    return RateLimiter(
        max_wait=float(max_wait) if max_wait is not None else 900.0,
        low_fraction=float(fraction) if fraction is not None else 0.1,
    )


@asynccontextmanager
async def open_archiver(
    options: GlobalOptions, *, skip_profiles: bool = False, store: CacheStore | None = None
) -> AsyncIterator[Archiver]:
    """An Archiver over the data dir (``store``, else one opened here with its state) and an X client with
    the configured budgets; closes what it opened."""
    token = options.require_bearer_token()
    with ExitStack() as stack:
        if store is None:
            store = stack.enter_context(command_store(options))
        limiter = _limiter(options)
        client = TwitterClient(options.twitter_api_url, token, limiter=limiter, max_429_wait=limiter.max_wait)
        try:
            yield Archiver(store, client, skip_profiles=skip_profiles)
        finally:
            await client.aclose()


def _retire_if_mirrored(
    options: GlobalOptions, store: CacheStore, tweet_id: str, problem: dict[str, Any]
) -> bool:
    """A mirrored tweet (one with event records) that X says is deleted is marked so in the state, as
    the daemon's deletion check does; the daemon sends its kind 5 events (SPEC §10). True if marked."""
    from nostrweet.state.lifecycle import DELETED, LifecycleRepo, TweetFate
    from nostrweet.state.records import RecordRepo

    if problem_fate(problem) is not Fate.DELETED or not RecordRepo(store.state).for_tweet(tweet_id):
        return False
    LifecycleRepo(store.state).retire([TweetFate(str(tweet_id), DELETED, None, int(time.time()))])
    return True


@app.command("fetch-tweet")
def fetch_tweet(
    ctx: typer.Context,
    tweet: Annotated[str, typer.Argument(metavar="URL_OR_ID", help="Tweet id or status URL.")],
    skip_profiles: SkipProfilesOption = False,
) -> None:
    """Cache one tweet, what it references, its media and the referenced profiles."""
    options = options_of(ctx)
    tweet_id = parse_tweet_ref(tweet)
    options.require_bearer_token()

    async def run() -> str:
        async with open_archiver(options, skip_profiles=skip_profiles) as archiver:
            document = await archiver.fetch_tweet(tweet_id)
            if document is None:
                problem = archiver.not_found_problem(tweet_id) or {}
                detail = problem.get("title") or "deleted, protected or never existed"
                if _retire_if_mirrored(options, archiver.store, tweet_id, problem):
                    detail += "; it was mirrored: its deletion requests go out with the daemon's next check"
                raise NotFoundError(f"tweet {tweet_id} not found ({detail})")
            path = archiver.store.tweet_path(tweet_id)
            return path.name if path else tweet_id

    name = asyncio.run(run())
    summary(options, f"cached tweet {tweet_id}: {name}")


@app.command("user-tweets")
def user_tweets(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(metavar="USERNAME")],
    count: Annotated[
        int,
        typer.Option(
            "-c",
            "--count",
            min=1,
            help="How many recent tweets. Here -c is --count; the global -c is --config.",
        ),
    ] = 10,
    days: Annotated[
        int | None, typer.Option("--days", min=1, max=MAX_DAYS, help="Only tweets of the last N days.")
    ] = None,
    skip_profiles: SkipProfilesOption = False,
) -> None:
    """Cache a user's recent tweets, paging as needed."""
    options = options_of(ctx)
    name = layout.normalize_username(username)
    options.require_bearer_token()

    async def run() -> tuple[str, int, int, int]:
        async with open_archiver(options, skip_profiles=skip_profiles) as archiver:
            with progress_bar(f"@{name}", options) as progress:
                result = await archiver.archive_timeline(name, count=count, days=days, progress=progress)
            shown = result.user.username if result.user else name
            return shown, len(result.new), len(result.skipped), len(result.not_found)

    shown, new, skipped, missing = asyncio.run(run())
    extra = f", {missing} referenced tweet(s) not available" if missing else ""
    summary(options, f"@{shown}: {new} new tweet(s) cached, {skipped} already cached{extra}")


@app.command("fetch-profile")
def fetch_profile(ctx: typer.Context, username: Annotated[str, typer.Argument(metavar="USERNAME")]) -> None:
    """Cache a profile snapshot."""
    options = options_of(ctx)
    name = layout.normalize_username(username)
    options.require_bearer_token()

    async def run() -> str:
        async with open_archiver(options) as archiver:
            user = await archiver.fetch_profile(name)
            return printable(f"@{user.username} (id {user.id}, {user.name})")

    summary(options, f"cached profile of {asyncio.run(run())}")


def _row(tweet_id: str, when: str, user: str, text: str) -> str:
    return f"{tweet_id:<19}  {when:<16}  {user:<16}  {text}"


LIST_HEADER = _row("ID", "CREATED (UTC)", "USER", "TEXT")


def _first_line(raw: dict[str, Any]) -> str:
    """The first line of a tweet's full text, with HTML entities decoded as in the events' content."""
    data = raw.get("data", {})
    text = (data.get("note_tweet") or {}).get("text") or data.get("text") or ""
    return decode_html_entities(str(text)).strip().split("\n", 1)[0]


@app.command("list-tweets")
def list_tweets(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option("-u", "--user", help="Only this user's tweets.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List cached tweets, newest first (a header line, then one tweet per line; "0 tweets" on stderr
    when there is none)."""
    options = options_of(ctx)
    only = layout.normalize_username(user) if user else None
    with command_store(options, read_only=True) as store:
        _list(options, store, only, as_json)


def _list(options: GlobalOptions, store: CacheStore, only: str | None, as_json: bool) -> None:
    rows = reversed(store.tweet_rows_of(only)) if only else store.iter_tweets(newest_first=True)
    listed = 0
    for tweet_id, name in rows:
        parsed = (layout.parse_tweet_filename(name) or legacy.parse_tweet_name(name)) if name else None
        raw = store.read_tweet_raw(tweet_id)
        if raw is None or parsed is None:
            continue
        author: dict[str, Any] = next(
            (
                u
                for u in raw.get("includes", {}).get("users", [])
                if u.get("id") == raw["data"].get("author_id")
            ),
            {},
        )
        username = author.get("username", parsed.username)
        if as_json:
            record = {
                "id": str(tweet_id),
                "created_at": raw["data"].get("created_at"),
                "username": username,
                "text": _first_line(raw),
                "file": name,
            }
            emit(json_safe(json.dumps(record, ensure_ascii=False)))
        else:
            if not listed:
                emit(LIST_HEADER)
            when = parsed.created_at.strftime("%Y-%m-%d %H:%M")
            emit(printable(_row(str(tweet_id), when, f"@{username}", _first_line(raw))))
        listed += 1
    if not listed:
        summary(options, "0 tweets", to_stderr=True)


@app.command("clear-cache")
def clear_cache(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("-f", "--force", help="Do not ask.")] = False,
    all_: Annotated[bool, typer.Option("--all", help="Also delete the posting records.")] = False,
) -> None:
    """Delete cached tweets, media and profiles (posting records are kept unless --all)."""
    options = options_of(ctx)
    if not options.data_dir.is_dir():
        summary(options, f"nothing to clear: {options.data_dir} does not exist")
        return
    what = "tweets, media, profiles and posting records" if all_ else "tweets, media and profiles"
    if not force and not typer.confirm(f"Delete the cached {what} in {options.data_dir}?", default=False):
        summary(options, "nothing deleted")
        return
    with command_store(options) as store:
        removed = store.clear(include_events=all_)
    summary(options, f"deleted {removed} file(s) from {options.data_dir}")


@app.command("reindex")
def reindex(ctx: typer.Context) -> None:
    """Add the cache files that the state does not know to it (copied in by hand, or left by a crash
    between a file and its row)."""
    options = options_of(ctx)
    if not options.data_dir.is_dir():
        raise InputError(f"data dir {options.data_dir} does not exist: nothing to reindex")
    with command_store(options) as store:
        added = store.reindex()
    summary(
        options,
        f"reindexed {options.data_dir}: {added.tweets} tweet(s), {added.profiles} profile(s) and "
        f"{added.not_found} not-found marker(s) added to the state",
    )
