"""The command line as a user meets it: generate-mnemonic, secrets warnings, help text, log levels,
disk errors at the boundary and ``keys --json`` (SPEC §1)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from mnemonic import Mnemonic

from nostrweet.nostr.keys import KeyDeriver
from nostrweet.settings import Secret
from tests.fakes.x_api import FakeXApi
from tests.fakes.x_world import World

pytestmark = pytest.mark.integration

TOKEN = "options-Bearer-AAAAq8Zr3secret"
USER = "MarchePinna"
MEDIA_USER = "calin_a"  # a photo among the newest five tweets


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOSTRWEET_", "TWITTER_"))}
    env.update(extra)
    return env


def nostrweet(
    *args: str, cwd: Path, env: dict[str, str] | None = None, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nostrweet", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env if env is not None else clean_env(),
        timeout=120,
        **kwargs,  # type: ignore[call-overload]
    )


def one_error_line(proc: subprocess.CompletedProcess[str], code: int) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr and "unexpected" not in proc.stderr, proc.stderr
    return lines[0]


@pytest.fixture
def x_api(x_world: World) -> Iterator[FakeXApi]:
    server = FakeXApi(x_world, bearer_token=TOKEN)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def phrase_file(tmp_path: Path) -> Path:
    path = tmp_path / "mnemonic.txt"
    path.write_text(Mnemonic("english").generate(128) + "\n")
    path.chmod(0o600)
    return path


# ---------------------------------------------------------------- generate-mnemonic


def test_generate_mnemonic_prints_a_valid_24_word_phrase_and_a_hint(tmp_path: Path) -> None:
    proc = nostrweet("generate-mnemonic", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    phrase = proc.stdout.strip()
    assert len(phrase.split()) == 24 and Mnemonic("english").check(phrase)
    assert "offline" in proc.stderr and phrase not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1

    proc = nostrweet("generate-mnemonic", "--words", "12", cwd=tmp_path)
    twelve = proc.stdout.strip()
    assert len(twelve.split()) == 12 and Mnemonic("english").check(twelve)
    assert twelve != " ".join(phrase.split()[:12])  # fresh randomness each time

    help_text = nostrweet("generate-mnemonic", "--help", cwd=tmp_path, env=clean_env(COLUMNS="200")).stdout
    assert "24 words" in help_text and shows_choices(help_text, "12|24")
    assert "--words" in one_error_line(nostrweet("generate-mnemonic", "--words", "13", cwd=tmp_path), 2)


def test_generate_mnemonic_out_makes_a_new_0600_file_and_never_overwrites(tmp_path: Path) -> None:
    out = tmp_path / "phrase.txt"
    proc = nostrweet("generate-mnemonic", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(out)  # only the path, never the phrase
    phrase = out.read_text().strip()
    assert len(phrase.split()) == 24 and Mnemonic("english").check(phrase)
    assert phrase not in proc.stdout + proc.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600

    # the file it made is a mnemonic file the other commands take, without a warning
    keys = nostrweet("--mnemonic-file", str(out), "keys", "12", cwd=tmp_path)
    assert keys.returncode == 0 and "warning" not in keys.stderr.lower(), keys.stderr

    line = one_error_line(nostrweet("generate-mnemonic", "--out", str(out), cwd=tmp_path), 2)
    assert "already exists" in line
    assert out.read_text().strip() == phrase

    other = tmp_path / "other.txt"
    other.write_text("keep me\n")
    one_error_line(nostrweet("generate-mnemonic", "--words", "12", "--out", str(other), cwd=tmp_path), 2)
    assert other.read_text() == "keep me\n"


# ---------------------------------------------------------------- secrets on the command line


def test_mnemonic_flag_and_open_mnemonic_file_warn_without_echoing_the_phrase(
    tmp_path: Path, phrase_file: Path
) -> None:
    phrase = phrase_file.read_text().strip()
    words = phrase.split()

    def leaks(text: str) -> bool:
        return any(" ".join(words[i : i + 2]) in text for i in range(len(words) - 1))

    proc = nostrweet("-m", phrase, "keys", "12", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == 1, proc.stderr
    assert "ps" in warnings[0] and "history" in warnings[0] and "--mnemonic-file" in warnings[0]
    assert not leaks(proc.stderr)

    # the same phrase through the environment is not on the command line: no warning
    proc = nostrweet("keys", "12", cwd=tmp_path, env=clean_env(NOSTRWEET_MNEMONIC=phrase))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr

    # a mnemonic file that group or others may read or write
    proc = nostrweet("--mnemonic-file", str(phrase_file), "keys", "12", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    for mode in (0o644, 0o640, 0o602):
        phrase_file.chmod(mode)
        proc = nostrweet("--mnemonic-file", str(phrase_file), "keys", "12", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        warnings = [line for line in proc.stderr.splitlines() if "WARNING" in line]
        assert len(warnings) == 1, proc.stderr
        assert str(phrase_file) in warnings[0] and "chmod 600" in warnings[0]
        assert not leaks(proc.stderr + proc.stdout)


# ---------------------------------------------------------------- help text and completion


def shows_choices(line: str, text: str) -> bool:
    """A choice as click shows it (``[a|b]``) or as typer 0.20 and later do (``<a|b>``)."""
    return f"[{text}]" in line or f"<{text}>" in line


def _option_line(help_text: str, option: str) -> str:
    return next(line for line in help_text.splitlines() if f"{option} " in line)


def test_help_shows_counters_choices_and_paths(tmp_path: Path) -> None:
    env = clean_env(COLUMNS="220")
    top = nostrweet("--help", cwd=tmp_path, env=env).stdout
    verbose = _option_line(top, "--verbose")
    assert "INTEGER" not in verbose and "default: 0" not in verbose
    assert shows_choices(_option_line(top, "--key-derivation"), "nip06|legacy")
    assert shows_choices(_option_line(top, "--log-format"), "text|json")
    for option in ("--data-dir", "--mnemonic-file", "--config"):
        assert "TEXT" not in _option_line(top, option), option
    assert "--count" in _option_line(top, "--config")  # says what -c is not, here
    assert "--install-completion" in top and "--show-completion" in top
    assert "generate-mnemonic" in top

    query = nostrweet("utils", "query-events", "--help", cwd=tmp_path, env=env).stdout
    fmt = _option_line(query, "--format")
    assert shows_choices(fmt, "pretty|json") and "-f " not in fmt
    assert "TEXT" not in _option_line(query, "--output")

    count = _option_line(nostrweet("user-tweets", "--help", cwd=tmp_path, env=env).stdout, "--count")
    assert "-c" in count and "--config" in count

    # -f is --force everywhere; query-events has no -f
    proc = nostrweet("utils", "query-events", "-r", "ws://127.0.0.1:9", "-f", "json", cwd=tmp_path)
    one_error_line(proc, 2)
    proc = nostrweet("utils", "query-events", "-r", "ws://127.0.0.1:9", "--format", "xml", cwd=tmp_path)
    assert "--format" in one_error_line(proc, 2)
    for option, bad in (("--key-derivation", "bip85"), ("--log-format", "xml")):
        assert option in one_error_line(nostrweet(option, bad, "keys", "1", cwd=tmp_path), 2)
    # a bad choice with --log-format json is reported as JSON, like every other error
    proc = nostrweet("--log-format", "json", "--key-derivation", "bip85", "keys", "1", cwd=tmp_path)
    error = json.loads(proc.stderr)
    assert proc.returncode == 2 and error["exit_code"] == 2 and "--key-derivation" in error["message"]
    # choices are not case-sensitive, as the environment and config values never were
    proc = nostrweet("--log-format", "JSON", "keys", "1", cwd=tmp_path)
    assert json.loads(proc.stderr.strip().splitlines()[-1])["exit_code"] == 2  # no mnemonic: JSON error


def test_completion_options_and_the_version(tmp_path: Path) -> None:
    # typer asks shellingham for the shell; this variable makes it take the shell as a value instead
    env = clean_env(_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1")
    proc = nostrweet("--show-completion", "bash", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "_NOSTRWEET_COMPLETE" in proc.stdout and proc.stderr == ""
    # detecting the shell: a script, or one line saying the shell is unknown (under a test runner)
    proc = nostrweet("--show-completion", cwd=tmp_path)
    if proc.returncode != 0:
        assert "shell" in one_error_line(proc, 1)
    # an unknown command after the completion flags still gets the one-line error
    proc = nostrweet("no-such-command", cwd=tmp_path)
    assert "no-such-command" in one_error_line(proc, 2)
    # completion itself, as the shell asks for it
    proc = nostrweet(
        cwd=tmp_path,
        env=clean_env(_NOSTRWEET_COMPLETE="complete_bash", COMP_WORDS="nostrweet gener", COMP_CWORD="1"),
    )
    assert proc.returncode == 0 and "generate-mnemonic" in proc.stdout, (proc.stdout, proc.stderr)
    for flag in ("-V", "--version"):
        proc = nostrweet(flag, cwd=tmp_path)
        assert proc.returncode == 0 and proc.stdout.startswith("nostrweet "), proc.stderr


# ---------------------------------------------------------------- log levels


def _records(stderr: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def test_v_shows_our_debug_lines_and_vv_keeps_libraries_at_info(
    x_api: FakeXApi, tmp_path: Path, phrase_file: Path
) -> None:
    env = clean_env(TWITTER_BEARER_TOKEN=TOKEN)
    base = ["--log-format", "json", "--twitter-api-url", x_api.url]

    def run(data: str, *flags: str, user: str = USER) -> list[dict[str, object]]:
        proc = nostrweet(
            *base,
            "-d",
            str(tmp_path / data),
            *flags,
            "user-tweets",
            user,
            "--count",
            "5",
            cwd=tmp_path,
            env=env,
        )
        assert proc.returncode == 0, proc.stderr
        return _records(proc.stderr)

    quiet = run("d0", "-q")
    assert quiet == []

    one = run("d1", "-v")
    ours = [r for r in one if str(r["logger"]).startswith("nostrweet") and r["level"] == "debug"]
    assert any("cached" in str(r["message"]) for r in ours), one
    assert any("page" in str(r["message"]) for r in ours), one
    assert all(str(r["logger"]).startswith("nostrweet") for r in one if r["level"] in ("debug", "info")), one

    # a photo among the newest tweets: its download is an httpx request, which httpx logs at info
    # (the X API requests go over aiohttp, which logs none)
    two = run("d2", "-vv", user=MEDIA_USER)
    assert any(r["level"] == "debug" and str(r["logger"]).startswith("nostrweet") for r in two)
    libraries = [r for r in two if not str(r["logger"]).startswith("nostrweet")]
    assert libraries, "-vv shows the libraries' info lines"
    assert all(r["level"] != "debug" for r in libraries), [r for r in libraries if r["level"] == "debug"][:3]

    three = run("d3", "-vvv")
    assert any(r["level"] == "debug" and not str(r["logger"]).startswith("nostrweet") for r in three)


# ---------------------------------------------------------------- disk errors at the boundary


def test_an_unwritable_data_dir_is_one_clear_line(x_api: FakeXApi, tmp_path: Path) -> None:
    # Root ignores file modes: as root, the command runs without the capabilities that let it.
    prefix = (
        ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"] if os.geteuid() == 0 else []
    )
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o555)
    env = clean_env(TWITTER_BEARER_TOKEN=TOKEN)
    try:
        for data in (readonly, readonly / "downloads"):
            args = ["-d", str(data), "--twitter-api-url", x_api.url, "user-tweets", USER, "--count", "2"]
            proc = subprocess.run(
                [*prefix, sys.executable, "-m", "nostrweet", *args],
                capture_output=True,
                text=True,
                cwd=tmp_path,
                env=env,
                timeout=120,
            )
            line = one_error_line(proc, 1)
            assert "Permission denied" in line and str(readonly) in line, line
            assert "OSError" not in line and "PermissionError" not in line
    finally:
        readonly.chmod(0o755)


# ---------------------------------------------------------------- keys --json


def test_keys_json_is_one_object_and_the_nsec_only_when_asked(tmp_path: Path, phrase_file: Path) -> None:
    phrase = phrase_file.read_text().strip()
    key = KeyDeriver(Secret(phrase)).for_user("3916631")
    proc = nostrweet("--mnemonic-file", str(phrase_file), "keys", "3916631", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0]) == {
        "user_id": "3916631",
        "username": None,
        "path": "m/44'/1237'/0'/0/3916631",
        "npub": key.npub,
        "pubkey": key.pubkey_hex,
    }
    assert "nsec1" not in proc.stdout + proc.stderr

    proc = nostrweet(
        "--mnemonic-file", str(phrase_file), "keys", "3916631", "--json", "--show-secret", cwd=tmp_path
    )
    shown = json.loads(proc.stdout)
    assert shown["nsec"] == key.nsec() and shown["npub"] == key.npub


# ---------------------------------------------------------------- global options after the command


def test_global_options_after_the_command_work_as_before_it(
    tmp_path: Path, x_api: FakeXApi, phrase_file: Path
) -> None:
    data = tmp_path / "archive"
    fetched = nostrweet(
        "user-tweets", USER, "--count", "5", "-d", str(data), "--twitter-api-url", x_api.url,
        "--bearer-token", TOKEN, cwd=tmp_path,
    )  # fmt: skip
    assert fetched.returncode == 0, fetched.stderr
    assert not (tmp_path / "downloads").exists()  # the -d after the command was the one used
    listed = nostrweet("list-tweets", "-d", str(data), "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    tweets = [json.loads(line) for line in listed.stdout.splitlines()]  # one object a line
    assert tweets and len(tweets) == len([p for p in data.glob("*.json") if "_profile" not in p.name])
    # show-tweet --pretty (the earlier tool's flag, and the default) and --compact
    shown = {
        flag: nostrweet(
            "show-tweet",
            tweets[0]["id"],
            *flag,
            "-d",
            str(data),
            "--mnemonic-file",
            str(phrase_file),
            cwd=tmp_path,
        )
        for flag in ((), ("--pretty",), ("--compact",))
    }
    assert shown[()].stdout == shown[("--pretty",)].stdout and shown[()].stdout.count("\n") > 10
    assert shown[("--compact",)].stdout.count("\n") == 1
    assert json.loads(shown[("--compact",)].stdout) == json.loads(shown[()].stdout)

    after = nostrweet(
        "keys", "1", "--json", "--key-derivation", "legacy", "--mnemonic-file", str(phrase_file), cwd=tmp_path
    )
    before = nostrweet(
        "--key-derivation", "legacy", "--mnemonic-file", str(phrase_file), "keys", "1", "--json", cwd=tmp_path
    )
    nip06 = nostrweet("--mnemonic-file", str(phrase_file), "keys", "1", "--json", cwd=tmp_path)
    assert after.returncode == before.returncode == nip06.returncode == 0, after.stderr
    assert json.loads(after.stdout)["pubkey"] == json.loads(before.stdout)["pubkey"]
    assert json.loads(after.stdout)["pubkey"] != json.loads(nip06.stdout)["pubkey"]


def test_the_earlier_tools_environment_variables(tmp_path: Path, x_api: FakeXApi) -> None:
    legacy_dir = tmp_path / "output"
    env = clean_env(NOSTRWEET_OUTPUT_DIR=str(legacy_dir), RUST_LOG="nostrweet=debug,hyper=info")
    fetched = nostrweet(
        "--twitter-api-url", x_api.url, "--bearer-token", TOKEN, "user-tweets", USER, "--count", "5",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert fetched.returncode == 0, fetched.stderr
    assert any(legacy_dir.glob(f"*_{USER.lower()}_*.json")) and not (tmp_path / "downloads").exists()
    assert "DEBUG" in fetched.stderr or '"debug"' in fetched.stderr  # RUST_LOG's level for nostrweet
    # NOSTRWEET_DATA_DIR wins over the earlier tool's variable
    env["NOSTRWEET_DATA_DIR"] = str(tmp_path / "data")
    listed = nostrweet("list-tweets", cwd=tmp_path, env=env)
    assert listed.returncode == 0 and USER not in listed.stdout, listed.stdout
