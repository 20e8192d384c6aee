"""A local Nostr relay for trying nostrweet by hand: nostr-sdk's built-in relay, as the tests use it.

    python -m tests.fakes.relay --port 7777     # prints ws://127.0.0.1:7777, runs until Ctrl-C

Events are kept in memory only, so a restart starts empty. Not for production use.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time

from tests.fakes.relay_fixtures import SdkRelay


def _main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a local Nostr relay (in memory) in the foreground.")
    parser.add_argument("--port", type=int, default=7777, help="port on 127.0.0.1 (0: any free one)")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be 0..65535, not {args.port}")
    relay = SdkRelay(port=args.port or None)
    try:
        relay.start()
    except Exception as exc:  # nostr-sdk raises its own error types for a port in use
        relay.close()
        reason = str(exc).strip("'\"")
        print(f"error: cannot start a relay on 127.0.0.1:{relay.port}: {reason}", file=sys.stderr)
        raise SystemExit(1) from None
    try:
        with contextlib.suppress(KeyboardInterrupt):
            print(f"local relay listening on {relay.url}  (in memory; Ctrl-C stops it)", flush=True)
            while True:
                time.sleep(3600)
    finally:
        relay.close()


if __name__ == "__main__":
    _main()
