"""Acceptance of SPEC §1 as a user sees it: the real ``nostrweet`` in a subprocess against the fake X API
and a real relay. Exit codes, one-line errors, help defaults, option precedence (flag > env > config >
default, ``.env`` never over the real environment), log formats, ``-q``, progress bars only on a TTY,
and no secret in any output or cached file (daemon, keys, archive commands and error paths)."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mnemonic import Mnemonic

from nostrweet.nostr.keys import KeyDeriver
from nostrweet.settings import Secret
from tests.fakes.nostr_helpers import random_key
from tests.fakes.x_api import FakeXApi
from tests.fakes.x_world import World

pytestmark = pytest.mark.integration

TOKEN = "acceptance-Bearer-AAAAx9Qz7secret"
TWEET = "1574184144313122816"  # a retweet by @antifascista__1 (references a tweet and two users)
BIG_USER = "MariamBarghouti"  # 101 tweets: paging, and long enough for a progress bar
_NSEC = re.compile(r"nsec1[02-9ac-hj-np-z]{20,}")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any nostrweet or X setting of the machine, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOSTRWEET_", "TWITTER_"))}
    env.update(extra)
    return env


def nostrweet(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the real command line, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "nostrweet", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env if env is not None else clean_env(),
        timeout=timeout,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int) -> str:
    """Exit ``code``, one ``error:`` line on stderr (plus at most a ``Try`` hint), no traceback."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2, proc.stderr
    assert lines[0].startswith("error: ") and len(lines[0]) > len("error: ") + 5, proc.stderr
    assert len(lines) == 1 or lines[1].startswith("Try 'nostrweet"), proc.stderr
    assert "Traceback" not in proc.stderr and "env var: 'None'" not in proc.stderr
    return lines[0]


@pytest.fixture
def x_api(x_world: World) -> Iterator[FakeXApi]:
    """The fake X API with a bearer token that cannot appear anywhere by chance."""
    server = FakeXApi(x_world, bearer_token=TOKEN)
    server.start()
    try:
        yield server
    finally:
        server.stop()
    assert server.violations == []


@pytest.fixture
def phrase(tmp_path: Path) -> str:
    return Mnemonic("english").generate(128)


@pytest.fixture
def mnemonic_file(tmp_path: Path, phrase: str) -> Path:
    path = tmp_path / "mnemonic.txt"
    path.write_text(phrase + "\n")
    path.chmod(0o600)
    return path


# ---------------------------------------------------------------- usage, help, exit codes (no server)


def test_usage_errors_are_one_line_with_the_commands_hint(tmp_path: Path) -> None:
    proc = nostrweet("user-tweets", "jack", "--count", "0", cwd=tmp_path)
    line = assert_one_line_error(proc, 2)
    assert "--count" in line
    assert proc.stderr.strip().splitlines()[1] == "Try 'nostrweet user-tweets --help'."

    proc = nostrweet("utils", "query-events", "-r", "ws://127.0.0.1:9", "--kind", "-5", cwd=tmp_path)
    assert "--kind" in assert_one_line_error(proc, 2)

    proc = nostrweet("list-tweets", "--bogus", cwd=tmp_path)
    assert "--bogus" in assert_one_line_error(proc, 2)

    for bad in ("@bad-name", "a" * 16, "../x"):
        assert "invalid username" in assert_one_line_error(nostrweet("fetch-profile", bad, cwd=tmp_path), 2)

    # a data dir that is a file is bad input, not an unexpected crash
    afile = tmp_path / "afile"
    afile.write_text("x")
    proc = nostrweet("-d", str(afile), "list-tweets", cwd=tmp_path)
    assert "not a directory" in assert_one_line_error(proc, 2)


def test_no_command_prints_help_and_no_empty_error(tmp_path: Path) -> None:
    for args in ((), ("utils",)):
        proc = nostrweet(*args, cwd=tmp_path)
        assert proc.returncode == 2
        assert "Usage: nostrweet" in proc.stdout
        assert "error:" not in proc.stderr and proc.stderr.strip() == ""


def test_help_of_each_command_shows_its_defaults(tmp_path: Path) -> None:
    env = clean_env(COLUMNS="200")
    expected = {
        (): ["./downloads", "https://api.x.com", "nip06", "NOSTRWEET_DATA_DIR", "TWITTER_BEARER_TOKEN"],
        ("user-tweets",): ["[default: 10]"],
        ("daemon",): ["300", "[default: (3)]", "[default: (60)]", "[default: (20)]"],
        ("utils", "query-events"): ["[default: 10]", "[default: pretty]", "default: any"],
    }
    for command, needles in expected.items():
        proc = nostrweet(*command, "--help", cwd=tmp_path, env=env)
        assert proc.returncode == 0, proc.stderr
        for needle in needles:
            assert needle in proc.stdout, (command, needle)


# ---------------------------------------------------------------- precedence, .env, log formats


def test_precedence_flag_env_config_default_and_dotenv(tmp_path: Path) -> None:
    dirs = {name: tmp_path / name for name in ("config", "env", "flag", "dotenv")}
    for path in dirs.values():
        path.mkdir()
    config = tmp_path / "nostrweet.toml"
    config.write_text(f'[daemon]\ndata_dir = "{dirs["config"]}"\nlog_format = "json"\n')

    def data_dir_used(*args: str, **env: str) -> str:
        proc = nostrweet(*args, "clear-cache", "--force", cwd=tmp_path, env=clean_env(**env))
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip().rsplit(" ", 1)[-1]

    (tmp_path / "downloads").mkdir()
    assert data_dir_used() == "downloads"  # the default, ./downloads
    assert data_dir_used("-c", str(config)) == str(dirs["config"])
    assert data_dir_used("-c", str(config), NOSTRWEET_DATA_DIR=str(dirs["env"])) == str(dirs["env"])
    assert data_dir_used(
        "-c", str(config), "-d", str(dirs["flag"]), NOSTRWEET_DATA_DIR=str(dirs["env"])
    ) == str(dirs["flag"])
    # .env is loaded, over the config file, but never over the real environment
    (tmp_path / ".env").write_text(f"NOSTRWEET_DATA_DIR={dirs['dotenv']}\n")
    assert data_dir_used("-c", str(config)) == str(dirs["dotenv"])
    assert data_dir_used("-c", str(config), NOSTRWEET_DATA_DIR=str(dirs["env"])) == str(dirs["env"])
    (tmp_path / ".env").write_text(f"NOSTRWEET_CONFIG={config}\n")
    assert data_dir_used() == str(dirs["config"])
    (tmp_path / ".env").unlink()

    # log format: the error line follows it (json from the config, text from env or flag)
    def error_line(*args: str, **env: str) -> str:
        proc = nostrweet(*args, "list-tweets", "--user", "bad-x", cwd=tmp_path, env=clean_env(**env))
        assert proc.returncode == 2
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, proc.stderr
        return lines[0]

    assert error_line().startswith("error: invalid username")
    record = json.loads(error_line("-c", str(config)))
    assert record["level"] == "error" and "invalid username" in record["message"]
    assert record["exit_code"] == 2
    assert error_line("-c", str(config), NOSTRWEET_LOG_FORMAT="text").startswith("error: ")
    assert error_line("-c", str(config), "--log-format", "text", NOSTRWEET_LOG_FORMAT="json").startswith(
        "error: "
    )
    assert json.loads(error_line("--log-format", "json", NOSTRWEET_LOG_FORMAT="text"))["exit_code"] == 2


# ---------------------------------------------------------------- archive commands against the fake X API


def test_archive_commands_good_and_bad_input(x_api: FakeXApi, tmp_path: Path) -> None:
    base = ["-d", str(tmp_path / "data"), "--twitter-api-url", x_api.url]
    env = clean_env(TWITTER_BEARER_TOKEN=TOKEN)

    for ref in (
        TWEET,
        f"https://x.com/someone/status/{TWEET}?s=20",
        f"https://mobile.twitter.com/a/status/{TWEET}",
    ):
        proc = nostrweet(*base, "fetch-tweet", ref, cwd=tmp_path, env=env)
        assert proc.returncode == 0 and f"cached tweet {TWEET}" in proc.stdout, proc.stderr
    assert "not found" in assert_one_line_error(
        nostrweet(*base, "fetch-tweet", "20", cwd=tmp_path, env=env), 1
    )
    proc = nostrweet(*base, "fetch-tweet", "https://example.com/a/status/1", cwd=tmp_path, env=env)
    assert_one_line_error(proc, 2)

    # the @ is stripped and the name is case-insensitive; the output keeps the real spelling
    proc = nostrweet(*base, "user-tweets", "@phillynefl", "--count", "5", cwd=tmp_path, env=env)
    assert proc.returncode == 0 and proc.stdout.startswith("@PhillyNEFL: 5 new"), proc.stderr
    proc = nostrweet(*base, "fetch-profile", "@PHILLYNEFL", cwd=tmp_path, env=env)
    assert proc.returncode == 0 and "id 2351222345" in proc.stdout, proc.stderr
    proc = nostrweet(*base, "list-tweets", "--user", "@PhillyNefl", "--json", cwd=tmp_path, env=env)
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == 5 and {r["username"] for r in rows} == {"PhillyNEFL"}
    assert [r["created_at"] for r in rows] == sorted((r["created_at"] for r in rows), reverse=True)

    proc = nostrweet(*base, "fetch-profile", "nosuchuser12345", cwd=tmp_path, env=env)
    assert "not found" in assert_one_line_error(proc, 1)
    # no token: exit 2; a wrong token: the API's 401, exit 1, and the token is not echoed
    proc = nostrweet(*base, "user-tweets", "PhillyNEFL", cwd=tmp_path, env=clean_env())
    assert "bearer token" in assert_one_line_error(proc, 2)
    wrong = "wrong-token-ZZZZ1234"
    proc = nostrweet(*base, "--bearer-token", wrong, "fetch-tweet", "21", cwd=tmp_path, env=clean_env())
    assert "401" in assert_one_line_error(proc, 1)
    assert wrong not in proc.stderr + proc.stdout


# ---------------------------------------------------------------- logs, -q, progress bars


def test_quiet_and_json_logs_of_a_publish(
    x_api: FakeXApi, dead_relay_url: str, mnemonic_file: Path, tmp_path: Path
) -> None:
    base = [
        "-d",
        str(tmp_path / "data"),
        "--twitter-api-url",
        x_api.url,
        "--mnemonic-file",
        str(mnemonic_file),
    ]
    env = clean_env(TWITTER_BEARER_TOKEN=TOKEN)
    post = ["post-tweet", TWEET, "-r", dead_relay_url]
    loud = nostrweet(*base, *post, cwd=tmp_path, env=env)
    assert loud.returncode == 1 and " INFO " in loud.stderr and "reached no relay" in loud.stderr

    quiet = nostrweet(*base, "-q", *post, cwd=tmp_path, env=env)
    assert_one_line_error(quiet, 1)
    assert "reached no relay" in quiet.stderr

    as_json = nostrweet(*base, "--log-format", "json", "-v", *post, cwd=tmp_path, env=env)
    assert as_json.returncode == 1
    records = [json.loads(line) for line in as_json.stderr.splitlines()]  # every line is one object
    assert {"info", "debug", "error"} <= {r["level"] for r in records}  # each failed event at -v (debug)
    assert records[-1]["level"] == "error" and records[-1]["exit_code"] == 1


def _run_on_pty(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    """Run with stderr on a pseudo-terminal (stdout piped): exit code, stdout, what the terminal got."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "nostrweet", *args],
        stdout=subprocess.PIPE,
        stderr=slave,
        cwd=cwd,
        env=env,
    )
    os.close(slave)
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    out = proc.stdout.read().decode() if proc.stdout else ""
    code = proc.wait(60)
    os.close(master)
    return code, out, b"".join(chunks).decode(errors="replace")


def test_progress_bar_only_on_a_terminal(x_api: FakeXApi, tmp_path: Path) -> None:
    env = clean_env(TWITTER_BEARER_TOKEN=TOKEN, TERM="xterm", COLUMNS="100")
    args = ["--twitter-api-url", x_api.url, "user-tweets", BIG_USER, "--count", "60", "--skip-profiles"]
    code, out, tty = _run_on_pty(["-d", str(tmp_path / "tty"), *args], tmp_path, env)
    assert code == 0 and "60 new tweet(s)" in out and "━" not in out  # the bar is on stderr only
    assert "/60" in tty and "━" in tty, tty[-300:]

    code, out, tty = _run_on_pty(["-q", "-d", str(tmp_path / "quiet"), *args], tmp_path, env)
    assert code == 0 and out == "" and "━" not in tty and "/60" not in tty  # -q: no summary either

    piped = nostrweet("-d", str(tmp_path / "piped"), *args, cwd=tmp_path, env=env)
    assert piped.returncode == 0 and "60 new tweet(s)" in piped.stdout
    assert piped.stderr == "" and "━" not in piped.stdout and "\x1b[" not in piped.stdout


# ---------------------------------------------------------------- secrets


def _word_runs(phrase: str) -> list[str]:
    """The phrase and every run of two or more of its consecutive words."""
    words = phrase.split()
    return [" ".join(words[i:j]) for i in range(len(words)) for j in range(i + 2, len(words) + 1)]


def _needles(phrase: str, user_ids: set[str]) -> list[str]:
    """Every secret text: the token, the phrase and its runs, each user's nsec and hex secret key."""
    keys = [KeyDeriver(Secret(phrase)).for_user(uid) for uid in sorted(user_ids)]
    return [TOKEN, *_word_runs(phrase), *(k.nsec() for k in keys), *(k.secret.reveal() for k in keys)]


def _leaks(texts: dict[str, str], needles: list[str]) -> list[str]:
    found = [f"{where}: {n[:8]}…" for where, text in texts.items() for n in needles if n in text]
    found += [f"{where}: nsec" for where, text in texts.items() if _NSEC.search(text)]
    return found


def test_no_secret_from_daemon_keys_archive_and_error_paths(
    x_api: FakeXApi, sdk_relay: str, phrase: str, mnemonic_file: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    base = ["-vv", "--log-format", "json", "-d", str(data), "--twitter-api-url", x_api.url]
    keyed = [*base, "--mnemonic-file", str(mnemonic_file)]
    env = clean_env(TWITTER_BEARER_TOKEN=TOKEN)
    outputs: dict[str, str] = {}

    def run(
        args: list[str], code: int = 0, run_env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = nostrweet(*args, cwd=tmp_path, env=run_env or env)
        assert proc.returncode == code, (args, proc.stderr[-2000:])
        outputs[f"run {len(outputs) // 2} (stdout)"] = proc.stdout
        outputs[f"run {len(outputs) // 2} (stderr)"] = proc.stderr
        for line in proc.stderr.splitlines():
            json.loads(line)  # JSON logs stay one object per line, even at -vv and on errors
        return proc

    run([*base, "fetch-tweet", TWEET])
    run([*base, "user-tweets", "PhillyNEFL", "--count", "3"])
    run([*base, "fetch-profile", "PhillyNEFL"])
    run([*base, "list-tweets"])
    run([*keyed, "keys", "910384352282005505"])
    # a fixed key file for one user (config [users.<name>] key_file): keys shows its npub, never the key
    fixed = random_key("2351222345")
    key_file = tmp_path / "phillynefl.key"
    key_file.write_text(fixed.nsec() + "\n")
    config = tmp_path / "nostrweet.toml"
    config.write_text(f'[users.phillynefl]\nkey_file = "{key_file}"\n')
    assert fixed.npub in run([*keyed, "-c", str(config), "keys", "@phillynefl"]).stdout
    run([*keyed, "show-tweet", TWEET])
    # error paths: a token the API refuses (401), a bad mnemonic (flag, env and file), a dead relay
    wrong_token = run([*base, "--bearer-token", TOKEN + "x", "fetch-tweet", "20"], 1, clean_env())
    bad = phrase.split()
    bad[4] = "notaword"
    bad_phrase = " ".join(bad)
    bad_word = run([*base, "-m", bad_phrase, "keys", "1"], 2)
    run([*base, "keys", "1"], 2, clean_env(NOSTRWEET_MNEMONIC=bad_phrase))
    bip39 = Mnemonic("english")
    words = phrase.split()
    no_sum = next(c for w in bip39.wordlist if not bip39.check(c := " ".join([*words[:-1], w])))
    bad_file = tmp_path / "bad-mnemonic.txt"
    bad_file.write_text(no_sum + "\n")
    bad_sum = run([*base, "--mnemonic-file", str(bad_file), "show-tweet", TWEET], 2)
    broken_key = tmp_path / "broken.key"
    broken_key.write_text(fixed.nsec()[:-1] + ("q" if fixed.nsec()[-1] != "q" else "p") + "\n")
    broken = tmp_path / "broken.toml"
    broken.write_text(f'[users.phillynefl]\nkey_file = "{broken_key}"\n')
    run([*keyed, "-c", str(broken), "keys", "PhillyNEFL"], 2)

    # the daemon: let it poll and publish, with a stats record every second, then SIGTERM
    daemon_args = [
        *keyed,
        "-c",
        str(config),
        "daemon",
        "-u",
        "@PhillyNEFL",
        "-r",
        sdk_relay,
        "--stats-interval",
        "1",
    ]
    daemon_args += ["--backfill", "3"]
    log = tmp_path / "daemon.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "nostrweet", *daemon_args], stdout=sink, stderr=sink, cwd=tmp_path, env=env
        )
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                stats = [json.loads(x) for x in log.read_text().splitlines() if '"stats"' in x]
                if any(s["totals"]["polls"] >= 1 for s in stats):
                    break
                time.sleep(0.3)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    daemon_log = log.read_text()
    daemon_records = [json.loads(line) for line in daemon_log.splitlines()]
    assert any(r.get("event") == "stats" and r["totals"]["polls"] >= 1 for r in daemon_records)
    assert any(r["level"] == "debug" for r in daemon_records)  # -vv reached the daemon
    outputs["daemon (stdout+stderr)"] = daemon_log

    # the bad-mnemonic errors say what is wrong without echoing any of it
    assert "5th" in json.loads(bad_word.stderr.splitlines()[-1])["message"]
    assert "checksum" in json.loads(bad_sum.stderr.splitlines()[-1])["message"]
    assert "401" in json.loads(wrong_token.stderr.splitlines()[-1])["message"]

    files = {
        str(p.relative_to(data)): p.read_bytes().decode("utf-8", "replace")
        for p in data.rglob("*")
        if p.is_file()
    }
    assert "nostrweet.sqlite3" in files and len(files) > 10  # the state (records) is scanned too
    user_ids = {m for text in files.values() for m in re.findall(r'"author_id": ?"(\d+)"', text)}
    user_ids |= {"2351222345", "910384352282005505", "1"}
    needles = _needles(phrase, user_ids) + _word_runs(bad_phrase) + _word_runs(no_sum)
    needles += [fixed.nsec(), fixed.secret.reveal(), broken_key.read_text().strip()]
    assert _leaks(outputs, needles) == []
    assert _leaks(files, needles) == []
    # the scan would find them: a probe with one derived nsec and a run of two words
    probe = {"probe": f"{_needles(phrase, {'1'})[-2]} and {' '.join(phrase.split()[3:5])}"}
    assert len(_leaks(probe, needles)) >= 3
