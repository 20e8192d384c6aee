"""NIP-05 end to end (SPEC §10): ``--nip05-domain`` on the kind 0 of each mirror, read back from real relays,
``nip05-export DIR``'s file read by nostr-sdk's NIP-05 code, and the daemon's kind 0."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import nostr_sdk
import pytest

from nostrweet.nostr.event import SignedEvent, verify_event
from nostrweet.store import CacheStore
from tests.fakes.x_api import FakeXApi
from tests.integration.publish_helpers import Cli, make_cli, query
from tests.integration.test_daemon import DaemonProc, daemons, query_events, wait_for  # noqa: F401

pytestmark = pytest.mark.integration

USERS = ["MarchePinna", "WhoDisTweet", "antifascista__1"]


def run_env(cli: Cli, env_extra: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI with extra environment variables (Cli.run drops every NOSTRWEET_ variable)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOSTRWEET_", "TWITTER_"))}
    env.update(env_extra)
    cmd = [
        sys.executable,
        "-m",
        "nostrweet",
        "-d",
        str(cli.data_dir),
        "--mnemonic-file",
        str(cli.mnemonic_file),
    ]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=120, env=env)


def newest_kind0(cli: Cli, relay: str) -> dict[str, SignedEvent]:
    """The newest kind 0 on the relay per pubkey."""
    out: dict[str, SignedEvent] = {}
    for event in query(cli, relay, kinds=(0,)):
        assert verify_event(event)
        if event.pubkey not in out or event.created_at > out[event.pubkey].created_at:
            out[event.pubkey] = event
    return out


def nip05_of(event: SignedEvent) -> str | None:
    value = json.loads(event.content).get("nip05")
    return value if isinstance(value, str) else None


def assert_one_clean_line(proc: subprocess.CompletedProcess[str], cli: Cli, code: int) -> None:
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) <= 2 and lines[0].startswith("error: "), proc.stderr  # a hint line at most
    assert "Traceback" not in proc.stderr and cli.mnemonic not in proc.stderr + proc.stdout


def test_kind0_gets_nip05_and_is_republished_when_the_domain_or_the_name_changes(
    sdk_relay: str, pypi_relay: str, fake_x: FakeXApi, tmp_path: Path
) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    cli.run("fetch-profile", "MarchePinna")
    relays = ["-r", sdk_relay, "-r", pypi_relay]
    assert "published" in cli.run("post-profile-to-nostr", "MarchePinna", *relays).stdout
    [plain] = newest_kind0(cli, sdk_relay).values()
    assert nip05_of(plain) is None

    out = cli.run("post-profile-to-nostr", "MarchePinna", *relays, "--nip05-domain", "Mirror.Example").stdout
    assert "published" in out and "already" not in out
    out = cli.run("post-profile-to-nostr", "MarchePinna", *relays, "--nip05-domain", "mirror.example").stdout
    assert "already" in out  # same content: not published again
    for relay in (sdk_relay, pypi_relay):
        [event] = newest_kind0(cli, relay).values()
        assert nip05_of(event) == "marchepinna@mirror.example"
        assert event.pubkey == plain.pubkey and event.created_at > plain.created_at

    # the environment variable and the config key work too, and a new domain is a new kind 0
    proc = run_env(
        cli, {"NOSTRWEET_NIP05_DOMAIN": "other.example"}, "post-profile-to-nostr", "MarchePinna", *relays
    )
    assert proc.returncode == 0 and "published" in proc.stdout, proc.stderr
    assert nip05_of(newest_kind0(cli, sdk_relay)[plain.pubkey]) == "marchepinna@other.example"
    config = tmp_path / "c.toml"
    config.write_text('[nostr]\nnip05_domain = "third.example"\n')
    assert "published" in cli.run("-c", str(config), "post-profile-to-nostr", "MarchePinna", *relays).stdout
    assert nip05_of(newest_kind0(cli, sdk_relay)[plain.pubkey]) == "marchepinna@third.example"

    # a renamed account (a newer snapshot of the same user id under a new name) moves its name
    store = CacheStore(cli.data_dir)
    raw = store.newest_profile_raw("marchepinna")
    assert raw is not None
    store.write_profile({**raw, "username": "MarchePinnaNew"}, datetime.now(UTC))
    out = cli.run(
        "post-profile-to-nostr", "marchepinnanew", *relays, "--nip05-domain", "third.example"
    ).stdout
    assert "published" in out
    for relay in (sdk_relay, pypi_relay):
        event = newest_kind0(cli, relay)[plain.pubkey]
        assert nip05_of(event) == "marchepinnanew@third.example"
    export = tmp_path / "www"
    cli.run("nip05-export", str(export))
    doc = json.loads((export / ".well-known" / "nostr.json").read_text())
    assert doc["names"] == {"marchepinnanew": plain.pubkey}


@pytest.mark.parametrize(
    "args",
    [
        ["post-profile-to-nostr", "MarchePinna", "--nip05-domain", "https://mirror.example"],
        ["post-user-to-nostr", "MarchePinna", "--nip05-domain", "mirror.example:443"],
        ["post-tweet-to-nostr", "20", "--nip05-domain", "alice@mirror.example"],
        ["daemon", "-u", "MarchePinna", "--nip05-domain", "mirror example"],
    ],
)
def test_a_bad_domain_is_bad_input(args: list[str], tmp_path: Path) -> None:
    cli = make_cli(tmp_path, "http://127.0.0.1:9", "token")
    proc = cli.run(*args, "-r", "ws://127.0.0.1:9", check=False)
    assert_one_clean_line(proc, cli, 2)
    assert "--nip05-domain" in proc.stderr and "hostname" in proc.stderr


def test_a_bad_domain_in_the_config_is_bad_input(tmp_path: Path) -> None:
    cli = make_cli(tmp_path)
    config = tmp_path / "c.toml"
    config.write_text('[nostr]\nnip05_domain = "mirror.example/path"\n')
    proc = cli.run("-c", str(config), "post-profile-to-nostr", "x", "-r", "ws://127.0.0.1:9", check=False)
    assert_one_clean_line(proc, cli, 2)
    assert "[nostr] nip05_domain must be a hostname" in proc.stderr


def test_nip05_export_is_read_by_nostr_sdk(sdk_relay: str, fake_x: FakeXApi, tmp_path: Path) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    for user in USERS:
        cli.run("fetch-profile", user)
        cli.run("post-profile-to-nostr", user, "-r", sdk_relay, "--nip05-domain", "mirror.example")
    profiles = newest_kind0(cli, sdk_relay)
    by_nip05 = {nip05_of(e): e.pubkey for e in profiles.values()}
    assert set(by_nip05) == {f"{u.lower()}@mirror.example" for u in USERS}

    www = tmp_path / "www"
    proc = cli.run("nip05-export", str(www), "-r", sdk_relay)
    assert "3 name(s)" in proc.stdout and cli.mnemonic not in proc.stdout + proc.stderr
    path = www / ".well-known" / "nostr.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert not [p for p in path.parent.iterdir() if p != path]  # no temp file left
    text = path.read_text()
    # nostr-sdk's NIP-05 code finds, for each nip05 of a kind 0 on the relay, the pubkey that signed it
    for nip05, pubkey in by_nip05.items():
        assert nip05 is not None
        address = nostr_sdk.Nip05Address.parse(nip05)
        pk = nostr_sdk.PublicKey.parse(pubkey)
        assert nostr_sdk.nip05_verify_from_json(pk, address, text)
        profile = nostr_sdk.Nip05Profile.from_json(address, text)
        assert profile.public_key().to_hex() == pubkey
        assert [str(r) for r in profile.relays()] == [sdk_relay]
    print(text)
    print(
        json.dumps(
            next(e for e in profiles.values() if nip05_of(e) == "marchepinna@mirror.example").to_dict()
        )
    )


def test_nip05_export_uses_key_files_and_config_relays(fake_x: FakeXApi, tmp_path: Path) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    for user in USERS[:2]:
        cli.run("fetch-profile", user)
    fixed = nostr_sdk.Keys.generate()
    key_file = tmp_path / "marche.nsec"
    key_file.write_text(fixed.secret_key().to_bech32() + "\n")
    config = tmp_path / "c.toml"
    config.write_text(
        '[nostr]\nrelays = ["wss://all.example"]\n'
        f'[users.marchepinna]\nkey_file = "{key_file}"\nrelays = ["wss://own.example"]\n'
    )
    www = tmp_path / "www"
    (www / ".well-known").mkdir(parents=True)
    (www / ".well-known" / "nostr.json").write_text("old")
    proc = cli.run("-c", str(config), "nip05-export", str(www))
    assert fixed.secret_key().to_bech32() not in proc.stdout + proc.stderr
    doc = json.loads((www / ".well-known" / "nostr.json").read_text())
    marche = fixed.public_key().to_hex()
    assert doc["names"]["marchepinna"] == marche
    who = doc["names"]["whodistweet"]
    assert who != marche
    assert doc["relays"] == {marche: ["wss://own.example"], who: ["wss://all.example"]}


def test_nip05_export_without_profiles_or_mnemonic(tmp_path: Path) -> None:
    cli = make_cli(tmp_path)
    proc = cli.run("nip05-export", str(tmp_path / "www"), check=False)
    assert_one_clean_line(proc, cli, 1)
    assert "no cached profiles" in proc.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOSTRWEET_", "TWITTER_"))}
    proc = subprocess.run(
        [sys.executable, "-m", "nostrweet", "-d", str(cli.data_dir), "nip05-export", str(tmp_path / "www")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and "mnemonic" in proc.stderr and "Traceback" not in proc.stderr


def test_daemon_kind0_carries_nip05(
    tmp_path: Path,
    fake_x: FakeXApi,
    sdk_relay: str,
    daemons: list[DaemonProc],  # noqa: F811
) -> None:
    fake_x.world.hold_back("1154498013626327041", keep=1)
    d = DaemonProc(
        tmp_path,
        tmp_path / "data",
        fake_x,
        [sdk_relay],
        ["WhoDisTweet"],
        extra=["--nip05-domain", "Mirror.Example"],
    )
    daemons.append(d.start())

    def has_nip05() -> bool:
        return any(nip05_of(e) == "whodistweet@mirror.example" for e in query_events(sdk_relay, kinds=(0,)))

    wait_for(has_nip05, 40, "a kind 0 with nip05", d)
    assert d.stop() == 0
