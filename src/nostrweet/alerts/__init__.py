"""Alerts (SPEC §9): a pure incident tracker, an Apprise sender that never blocks, the daemon's hook."""
