"""The TOML config file (SPEC §6) and the daemon's flag-over-file resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from nostrweet.cli.app import main
from nostrweet.daemon.config import resolve_daemon_config
from nostrweet.errors import ConfigError, InputError
from nostrweet.settings import GlobalOptions, load_config, resolve_global_options

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "daemon.example.toml"


def options_for(path: Path | None) -> GlobalOptions:
    return resolve_global_options(
        data_dir=None,
        bearer_token=None,
        mnemonic=None,
        mnemonic_file=None,
        twitter_api_url=None,
        key_derivation=None,
        config_path=str(path) if path else None,
        verbose=0,
        quiet=False,
        log_format=None,
    )


def resolve(options: GlobalOptions, **flags: object) -> object:
    base: dict[str, object] = {
        "users": None,
        "relays": None,
        "blossom_servers": None,
        "poll_interval": None,
        "max_concurrent": None,
        "stats_interval": None,
        "backfill": None,
    }
    base.update(flags)
    return resolve_daemon_config(options, **base)  # type: ignore[arg-type]


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """The shipped example, with its mnemonic file pointed at a real (test) file."""
    mnemonic = tmp_path / "mnemonic"
    mnemonic.write_text("abandon " * 11 + "about\n")
    text = EXAMPLE.read_text().replace("/etc/nostrweet/mnemonic", str(mnemonic))
    path = tmp_path / "daemon.toml"
    path.write_text(text)
    return path


def test_example_file_loads_and_resolves(example: Path) -> None:
    cfg = load_config(EXAMPLE)
    assert cfg.get("daemon", "poll_interval") == 300
    assert set(cfg.users) == {"esa", "nasa"}
    assert cfg.users["esa"].skip_retweets is True
    assert cfg.users["esa"].relays == ("wss://relay.example.org",)
    options = options_for(example)
    assert options.mnemonic is not None
    assert options.data_dir == Path("/var/lib/nostrweet")
    assert options.log_format == "json"
    dc = resolve(options)
    assert dc.users == ("nasa", "esa")  # type: ignore[attr-defined]
    assert dc.relays_for("esa") == ("wss://relay.example.org",)  # type: ignore[attr-defined]
    assert dc.relays_for("nasa") == ("wss://relay.damus.io", "wss://nos.lol")  # type: ignore[attr-defined]
    assert dc.blossom_for("nasa") == ("https://cdn.example.net",)  # type: ignore[attr-defined]
    assert dc.all_relays() == ("wss://relay.damus.io", "wss://nos.lol", "wss://relay.example.org")  # type: ignore[attr-defined]
    assert dc.requests_per_window == 1000 and dc.safety == 1.25  # type: ignore[attr-defined]


def test_flags_override_the_file(example: Path) -> None:
    options = options_for(example)
    dc = resolve(
        options,
        users=["@NASA,spacex"],
        relays=["ws://127.0.0.1:7777"],
        poll_interval=42,
        max_concurrent=7,
        backfill=0,
    )
    assert dc.users == ("nasa", "spacex")  # type: ignore[attr-defined]
    assert dc.relays == ("ws://127.0.0.1:7777",)  # type: ignore[attr-defined]
    assert dc.poll_interval == 42 and dc.max_concurrent == 7 and dc.backfill == 0  # type: ignore[attr-defined]
    assert dc.stats_interval == 60  # type: ignore[attr-defined]  # from the file
    assert dc.relays_for("spacex") == ("ws://127.0.0.1:7777",)  # type: ignore[attr-defined]


def test_defaults_without_a_file() -> None:
    dc = resolve(options_for(None), users=["a"], relays=["ws://x"])
    assert (dc.poll_interval, dc.max_concurrent, dc.stats_interval, dc.backfill) == (300, 3, 60, 20)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[daemon]\npoll_intervall = 5\n", "poll_intervall"),
        ("[deamon]\nusers = ['a']\n", "deamon"),
        ("[daemon]\npoll_interval = 'often'\n", "poll_interval"),
        ("[daemon]\nmax_concurrent = 0\n", "max_concurrent"),
        ("[daemon]\nbackfill = -1\n", "backfill"),
        ("[daemon]\nusers = ['../etc']\n", "users"),
        ("[daemon]\nlog_format = 'xml'\n", "log_format"),
        ("[nostr]\nrelays = ['http://relay']\n", "relays"),
        ("[nostr]\nkey_derivation = 'bip85'\n", "key_derivation"),
        ("[rate_limits]\nlow_budget_fraction = 2\n", "low_budget_fraction"),
        ("[users.alice]\nskip_retweet = true\n", "skip_retweet"),
        ("[users.alice]\nrelays = ['https://x']\n", "relays"),
        ("[users.alice]\nskip_replies = 'yes'\n", "skip_replies"),
        ("[users.'bad name']\nskip_replies = true\n", "bad name"),
        ("[users.alice]\nnostr_npub = 'nsec1abc'\n", "nostr_npub"),
        ("[users.alice]\nnostr_npub = 'npub1notbech32'\n", "nostr_npub"),
        ("[users.alice]\nhandoff = 'later'\n", "handoff"),
        ("[daemon]\ndeletion_interval = 0\n", "deletion_interval"),
        ("[daemon]\ndeletion_window = -5\n", "deletion_window"),
        ("daemon = 3\n", "daemon"),
        ("[daemon\n", "TOML"),
    ],
)
def test_bad_files_name_the_key_and_the_file(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "daemon.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert needle in message and str(path) in message
    assert "\n" not in message
    assert info.value.exit_code == 2


def test_handoff_and_deletion_settings(tmp_path: Path) -> None:
    npub = "npub1sn0wdenkukak0d9dfczzeacvhkrgz92ak56egt7vdgzn8pv2wfqqhrjdv9"
    path = tmp_path / "daemon.toml"
    path.write_text(
        "[daemon]\ndeletion_interval = 60\ndeletion_window = 86400\n"
        f"[users.Jack]\nnostr_npub = '{npub}'\n[users.bob]\nnostr_npub = '{npub}'\nhandoff = 'continue'\n"
    )
    cfg = load_config(path)
    assert cfg.users["jack"].nostr_npub == npub and not cfg.users["jack"].handoff_continue
    assert cfg.users["bob"].handoff_continue
    dc = resolve(options_for(path), users=["jack"], relays=["ws://x"])
    assert (dc.deletion_interval, dc.deletion_window) == (60, 86400)  # type: ignore[attr-defined]
    defaults = resolve(options_for(None), users=["a"], relays=["ws://x"])
    assert (defaults.deletion_interval, defaults.deletion_window) == (3600, 604800)  # type: ignore[attr-defined]


def test_missing_users_or_relays_is_bad_input() -> None:
    with pytest.raises(InputError, match="no user"):
        resolve(options_for(None), relays=["ws://x"])
    with pytest.raises(InputError, match="no relay"):
        resolve(options_for(None), users=["a"])


def test_cli_exits_2_naming_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[daemon]\nusers = ['a']\nbogus = 1\n")
    with pytest.raises(SystemExit) as info:
        main(["--config", str(path), "-d", str(tmp_path / "d"), "daemon", "-r", "ws://127.0.0.1:1"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bogus" in err[0] and str(path) in err[0]


def test_cli_exits_2_on_a_bad_key_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOSTRWEET_MNEMONIC", "abandon " * 11 + "about")  # -m would add its ps warning
    key_file = tmp_path / "alice.key"
    key_file.write_text("not a key\n")
    path = tmp_path / "daemon.toml"
    path.write_text(f'[daemon]\nusers = ["alice"]\n[users.alice]\nkey_file = "{key_file}"\n')
    args = ["--config", str(path), "-d", str(tmp_path / "d"), "--bearer-token", "t"]
    args += ["daemon", "-r", "ws://127.0.0.1:1"]
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "key file" in err[0] and "abandon" not in err[0]
