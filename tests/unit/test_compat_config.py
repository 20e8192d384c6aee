"""The pure config check: every error of a file at once; the seed's keys; the page size cap."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from nostrweet.config import check_config, parse_config
from nostrweet.daemon.config import resolve_daemon_config
from nostrweet.errors import ConfigError
from nostrweet.settings import GlobalOptions, Secret
from nostrweet.twitter.client import TwitterClient

PATH = Path("/etc/nostrweet/daemon.toml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[daemon]\npoll_interval = 300\n", []),
        ("[daemon]\nmax_tweets_per_poll = 20\n[twitter]\nusers = ['a', 'b']\n", []),
        ("[daemon]\nmax_tweets_per_poll = 4\n", ["[daemon] max_tweets_per_poll must be from 5 to 100"]),
        ("[daemon]\nmax_tweets_per_poll = 101\n", ["[daemon] max_tweets_per_poll must be from 5 to 100"]),
        ("[twitter]\nusers = ['../x']\n", ["[twitter] users invalid username"]),
        (
            "[daemon]\nbogus = 1\npoll_interval = 'x'\n[nope]\n[users.a]\nfoo = 1\n[users.b]\nrelays = ['x']\n",
            [
                "unknown key 'bogus' in [daemon]",
                "[daemon] poll_interval must be int, not str",
                "unknown key 'nope'",
                "unknown key 'foo' in [users.a]",
                "[users.b] relays",
            ],
        ),
        ("[daemon\n", ["not valid TOML"]),
    ],
)
def test_check_config_lists_every_error(text: str, expected: list[str]) -> None:
    _config, problems = check_config(text, PATH)
    assert len(problems) == len(expected), problems
    for line, part in zip(problems, expected, strict=True):
        assert line.startswith(f"{PATH}: ") and part in line


def test_parse_config_raises_the_first_error_and_counts_the_rest() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("[daemon]\nbogus = 1\nother = 2\nthird = 3\n", PATH)
    assert str(info.value) == f"{PATH}: unknown key 'bogus' in [daemon] (2 more: run nostrweet config check)"
    with pytest.raises(ConfigError) as info:
        parse_config("[daemon]\nbogus = 1\n", PATH)
    assert str(info.value) == f"{PATH}: unknown key 'bogus' in [daemon]"


def test_an_extra_check_reports_in_its_place_among_the_others() -> None:
    seen: list[object] = []

    def no_x(value: object) -> str | None:
        seen.append(value)
        return "must not hold x" if "x" in value else None  # type: ignore[operator]

    text = "[alerts]\nurls = ['x']\nuser_failures = 0\n[daemon]\nbogus = 1\n"
    _config, problems = check_config(text, PATH, {("alerts", "urls"): no_x})
    assert [line.removeprefix(f"{PATH}: ") for line in problems] == [
        "[alerts] urls must not hold x",
        "[alerts] user_failures must be at least 1",
        "unknown key 'bogus' in [daemon]",
    ]
    assert check_config(text, PATH)[1] == problems[1:]  # without it, the schema's checks only
    with pytest.raises(ConfigError, match=r"urls must not hold x \(2 more"):
        parse_config(text, PATH, {("alerts", "urls"): no_x})
    seen.clear()  # an extra check runs only on a value of the right type that the schema's check passed
    extra = {("daemon", "max_concurrent"): no_x, ("daemon", "log_level"): no_x}
    _config, problems = check_config("[daemon]\nmax_concurrent = 0\nlog_level = 3\n", PATH, extra)
    assert len(problems) == 2 and seen == []


def options_with(text: str) -> GlobalOptions:
    return GlobalOptions(
        data_dir=Path("/nonexistent"),
        bearer_token=None,
        mnemonic=None,
        twitter_api_url="https://api.x.com",
        key_derivation="nip06",
        config=parse_config(text, PATH),
        log_level=20,
        log_format="text",
    )


@pytest.mark.parametrize(("flags", "watched"), [(None, ("a", "b", "c")), (["d", "a"], ("d", "a"))])
def test_daemon_watches_the_seeds_twitter_users_unless_u_is_given(
    flags: list[str] | None, watched: tuple[str, ...]
) -> None:
    options = options_with(
        "[daemon]\nmax_tweets_per_poll = 20\nusers = ['c']\n[twitter]\nusers = ['a', 'B']\n"
        "[nostr]\nrelays = ['wss://relay.example']\n"
    )
    config = resolve_daemon_config(
        options,
        users=flags,
        relays=None,
        blossom_servers=None,
        poll_interval=None,
        max_concurrent=None,
        stats_interval=None,
        backfill=None,
    )
    assert config.users == watched
    assert config.max_tweets_per_poll == 20


@pytest.mark.parametrize(("page_size", "asked", "sent"), [(None, 100, "100"), (20, 100, "20"), (20, 5, "5")])
def test_timeline_page_size_caps_max_results(page_size: int | None, asked: int, sent: str) -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.params.get("max_results"))
        return httpx.Response(200, json={"data": [], "meta": {"result_count": 0}})

    async def go() -> None:
        client = TwitterClient(
            "https://api.example",
            Secret("token"),
            transport=httpx.MockTransport(handler),
            page_size=page_size,
        )
        async with client:
            await client.user_timeline("12", max_results=asked)

    asyncio.run(go())
    assert seen == [sent]
