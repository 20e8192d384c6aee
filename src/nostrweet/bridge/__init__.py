"""The pure conversion core: cached tweet documents and profiles → Nostr events."""
