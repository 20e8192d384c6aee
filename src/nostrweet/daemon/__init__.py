"""The long-running daemon: scheduling policy, per-user pipeline, stats, signals."""
