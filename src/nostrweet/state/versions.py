"""What a state records about itself, named without SQLAlchemy: the schema version this code knows and
the ``meta`` keys of the one-time imports (``state.opening``)."""

from __future__ import annotations

LATEST = 4
"""The schema version this code knows: ``state.migrations.STEPS`` has this many steps (checked there)."""

SCHEMA_VERSION_TABLE = "schema_version"
"""The one-row table that holds the version a database is at."""

FILES_IMPORTED = "imported_files"
"""``meta`` key: the data directory's files (the file layout's state) were brought in."""

LEGACY_IMPORTED = "imported_legacy"
"""``meta`` key: the earlier Rust nostrweet's files were made known (SPEC §11)."""
