"""nostrweet: mirror Twitter/X accounts onto Nostr."""

__version__ = "0.1.0"
