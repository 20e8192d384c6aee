"""A fresh copy of the repository, with nothing beside it, runs its own fake X API and the CLI.

The copy holds only what git tracks (plus new, not ignored files), in a temporary directory whose parent
has no `shared`; the copy's own `src` and `tests` come first on PYTHONPATH, so nothing outside it is read.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.integration

_SKIP_DIRS = {".git", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", "downloads"}


def _repo_files(root: Path) -> list[str]:
    """The files a clone would have: tracked ones and new ones git does not ignore."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return [
            str(p.relative_to(root))
            for p in root.rglob("*")
            if p.is_file()
            and not any(part in _SKIP_DIRS or part.startswith(".venv") for part in p.relative_to(root).parts)
        ]
    return [name for name in out.decode().split("\0") if name]


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A copy of the repository in tmp_path/clone; tmp_path has no `shared` directory."""
    copy = tmp_path / "clone"
    for name in _repo_files(REPO_ROOT):
        src = REPO_ROOT / name
        if not src.is_file():  # deleted in the worktree but still tracked
            continue
        dest = copy / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)
    assert not (tmp_path / "shared").exists()
    return copy


def _env(copy: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("NOSTRWEET_", "TWITTER_", "PYTHON")) and k != "VIRTUAL_ENV"
    }
    env["PYTHONPATH"] = f"{copy / 'src'}{os.pathsep}{copy}"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _python(copy: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=copy, env=_env(copy), capture_output=True, text=True, timeout=timeout
    )


@contextlib.contextmanager
def _serve(copy: Path, module: str, pattern: str) -> Iterator[str]:
    """`python -m <module> --port 0` run from the copy; yields the URL its first lines announce."""
    proc = subprocess.Popen(
        [sys.executable, "-m", module, "--port", "0"],
        cwd=copy,
        env=_env(copy),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + 60
        url = ""
        while not url and time.monotonic() < deadline and proc.poll() is None:
            if sel.select(timeout=1):
                match = re.search(pattern, proc.stdout.readline())
                url = match.group(1) if match else ""
        assert url, f"{module} did not start: {proc.stderr.read() if proc.poll() is not None else ''}"
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def fake_x_in_clone(clone: Path) -> Iterator[str]:
    """The copy's fake X API; yields its http:// URL."""
    with _serve(clone, "tests.fakes.x_api", r"listening on (http://\S+)") as url:
        yield url


@pytest.fixture
def relay_in_clone(clone: Path) -> Iterator[str]:
    """The copy's local relay (`python -m tests.fakes.relay`); yields its ws:// URL."""
    with _serve(clone, "tests.fakes.relay", r"listening on (ws://\S+)") as url:
        yield url


def test_the_copy_imports_its_own_code(clone: Path) -> None:
    out = _python(
        clone, "-c", "import nostrweet, tests.data; print(nostrweet.__file__); print(tests.data.__file__)"
    )
    assert out.returncode == 0, out.stderr
    for line in out.stdout.split():
        assert Path(line).is_relative_to(clone), line


def test_cli_archives_from_the_copys_fake_x_api(clone: Path, fake_x_in_clone: str) -> None:
    data = clone.parent / "data"
    out = _python(
        clone,
        "-m",
        "nostrweet",
        "-d",
        str(data),
        "--twitter-api-url",
        fake_x_in_clone,
        "--bearer-token",
        "test-bearer-token",
        "user-tweets",
        "PhillyNEFL",
        "--count",
        "20",
    )
    assert out.returncode == 0, out.stderr
    cached = [p for p in data.glob("*_phillynefl_*.json") if re.search(r"_\d+\.json$", p.name)]
    assert len(cached) >= 20, (sorted(p.name for p in data.iterdir()), out.stderr)


def test_fake_x_api_refuses_to_start_without_its_data(clone: Path) -> None:
    shutil.rmtree(clone / "tests" / "data" / "twitter-api" / "fixtures")
    out = _python(clone, "-m", "tests.fakes.x_api", "--port", "0", timeout=60)
    assert out.returncode == 1
    assert "listening" not in out.stdout
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "recorded world is missing" in lines[0]
    assert "Traceback" not in out.stderr


def test_archive_publish_and_read_back_from_the_copy(
    clone: Path, fake_x_in_clone: str, relay_in_clone: str
) -> None:
    """The README's try-it flow: archive from the fake X API, publish to the local relay, read back."""
    mnemonic = clone.parent / "mnemonic"
    mnemonic.write_text("abandon " * 11 + "about\n")
    mnemonic.chmod(0o600)
    data = clone.parent / "data"
    common = ["-m", "nostrweet", "-d", str(data), "--mnemonic-file", str(mnemonic)]
    x_api = ["--twitter-api-url", fake_x_in_clone, "--bearer-token", "test-bearer-token"]
    archived = _python(clone, *common, *x_api, "user-tweets", "PhillyNEFL", "--count", "5")
    assert archived.returncode == 0, archived.stderr
    published = _python(clone, *common, "post-user-to-nostr", "PhillyNEFL", "-r", relay_in_clone)
    assert published.returncode == 0, published.stderr
    read = _python(
        clone, *common, "utils", "query-events", "-r", relay_in_clone, "--format", "json", "--limit", "50"
    )
    assert read.returncode == 0, read.stderr
    events = [json.loads(line) for line in read.stdout.splitlines() if line.startswith("{")]
    status_tags = {t[1] for e in events for t in e["tags"] if t[0] == "r" and "/status/" in t[1]}
    assert len(status_tags) >= 5, read.stdout
