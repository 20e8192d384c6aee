"""Cache → Nostr orchestration: event records, publishing, outbox, Blossom re-hosting."""
