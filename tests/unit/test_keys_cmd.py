"""The keys command (cli/keys_cmd.py): output, username resolution from the cache, exit codes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from nostrweet.cache.layout import profile_filename
from nostrweet.cli.app import main

M = "leader monkey parrot ring guide accident before fence cannon height naive bean"
NSEC = "nsec10allq0gjx7fddtzef0ax00mdps9t2kmtrldkyjfs8l5xruwvh2dq0lhhkp"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    out = capsys.readouterr()
    return int(info.value.code or 0), out.out, out.err


def test_keys_by_id(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    code, out, _ = run(["-d", str(data_dir), "-m", M, "keys", "0"], capsys)
    assert code == 0
    assert "m/44'/1237'/0'/0/0" in out
    assert "npub1zutzeysacnf9rru6zqwmxd54mud0k44tst6l70ja5mhv8jjumytsd2x7nu" in out
    assert "17162c921dc4d2518f9a101db33695df1afb56ab82f5ff3e5da6eec3ca5cd917" in out
    assert NSEC not in out and "nsec" not in out
    code, out, _ = run(["-d", str(data_dir), "-m", M, "keys", "0", "--show-secret"], capsys)
    assert code == 0 and NSEC in out


def test_keys_by_cached_username(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    name = profile_filename(datetime(2024, 1, 1, tzinfo=UTC), "Alice")
    (data_dir / name).write_text(json.dumps({"id": "2147483648", "username": "Alice", "name": "A"}))
    code, out, _ = run(["-d", str(data_dir), "-m", M, "keys", "@ALICE"], capsys)
    assert code == 0
    assert "user id: 2147483648" in out and "m/44'/1237'/1'/0/0" in out


def test_keys_errors(
    capsys: pytest.CaptureFixture[str], data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOSTRWEET_MNEMONIC", raising=False)
    monkeypatch.delenv("NOSTRWEET_MNEMONIC_FILE", raising=False)
    code, _, err = run(["-d", str(data_dir), "keys", "1"], capsys)
    assert code == 2 and "mnemonic" in err
    code, _, err = run(["-d", str(data_dir), "-m", M, "keys", "bob"], capsys)
    assert code == 1 and "fetch-profile" in err
    bad = M.replace("naive", "naïve")
    code, _, err = run(["-d", str(data_dir), "-m", bad, "keys", "1"], capsys)
    assert code == 2 and "11th" in err
    for word in M.split():
        assert word not in err.split()
    code, _, err = run(["-d", str(data_dir), "-m", M, "keys", str(2**62)], capsys)
    assert code == 2 and "2^62" in err
