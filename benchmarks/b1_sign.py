"""B1: convert + sign cached tweets, against bare signing with the same library in the same process.

Ours, per tweet, what the publisher does: read the cached file (the store's reader,
``cache.atomic.read_entry``), decode it straight into the typed tweet document (msgspec), load the
pubkeys the build needs into a plain mapping (``bridge.context.needed_users``), build the kind 1 with
``bridge.events.build_tweet_event``, and sign it with ``nostr.event.sign_event`` under the author's
mirror key (keys come from one ``KeyDeriver``; a warm-up round derives them, as a running process
has). As the publisher's ``TweetBuilder.prepare_group`` does, ``SIGN_GROUP`` tweets are built, then
their events signed one after another.

The limit: the same number of the same events, prepared (unsigned, keys already loaded), signed the
bare NIP-01 way with coincurve, the library ``sign_event`` uses: compact JSON serialization, SHA-256,
BIP-340 sign. Rates are events per second of this process's CPU time (both run on one thread and
never wait; on a shared machine wall time measures the other processes too); the figure is our rate
over the bare rate. The same pair timed on the wall clock is in the details (``wall_figure``).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.harness import Row, median_pair, not_measured
from nostrweet.settings import Secret
from nostrweet.store import build_index

if TYPE_CHECKING:
    from benchmarks.__main__ import Context

# NIP-06's first test vector mnemonic: a public phrase, fine for a benchmark.
BENCH_MNEMONIC = "leader monkey parrot ring guide accident before fence cannon height naive bean"
WHAT = "convert + sign cached tweets"


def tweet_files(data: Path, count: int) -> list[Path]:
    """Up to ``count`` tweet files of the cache, spread over its users (round robin by user)."""
    index = build_index(data)
    names = sorted(index.tweets.values())
    step = max(1, len(names) // count)
    return [data / name for name in names[::step][:count]]


def run_b1(ctx: Context) -> list[Row]:
    """Measure B1 on the B6 middle cache (or the smoke cache)."""
    try:
        import coincurve

        from nostrweet.bridge.context import BuildContext, needed_users
        from nostrweet.bridge.events import build_tweet_event
        from nostrweet.cache.atomic import read_entry
        from nostrweet.nostr.event import UnsignedEvent, sign_event
        from nostrweet.nostr.keys import KeyDeriver
        from nostrweet.publish.building import SIGN_GROUP
        from nostrweet.twitter.models import decode_document
    except ImportError as exc:
        return [not_measured("B1", WHAT, f"{exc.name} has not landed")]

    spec = ctx.sizes.b6[1]
    root, _ = ctx.cache(spec)
    files = tweet_files(root / "data", ctx.sizes.b1_tweets)
    deriver = KeyDeriver(Secret(BENCH_MNEMONIC))

    def convert_and_sign() -> list[Any]:
        out = []
        for start in range(0, len(files), SIGN_GROUP):  # built, then signed in a row, as the publisher
            built = []
            for path in files[start : start + SIGN_GROUP]:
                data = read_entry(path)
                assert data is not None
                doc = decode_document(data)
                ctx = BuildContext(
                    pubkeys={uid: deriver.for_user(uid).pubkey_hex for uid in needed_users(doc)}
                )
                built.append((build_tweet_event(doc, ctx), deriver.for_user(doc.data.author_id or "")))
            out.extend(sign_event(unsigned, key) for unsigned, key in built)
        return out

    try:
        signed = convert_and_sign()
    except NotImplementedError:
        return [not_measured("B1", WHAT, "bridge.events.build_tweet_event is still a stub")]

    prepared: list[tuple[UnsignedEvent, coincurve.PrivateKey]] = []
    keys: dict[str, coincurve.PrivateKey] = {}
    for path, event in zip(files, signed, strict=True):
        author = decode_document(path.read_bytes()).data.author_id or ""
        key = keys.get(author)
        if key is None:
            key = keys[author] = coincurve.PrivateKey(deriver.for_user(author).secret_bytes())
        prepared.append((event.unsigned(), key))

    def bare_sign() -> list[str]:
        sigs = []
        for ev, key in prepared:
            serial = json.dumps(
                [0, ev.pubkey, ev.created_at, ev.kind, ev.tags, ev.content],
                separators=(",", ":"),
                ensure_ascii=False,
            ).encode()
            digest = hashlib.sha256(serial).digest()
            sigs.append(key.sign_schnorr(digest, b"\x00" * 32).hex())
        return sigs

    # the bare path must give the same ids and signatures, or it is not the same work
    bare_sigs = bare_sign()
    if bare_sigs != [e.sig for e in signed]:
        return [not_measured("B1", WHAT, "bare signing does not reproduce sign_event's signatures")]
    n = len(files)
    # CPU time of this process: both sides run on one thread and never wait (the files are in the page
    # cache after the warm-up round), so CPU time is their cost; wall time is kept beside it.
    ours_s, bare_s, ours_all, bare_all = median_pair(
        convert_and_sign, bare_sign, 2 * ctx.sizes.reps - 1, clock=time.process_time
    )
    wall_ours, wall_bare, wall_ours_all, wall_bare_all = median_pair(
        convert_and_sign, bare_sign, ctx.sizes.reps
    )
    ours_rate = n / ours_s
    bare_rate = n / bare_s
    return [
        Row(
            id="B1",
            what=f"{WHAT} ({n:,} tweets)",
            unit="ev/s",
            ours=ours_rate,
            limit=bare_rate,
            limit_what="bare coincurve signing",
            figure=ours_rate / bare_rate,
            figure_what="of bare",
            op=">=",
            target=0.75,
            details={
                "events": n,
                "clock": "process CPU time",
                "ours_cpu_s": ours_all,
                "bare_cpu_s": bare_all,
                "wall_figure": (n / wall_ours) / (n / wall_bare),
                "ours_wall_s": wall_ours_all,
                "bare_wall_s": wall_bare_all,
            },
        )
    ]
