"""Webhooks (SPEC §12): signed JSON POSTs about tweets and users, queued in the state, retried with backoff."""
