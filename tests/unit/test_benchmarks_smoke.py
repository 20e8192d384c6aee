"""The benchmark suite's generator and harness (no timing assertions here: those live in benchmarks/)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from benchmarks.b3_index import ensure_state, startup_sample
from benchmarks.gen_cache import CacheSpec, ensure_cache, generate, load_manifest, username_of
from benchmarks.harness import Row, fit_exponent, not_measured, render_table, write_results
from hypothesis import given
from hypothesis import strategies as st

from nostrweet.cache import layout
from nostrweet.store import build_index
from nostrweet.twitter.models import decode_document
from tests.data.file_layout import RECONCILED_FILE, read_reconciled


@pytest.fixture(scope="module")
def small_cache(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    root = tmp_path_factory.mktemp("bench") / "cache"
    return root, generate(root, CacheSpec(files=600, users=6))


def test_every_generated_name_parses_as_exactly_one_kind(small_cache: tuple[Path, object]) -> None:
    root, _ = small_cache
    data = root / "data"
    parsers = [
        layout.parse_tweet_filename,
        layout.parse_profile_filename,
        layout.parse_media_filename,
        layout.parse_not_found_filename,
    ]
    for name in os.listdir(data):
        if name == layout.EVENTS_DIR:
            continue
        hits = [p.__name__ for p in parsers if p(name) is not None]
        assert len(hits) == 1, (name, hits)
    for name in os.listdir(data / layout.EVENTS_DIR):
        if name == RECONCILED_FILE:
            continue
        assert layout.parse_event_filename(name) is not None, name
    # the cache is settled for its relay: relays.json lists it in the scope every outbox reads
    assert read_reconciled(data / layout.EVENTS_DIR) == {"*": frozenset({CacheSpec(1, 1).relay_url})}


def test_index_counts_match_the_manifest(small_cache: tuple[Path, object]) -> None:
    root, _ = small_cache
    manifest = load_manifest(root)
    assert manifest is not None
    index = build_index(root / "data")
    assert len(index.tweets) == manifest.tweets
    assert len(index.media) == manifest.media
    assert len(index.not_found) == manifest.not_found
    assert len(index.tweet_records) == manifest.tweet_events  # one record per tweet
    assert index.event_count() == manifest.tweet_events + manifest.user_events
    assert sum(len(v) for v in index.user_events.values()) == manifest.user_events
    assert set(index.users) == {username_of(i) for i in range(6)}
    for name, entry in index.users.items():
        assert entry.newest_tweet_id == manifest.newest[name]
        assert entry.newest_profile is not None
    entries = len(os.listdir(root / "data")) + len(os.listdir(root / "data" / layout.EVENTS_DIR))
    assert entries == manifest.files + 2  # + the nostr_events directory, relays.json
    assert abs(manifest.files - 600) < 60


def test_tweet_documents_decode_and_entities_point_at_their_text(small_cache: tuple[Path, object]) -> None:
    root, _ = small_cache
    index = build_index(root / "data")
    for name in list(index.tweets.values())[:40]:
        doc = decode_document((root / "data" / name).read_bytes())
        text = doc.data.text
        assert doc.data.entities is not None
        for url in doc.data.entities.urls:
            assert text[url.start : url.end] == url.url
        for mention in doc.data.entities.mentions:
            assert text[mention.start : mention.end] == "@" + mention.username
        for key in doc.data.attachments.media_keys if doc.data.attachments else []:
            assert doc.media(key) is not None
        assert doc.author() is not None


def test_event_records_carry_valid_signed_events(small_cache: tuple[Path, object]) -> None:
    import hashlib

    import coincurve

    root, manifest = small_cache
    events = root / "data" / layout.EVENTS_DIR
    for name in sorted(os.listdir(events))[:20]:
        parsed = layout.parse_event_filename(name)
        assert parsed is not None
        record = json.loads((events / name).read_text())
        ev = record["event"]
        serial = json.dumps(
            [0, ev["pubkey"], ev["created_at"], ev["kind"], ev["tags"], ev["content"]],
            separators=(",", ":"),
            ensure_ascii=False,
        )
        assert hashlib.sha256(serial.encode()).hexdigest() == ev["id"] == parsed.event_id
        key = coincurve.PublicKeyXOnly(bytes.fromhex(ev["pubkey"]))
        assert key.verify(bytes.fromhex(ev["sig"]), bytes.fromhex(ev["id"]))
        assert record["relays"][manifest.spec.relay_url]["status"] == "accepted"


def test_ensure_cache_reuses_a_matching_cache_and_regenerates_another(tmp_path: Path) -> None:
    root = tmp_path / "c"
    first = ensure_cache(root, CacheSpec(files=100, users=2))
    marker = root / "data" / "marker"
    marker.write_text("x")
    again = ensure_cache(root, CacheSpec(files=100, users=2))
    assert again.files == first.files and marker.exists()
    relays = root / "data" / layout.EVENTS_DIR / RECONCILED_FILE
    relays.unlink()  # a cache generated before the marker: reused, and the marker is added
    ensure_cache(root, CacheSpec(files=100, users=2))
    assert relays.exists() and marker.exists()
    other = ensure_cache(root, CacheSpec(files=200, users=2))
    assert other.files > first.files and not marker.exists()


@given(
    k=st.floats(min_value=0.2, max_value=3.0),
    c=st.floats(min_value=1e-6, max_value=1e3),
    xs=st.lists(st.integers(min_value=10, max_value=10**7), min_size=2, max_size=5, unique=True),
)
def test_fit_exponent_recovers_a_power_law(k: float, c: float, xs: list[int]) -> None:
    ys = [c * x**k for x in xs]
    assert fit_exponent(xs, ys) == pytest.approx(k, rel=1e-6, abs=1e-9)


def test_rows_render_and_merge_into_the_json(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    met = Row(id="B3", what="idx", unit="s", ours=1.2, limit=1.0, figure=1.2, op="<=", target=1.5)
    missed = Row(id="B1", what="sign", unit="ev/s", ours=50, limit=100, figure=0.5, op=">=", target=0.6)
    assert met.met is True and missed.met is False
    gone = not_measured("B4", "cycle", "the daemon has not landed")
    assert gone.met is None
    table = render_table([met, missed, gone])
    assert "not measured: the daemon has not landed" in table and "| NO |" in table and "| yes |" in table
    write_results(out, [met, missed], mode="full", merge=False)
    write_results(out, [gone], mode="full", merge=True)
    doc = json.loads(out.read_text())
    assert [r["id"] for r in doc["rows"]] == ["B1", "B3", "B4"]
    assert doc["machine"]["cores"] == os.cpu_count()
    write_results(out, [gone], mode="full", merge=False)
    assert [r["id"] for r in json.loads(out.read_text())["rows"]] == ["B4"]


def test_startup_sample_reads_the_imported_state(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    manifest = generate(root, CacheSpec(files=300, users=3))
    assert ensure_state(root / "data") is not None  # imported once
    assert ensure_state(root / "data") is None
    user = username_of(1)
    sample = startup_sample(root / "data", user)
    assert sample["tweets_of_user"] == len(build_index(root / "data").tweet_ids_of(user)) > 0
    assert manifest.newest[user.lower()] > 0
    assert sample["after_kb"] >= sample["before_kb"] > 0
