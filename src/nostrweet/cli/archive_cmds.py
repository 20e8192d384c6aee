"""Commands that talk only to X and the cache: fetch-tweet, user-tweets, fetch-profile, list-tweets, clear-cache."""

from __future__ import annotations

from typing import Annotated

import typer

from nostrweet.cli.app import app
from nostrweet.cli.common import SkipProfilesOption, not_yet


@app.command("fetch-tweet")
def fetch_tweet(
    ctx: typer.Context,
    tweet: Annotated[str, typer.Argument(metavar="URL_OR_ID", help="Tweet id or status URL.")],
    skip_profiles: SkipProfilesOption = False,
) -> None:
    """Cache one tweet, what it references, its media and the referenced profiles."""
    raise not_yet("fetch-tweet")


@app.command("user-tweets")
def user_tweets(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(metavar="USERNAME")],
    count: Annotated[int, typer.Option("-c", "--count", min=1, help="How many recent tweets.")] = 10,
    days: Annotated[int | None, typer.Option("--days", min=1, help="Only tweets of the last N days.")] = None,
    skip_profiles: SkipProfilesOption = False,
) -> None:
    """Cache a user's recent tweets, paging as needed."""
    raise not_yet("user-tweets")


@app.command("fetch-profile")
def fetch_profile(ctx: typer.Context, username: Annotated[str, typer.Argument(metavar="USERNAME")]) -> None:
    """Cache a profile snapshot."""
    raise not_yet("fetch-profile")


@app.command("list-tweets")
def list_tweets(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option("-u", "--user", help="Only this user's tweets.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List cached tweets, newest first."""
    raise not_yet("list-tweets")


@app.command("clear-cache")
def clear_cache(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("-f", "--force", help="Do not ask.")] = False,
    all_: Annotated[bool, typer.Option("--all", help="Also delete the posting records.")] = False,
) -> None:
    """Delete cached tweets, media and profiles (posting records are kept unless --all)."""
    raise not_yet("clear-cache")
