"""nostr package."""
