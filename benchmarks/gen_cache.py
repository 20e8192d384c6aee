"""Generate a synthetic nostrweet cache for the benchmarks (B1, B3, B5, B6).

The cache has the real file names of ``nostrweet.cache.layout`` and parseable contents:

- per user: one profile snapshot (the raw API user object), its tweets (tweet documents in the shape of
  docs/CACHE.md, with a mention, a hashtag, a t.co link and, for every fourth tweet, a photo), the media
  files of those tweets, a ``tweet_<id>.not_found`` marker every 50th tweet, and for every tweet an
  event record (a real BIP-340 signed kind 1, accepted by ``relay_url``) plus a profile and a relay-list
  record;
- users ``bench00000``, ``bench00001``, ... with numeric ids ``BASE_USER_ID + i``; tweet ids are
  snowflakes of their (increasing) created_at, so ids order like time, as on X.

The generator is deterministic for a given spec. It writes ``<root>/data`` (the data dir) and
``<root>/manifest.json`` (the spec and the exact counts, outside the data dir so the scan never sees
it). A finished cache is reused: ``ensure_cache`` regenerates only if the manifest is missing or differs.

Run it by hand: ``python -m benchmarks.gen_cache --files 100000 --users 1000 /tmp/some/dir``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import coincurve
import msgspec

from nostrweet.cache import layout
from nostrweet.cache.layout import EventSubject

GENERATOR_VERSION = 2
BASE_USER_ID = 10_000_000
TWITTER_EPOCH_MS = 1_288_834_974_657
DEFAULT_RELAY = "ws://127.0.0.1:47447"
START = datetime(2024, 1, 1, tzinfo=UTC)
MEDIA_EVERY = 4  # every 4th tweet has one photo
NOT_FOUND_EVERY = 50  # every 50th tweet id gets a not_found marker (of a referenced id)
PER_USER_FIXED = 3  # profile snapshot + profile record + relay-list record
# files per tweet: tweet + event record + 1/MEDIA_EVERY media + 1/NOT_FOUND_EVERY marker
FILES_PER_TWEET = 2 + 1 / MEDIA_EVERY + 1 / NOT_FOUND_EVERY
JPEG_BYTES = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 200 + b"\xff\xd9"

_ENCODER = msgspec.json.Encoder(order="deterministic")


@dataclass(frozen=True)
class CacheSpec:
    """What to generate: about ``files`` files across ``users`` users."""

    files: int
    users: int
    relay_url: str = DEFAULT_RELAY
    version: int = GENERATOR_VERSION
    records: bool = True  # False: no event records (a cache that was archived but never published)

    def tweets_per_user(self) -> int:
        """Tweets per user so that the total file count comes close to ``files``."""
        per_user = self.files / self.users
        if not self.records:
            return max(1, round((per_user - 1) / (FILES_PER_TWEET - 1)))
        return max(1, round((per_user - PER_USER_FIXED) / FILES_PER_TWEET))


@dataclass
class Manifest:
    """The spec and what was written, counted while writing."""

    spec: CacheSpec
    files: int = 0
    tweets: int = 0
    media: int = 0
    not_found: int = 0
    profiles: int = 0
    tweet_events: int = 0
    user_events: int = 0
    seconds: float = 0.0
    newest: dict[str, int] = field(default_factory=dict)  # username -> newest tweet id

    def to_json(self) -> str:
        """The manifest as JSON text."""
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Read a manifest written by :meth:`to_json`."""
        raw = json.loads(text)
        raw["spec"] = CacheSpec(**raw["spec"])
        return cls(**raw)


def username_of(i: int) -> str:
    """The username of synthetic user ``i``."""
    return f"bench{i:05d}"


def user_id_of(i: int) -> int:
    """The numeric id of synthetic user ``i``."""
    return BASE_USER_ID + i


def snowflake(moment: datetime, worker: int, seq: int) -> int:
    """An X-style snowflake id for ``moment``."""
    ms = int(moment.timestamp() * 1000)
    return ((ms - TWITTER_EPOCH_MS) << 22) | ((worker % 1024) << 12) | (seq % 4096)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def user_object(i: int) -> dict[str, Any]:
    """The raw API user object of synthetic user ``i``."""
    name = username_of(i)
    return {
        "id": str(user_id_of(i)),
        "username": name.capitalize(),
        "name": f"Bench User {i}",
        "description": f"Synthetic account {i} for the nostrweet benchmarks #bench",
        "profile_image_url": f"https://pbs.twimg.com/profile_images/{user_id_of(i)}/pic_normal.jpg",
        "created_at": "2015-06-01T12:00:00.000Z",
        "protected": False,
    }


def tweet_document(i: int, n: int, tweet_id: int, created: datetime, users: int) -> dict[str, Any]:
    """A cached tweet document for tweet ``n`` of user ``i`` (docs/CACHE.md shape)."""
    friend = (i + 1) % users
    friend_name = username_of(friend).capitalize()
    tag = f"bench{n % 7}"
    link = f"https://t.co/b{tweet_id % 100000000:08d}"
    head = f"Tweet {n} of a synthetic timeline, hello @{friend_name} &amp; friends #{tag} "
    text = head + link
    mention_start = head.index("@")
    tag_start = head.index("#")
    urls: list[dict[str, Any]] = [
        {
            "start": len(head),
            "end": len(text),
            "url": link,
            "expanded_url": f"https://example.com/articles/{tweet_id}",
            "display_url": f"example.com/articles/{tweet_id}",
        }
    ]
    data: dict[str, Any] = {
        "id": str(tweet_id),
        "text": text,
        "author_id": str(user_id_of(i)),
        "created_at": _iso(created),
        "conversation_id": str(tweet_id),
        "edit_history_tweet_ids": [str(tweet_id)],
        "lang": "en",
        "entities": {
            "mentions": [
                {
                    "start": mention_start,
                    "end": mention_start + 1 + len(friend_name),
                    "username": friend_name,
                    "id": str(user_id_of(friend)),
                }
            ],
            "hashtags": [{"start": tag_start, "end": tag_start + 1 + len(tag), "tag": tag}],
            "urls": urls,
        },
    }
    includes: dict[str, Any] = {"users": [user_object(i), user_object(friend)]}
    if n % MEDIA_EVERY == 0:
        key = f"3_{tweet_id}"
        media_link = f"https://t.co/m{tweet_id % 100000000:08d}"
        data["text"] = text + " " + media_link
        urls.append(
            {
                "start": len(text) + 1,
                "end": len(text) + 1 + len(media_link),
                "url": media_link,
                "expanded_url": f"https://x.com/{username_of(i)}/status/{tweet_id}/photo/1",
                "display_url": "pic.x.com/bench",
                "media_key": key,
            }
        )
        data["attachments"] = {"media_keys": [key]}
        includes["media"] = [
            {
                "media_key": key,
                "type": "photo",
                "url": f"https://pbs.twimg.com/media/B{tweet_id}.jpg",
                "width": 1200,
                "height": 800,
            }
        ]
    return {
        "data": data,
        "includes": includes,
        "nostrweet": {"format": 1, "fetched_at": _iso(created + timedelta(minutes=5))},
    }


def user_secret(i: int) -> bytes:
    """A deterministic signing key for the generator's event records (not a mirror key)."""
    return hashlib.sha256(f"nostrweet-bench-user-{i}".encode()).digest()


def signed_event(
    key: coincurve.PrivateKey, pubkey: str, created_at: int, kind: int, tags: list[list[str]], content: str
) -> dict[str, Any]:
    """A NIP-01 event signed with BIP-340."""
    serial = json.dumps(
        [0, pubkey, created_at, kind, tags, content], separators=(",", ":"), ensure_ascii=False
    )
    event_id = hashlib.sha256(serial.encode()).digest()
    sig = key.sign_schnorr(event_id)
    return {
        "id": event_id.hex(),
        "pubkey": pubkey,
        "created_at": created_at,
        "kind": kind,
        "tags": tags,
        "content": content,
        "sig": sig.hex(),
    }


def record(event: dict[str, Any], relay_url: str, tweet_id: int | None, now: int) -> dict[str, Any]:
    """An event record (publish/records.py shape) with the relay accepted."""
    out: dict[str, Any] = {
        "event": event,
        "relays": {
            relay_url: {
                "status": "accepted",
                "message": "",
                "attempts": 1,
                "next_attempt": None,
                "updated_at": now,
            }
        },
        "format": 1,
    }
    if tweet_id is not None:
        out["tweet_id"] = str(tweet_id)
    return out


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)


def _encode(value: Any) -> bytes:
    return msgspec.json.format(_ENCODER.encode(value), indent=2) + b"\n"


def _user_files(spec: CacheSpec, i: int, manifest: Manifest) -> Iterator[tuple[Path | str, bytes]]:
    """Yield (relative name, bytes) for everything of user ``i``; names under nostr_events/ carry the dir."""
    name = username_of(i)
    uid = user_id_of(i)
    key = coincurve.PrivateKey(user_secret(i))
    pubkey = key.public_key_xonly.format().hex()
    fetched = START + timedelta(days=400, seconds=i)
    now = int(fetched.timestamp())
    yield layout.profile_filename(fetched, name), _encode(user_object(i))
    manifest.profiles += 1
    records = spec.records
    profile_event = signed_event(key, pubkey, now, 0, [["proxy", f"https://x.com/{name}", "web"]], "{}")
    relays_event = signed_event(key, pubkey, now, 10002, [["r", spec.relay_url]], "")
    if records:
        yield (
            f"{layout.EVENTS_DIR}/{layout.event_filename(profile_event['id'], EventSubject.PROFILE, uid)}",
            _encode(record(profile_event, spec.relay_url, None, now)),
        )
        yield (
            f"{layout.EVENTS_DIR}/{layout.event_filename(relays_event['id'], EventSubject.RELAYS, uid)}",
            _encode(record(relays_event, spec.relay_url, None, now)),
        )
        manifest.user_events += 2
    count = spec.tweets_per_user()
    newest = 0
    for n in range(count):
        created = START + timedelta(hours=n * 6, seconds=i * 7)
        tweet_id = snowflake(created, i, n)
        newest = max(newest, tweet_id)
        doc = tweet_document(i, n, tweet_id, created, spec.users)
        yield layout.tweet_filename(created, name, tweet_id), _encode(doc)
        manifest.tweets += 1
        if n % MEDIA_EVERY == 0:
            yield layout.media_filename(name, tweet_id, 0, "jpg"), JPEG_BYTES
            manifest.media += 1
        if n % NOT_FOUND_EVERY == 0:
            yield layout.not_found_filename(tweet_id - 1), b""
            manifest.not_found += 1
        if not records:
            continue
        url = f"https://x.com/i/status/{tweet_id}"
        tags = [["proxy", url, "web"], ["r", url], ["client", "nostrweet"]]
        event = signed_event(key, pubkey, int(created.timestamp()), 1, tags, doc["data"]["text"])
        yield (
            f"{layout.EVENTS_DIR}/{layout.event_filename(event['id'], EventSubject.TWEET, tweet_id)}",
            _encode(record(event, spec.relay_url, tweet_id, now)),
        )
        manifest.tweet_events += 1
    manifest.newest[name] = newest


def generate(root: Path, spec: CacheSpec, *, progress: bool = False) -> Manifest:
    """Write a fresh cache for ``spec`` under ``root`` (``root/data`` + ``root/manifest.json``)."""
    started = time.perf_counter()
    if root.exists():
        shutil.rmtree(root)
    data = root / "data"
    (data / layout.EVENTS_DIR).mkdir(parents=True)
    manifest = Manifest(spec=spec)
    for i in range(spec.users):
        for rel, payload in _user_files(spec, i, manifest):
            _write(data / rel, payload)
            manifest.files += 1
        if progress and (i + 1) % max(1, spec.users // 20) == 0:
            print(f"  gen {root.name}: {i + 1}/{spec.users} users, {manifest.files} files", file=sys.stderr)
    if spec.records:
        write_relay_marker(data, spec)
    manifest.seconds = round(time.perf_counter() - started, 2)
    (root / "manifest.json").write_text(manifest.to_json())
    return manifest


RECONCILED_FILE = "relays.json"
"""The file layout's ``nostr_events/relays.json``: the relays the settled records were reconciled against."""


def write_relay_marker(data: Path, spec: CacheSpec) -> None:
    """Write ``nostr_events/relays.json`` as the file layout did for a settled cache (every record is
    accepted by ``spec.relay_url``, so scope ``*`` lists it). The generator writes that older layout, the
    one a first start imports into the state."""
    events = data / layout.EVENTS_DIR
    events.mkdir(parents=True, exist_ok=True)
    doc = {"format": 1, "scopes": {"*": [spec.relay_url]}}
    _write(events / RECONCILED_FILE, _encode(doc))


def load_manifest(root: Path) -> Manifest | None:
    """The manifest of a finished cache under ``root``, or None."""
    try:
        return Manifest.from_json((root / "manifest.json").read_text())
    except (FileNotFoundError, ValueError, TypeError, KeyError):
        return None


def ensure_cache(root: Path, spec: CacheSpec, *, progress: bool = False) -> Manifest:
    """Reuse the cache under ``root`` if it was generated for ``spec``; generate it otherwise."""
    found = load_manifest(root)
    if found is not None and found.spec == spec and (root / "data").is_dir():
        if spec.records and not (root / "data" / layout.EVENTS_DIR / RECONCILED_FILE).exists():
            write_relay_marker(root / "data", spec)  # a cache generated before the marker existed
        return found
    return generate(root, spec, progress=progress)


def default_root(base: Path, spec: CacheSpec) -> Path:
    """Where a cache for ``spec`` lives under ``base``."""
    suffix = "" if spec.records else "-norec"
    return base / f"cache-{spec.files}-{spec.users}-v{spec.version}{suffix}"


def main(argv: list[str] | None = None) -> int:
    """Command line: generate (or reuse) one cache."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("root", type=Path, help="directory to write (data/ and manifest.json)")
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--relay-url", default=DEFAULT_RELAY)
    parser.add_argument("--force", action="store_true", help="regenerate even if a matching cache exists")
    args = parser.parse_args(argv)
    spec = CacheSpec(args.files, args.users, args.relay_url)
    if args.force:
        manifest = generate(args.root, spec, progress=True)
    else:
        manifest = ensure_cache(args.root, spec, progress=True)
    print(f"{args.root}: {manifest.files} files, {manifest.tweets} tweets, {spec.users} users")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
