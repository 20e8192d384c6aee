"""Commands that turn the cache into Nostr events: show-tweet, post-*, update-relay-list."""

from __future__ import annotations

from typing import Annotated

import typer

from nostrweet.cli.app import app
from nostrweet.cli.common import BlossomOption, ForceOption, RelayOption, SkipProfilesOption, not_yet


@app.command("show-tweet")
def show_tweet(
    ctx: typer.Context,
    tweet: Annotated[str, typer.Argument(metavar="URL_OR_ID")],
    compact: Annotated[bool, typer.Option("--compact", help="One-line JSON.")] = False,
) -> None:
    """Print the cached tweet and the Nostr event(s) it would become."""
    raise not_yet("show-tweet")


def _post_tweet(
    ctx: typer.Context,
    tweet: Annotated[str, typer.Argument(metavar="URL_OR_ID")],
    relay: RelayOption = None,
    blossom_server: BlossomOption = None,
    force: ForceOption = False,
    skip_profiles: SkipProfilesOption = False,
) -> None:
    """Publish one tweet, fetching it first if it is not cached."""
    raise not_yet("post-tweet-to-nostr")


app.command("post-tweet-to-nostr")(_post_tweet)
app.command("post-tweet", help="Alias of post-tweet-to-nostr.")(_post_tweet)


@app.command("post-user-to-nostr")
def post_user(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(metavar="USERNAME")],
    relay: RelayOption = None,
    blossom_server: BlossomOption = None,
    force: ForceOption = False,
    skip_profiles: SkipProfilesOption = False,
) -> None:
    """Publish every cached tweet of a user, oldest first."""
    raise not_yet("post-user-to-nostr")


@app.command("post-profile-to-nostr")
def post_profile(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(metavar="USERNAME")],
    relay: RelayOption = None,
) -> None:
    """Publish the mirror identity's profile (kind 0)."""
    raise not_yet("post-profile-to-nostr")


@app.command("update-relay-list")
def update_relay_list(
    ctx: typer.Context,
    relay: RelayOption = None,
    user: Annotated[
        list[str] | None, typer.Option("-u", "--user", help="Only these users (default: all cached).")
    ] = None,
) -> None:
    """Publish kind 10002 relay lists for the mirror identities."""
    raise not_yet("update-relay-list")
