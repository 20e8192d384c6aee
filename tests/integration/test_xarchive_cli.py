"""End to end: `import-archive` of an X archive with the real CLI, then `post-user-to-nostr` to a real relay."""

from __future__ import annotations

import hashlib
import os
import pty
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from nostrweet.nostr.event import SignedEvent
from tests.fakes import x_archive_builder as xb
from tests.integration.publish_helpers import Cli, make_cli, query

pytestmark = pytest.mark.integration


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def by_tweet(events: list[SignedEvent]) -> dict[str, SignedEvent]:
    out = {}
    for event in events:
        for tag in event.tags:
            if tag[0] == "r" and "/status/" in tag[1]:
                out[tag[1].rsplit("/", 1)[1]] = event
    return out


@pytest.mark.parametrize("zipped", [True, False])
def test_import_then_publish_to_a_relay(zipped: bool, sdk_relay: str, tmp_path: Path) -> None:
    cli = make_cli(tmp_path)  # no bearer token: the import needs none
    arc = xb.standard_archive()
    path = (
        arc.write_zip(tmp_path / "x.zip", top="twitter-archive/")
        if zipped
        else arc.write_folder(tmp_path / "x")
    )
    proc = cli.run("import-archive", str(path))
    assert proc.stdout.strip() == (
        "@ArchiveOwner: 8 imported, 0 already cached, 1 skipped (1 retweet without original); "
        "2 media file(s) copied, 1 missing from the archive"
    )
    again = cli.run("import-archive", str(path))
    assert "0 imported, 8 already cached" in again.stdout

    out = cli.run("post-user-to-nostr", xb.USERNAME, "-r", sdk_relay).stdout
    assert "0 reached no relay" in out
    events = by_tweet([e for e in query(cli, sdk_relay, kinds=(1, 6)) if e.kind == 1])
    assert set(events) == {
        xb.ROOT,
        xb.REPLY,
        xb.QUOTE,
        xb.LONG,
        xb.PHOTO,
        xb.VIDEO,
        xb.REPLY_OTHER,
        xb.MISSING,
    }
    root, reply, quote = events[xb.ROOT], events[xb.REPLY], events[xb.QUOTE]
    assert ("e", root.id, "", "root", root.pubkey) in reply.tags
    assert ("q", root.id, "", root.pubkey) in quote.tags
    assert root.created_at == 1771578600  # 2026-02-20T09:10:00Z, the archive's date
    assert "Hello Nostr & friends #nostr https://example.com/hello" in root.content
    assert xb.NOTE_TEXT in events[xb.LONG].content
    [photo_imeta] = events[xb.PHOTO].tag_values("imeta")
    assert f"x {hashlib.sha256(xb.PHOTO_BYTES).hexdigest()}" in photo_imeta
    [video_imeta] = events[xb.VIDEO].tag_values("imeta")
    assert f"x {hashlib.sha256(xb.VIDEO_BYTES).hexdigest()}" in video_imeta
    assert not events[xb.MISSING].tag_values("imeta")
    for event in events.values():
        assert "https://t.co/" not in event.content


def bad_archives(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    not_zip = tmp_path / "not.zip"
    not_zip.write_text("hello")
    no_tweets = xb.Archive()
    no_tweets.part("data/account.js", "account.part0", xb.account_entries())
    bad_part = xb.standard_archive()
    bad_part.files["data/tweets.js"] = b"window.YTD.tweets.part0 = [{oops"
    evil = xb.standard_archive().write_zip(tmp_path / "evil.zip")
    with zipfile.ZipFile(evil, "a") as z:
        z.writestr("data/../../escaped.txt", b"x")
    return {
        "not a zip": (not_zip, "is not a zip file"),
        "missing tweets file": (no_tweets.write_zip(tmp_path / "nt.zip"), "no data/tweets.js"),
        "bad part": (bad_part.write_zip(tmp_path / "bp.zip"), "bad archive part data/tweets.js: not JSON"),
        "unsafe name": (evil, "is unsafe ('..' in its name)"),
    }


@pytest.mark.parametrize("case", ["not a zip", "missing tweets file", "bad part", "unsafe name"])
def test_bad_archive_exits_2_in_one_line_and_writes_nothing_outside_the_data_dir(
    case: str, tmp_path: Path
) -> None:
    cli: Cli = make_cli(tmp_path)
    cli.data_dir.rmdir()
    path, message = bad_archives(tmp_path)[case]
    before = tree(tmp_path)
    proc = cli.run("import-archive", str(path), check=False)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and cli.mnemonic not in proc.stderr + proc.stdout
    after = tree(tmp_path)
    outside = {p for p in after - before if not p.startswith("data")}
    assert not outside
    if case != "bad part":  # refused before anything is written: not even the data dir
        assert after == before


def test_progress_bar_shows_on_a_terminal_and_not_when_piped(tmp_path: Path) -> None:
    path = xb.standard_archive().write_zip(tmp_path / "x.zip")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOSTRWEET_", "TWITTER_"))}
    env["COLUMNS"] = "100"
    outputs = []
    for terminal in (True, False):
        data = tmp_path / f"data-{terminal}"
        cmd = [sys.executable, "-m", "nostrweet", "-d", str(data), "import-archive", str(path)]
        if terminal:
            leader, follower = pty.openpty()
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=follower, env=env, timeout=120)
            os.close(follower)
            chunks = []
            while True:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            os.close(leader)
            err = b"".join(chunks).decode(errors="replace")
        else:
            proc = subprocess.run(cmd, capture_output=True, env=env, timeout=120)
            err = proc.stderr.decode()
        assert proc.returncode == 0
        assert b"8 imported" in proc.stdout
        outputs.append(err)
    on_terminal, piped = outputs
    assert "import" in on_terminal and "━" in on_terminal, on_terminal
    assert "━" not in piped
