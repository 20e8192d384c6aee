"""Nostr protocol pieces: keys, events, relay answers, and the relay and Blossom I/O shells."""
