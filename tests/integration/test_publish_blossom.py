"""Blossom during publishing: upload to every server, one failing; links, fallbacks, kind 10063, memo."""

from __future__ import annotations

from pathlib import Path

import pytest

from nostrweet.nostr.event import SignedEvent
from tests.fakes.blossom_server import BlossomServer
from tests.fakes.x_api import FakeXApi
from tests.integration.publish_helpers import forget_records, make_cli, query, records

pytestmark = pytest.mark.integration

USER = "nostrweet_synth"  # the fake world's synthetic timeline: photo, video and GIF


def test_uploads_one_failing_server_links_and_blossom_list(
    sdk_relay: str, fake_x: FakeXApi, failing_blossom_server: BlossomServer, tmp_path: Path
) -> None:
    good1 = BlossomServer()
    good2 = BlossomServer()
    good1.start()
    good2.start()
    try:
        cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
        cli.run("user-tweets", USER, "--count", "20")
        media_files = [p for p in cli.data_dir.iterdir() if p.name.startswith(USER.lower() + "_")]
        assert media_files
        servers = [failing_blossom_server.url, good1.url, good2.url]
        args = ["post-user-to-nostr", USER, "-r", sdk_relay, *[a for s in servers for a in ("-b", s)]]
        cli.run(*args)

        assert failing_blossom_server.rejections  # it was asked, and failed
        assert len(good1.blobs) == len(good2.blobs) >= len({p.read_bytes() for p in media_files})
        for event in good1.auth_events:
            assert event.kind == 24242 and ("t", "upload") in event.tags
        events = query(cli, sdk_relay)
        notes = [e for e in events if e.kind == 1 and e.tag_values("imeta")]
        assert notes
        for note in notes:
            for imeta in note.tag_values("imeta"):
                fields = dict(part.split(" ", 1) for part in imeta[1:])
                url = fields["url"]
                assert url.startswith(good1.url + "/"), url  # the first server that succeeded
                assert url in note.content
                fallbacks = [part.split(" ", 1)[1] for part in imeta[1:] if part.startswith("fallback ")]
                assert fallbacks[0].startswith(good2.url + "/")
                assert fallbacks[-1].startswith(fake_x.url + "/media/")  # then the original
                assert not any(failing_blossom_server.url in f for f in fallbacks)
                assert fields["x"] in url
        lists = [e for e in events if e.kind == 10063]
        assert len(lists) == 1
        assert [t[1] for t in lists[0].tags if t[0] == "server"] == servers
        before = records(cli.data_dir)
        assert sum(1 for n in before if "_blossom_" in n) == 1

        # Forget every event record: the rebuild finds the uploads in the memo, uploads nothing
        # again, and gives the very same event ids (the relay holds them already).
        uploads = (len(good1.auth_events), len(good2.auth_events))
        forget_records(cli.data_dir)
        out = cli.run(*args).stdout
        assert (len(good1.auth_events), len(good2.auth_events)) == uploads
        after = records(cli.data_dir)
        tweet_ids = {r["event"]["id"] for n, r in before.items() if "_tweet_" in n}
        assert {r["event"]["id"] for n, r in after.items() if "_tweet_" in n} == tweet_ids
        assert " 0 published" in out  # the duplicate check found every tweet on the relay
        assert len([e for e in query(cli, sdk_relay) if e.kind == 10063]) == 1
    finally:
        good1.stop()
        good2.stop()


def test_all_uploads_failing_keep_original_urls(
    sdk_relay: str, fake_x: FakeXApi, failing_blossom_server: BlossomServer, tmp_path: Path
) -> None:
    cli = make_cli(tmp_path, fake_x.url, fake_x.bearer_token)
    cli.run("user-tweets", USER, "--count", "20")
    cli.run("post-user-to-nostr", USER, "-r", sdk_relay, "-b", failing_blossom_server.url)
    events = query(cli, sdk_relay)
    notes = [e for e in events if e.kind == 1 and e.tag_values("imeta")]
    assert notes
    for note in notes:
        for imeta in note.tag_values("imeta"):
            assert imeta[1].startswith("url " + fake_x.url + "/media/")
    assert not [e for e in events if e.kind == 10063]
    assert all(SignedEvent.from_dict(r["event"]).kind != 10063 for r in records(cli.data_dir).values())
