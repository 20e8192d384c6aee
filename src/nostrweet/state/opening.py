"""The state of one data directory, ready for a command: opened, migrated and, once, filled from files.

Every command and the daemon open the state through :func:`open_data_state`:

- the URL is ``--state-url`` (env ``NOSTRWEET_STATE_URL``, config ``[state] url``) or, by default, the
  SQLite file ``<data-dir>/nostrweet.sqlite3``;
- the first time a state meets a data directory written by the file layout (event records, daemon state,
  Blossom memo, the archive), :func:`~nostrweet.state.import_files.import_files` brings them in; later opens
  find its ``meta`` row and do nothing;
- the first time it meets a directory of the earlier Rust nostrweet,
  :func:`~nostrweet.state.import_legacy.import_legacy` makes its files known the same way, in place (SPEC
  §11; ``migrate`` runs the same import on demand);
- a command that only reads (``list-tweets``, ``show-tweet`` …) creates nothing: when the default SQLite
  file does not exist yet, it works on a state in memory, filled from the files the same way; when it
  exists, it is opened only to read (:func:`~nostrweet.state.engine.open_sqlite_read_only`).
"""

from __future__ import annotations

from pathlib import Path

from nostrweet.cache.atomic import make_private_dir
from nostrweet.state.engine import MEMORY, STATE_FILE, State, default_state, open_sqlite_read_only, open_state
from nostrweet.state.sql import in_list
from nostrweet.state.versions import FILES_IMPORTED, LEGACY_IMPORTED


def open_data_state(data_dir: Path, url: str | None, *, now: float, read_only: bool = False) -> State:
    """The state for ``data_dir`` (see the module docstring); the caller closes it."""
    data_dir = Path(data_dir)
    if url is None and read_only and (data_dir / STATE_FILE).is_file():
        return open_sqlite_read_only(data_dir / STATE_FILE)  # imported by the writer that created it
    if url is None and read_only:
        state = open_state(MEMORY)
    else:
        if url is None:
            make_private_dir(data_dir)
        state = open_state(url or default_state(data_dir))
    try:
        done = _imports_done(state)
        if FILES_IMPORTED not in done:  # (the importers are loaded only for a first open)
            from nostrweet.state.import_files import import_files

            import_files(state, data_dir, now=now)
        if LEGACY_IMPORTED not in done:
            from nostrweet.state.import_legacy import import_legacy

            import_legacy(state, data_dir, now=now)
    except BaseException:
        state.close()
        raise
    return state


def _imports_done(state: State) -> set[str]:
    """Which of the one-time imports this state had already (one query for both)."""
    keys, params = in_list("key", [FILES_IMPORTED, LEGACY_IMPORTED])
    with state.read() as tx:
        return {str(row[0]) for row in tx.rows(f'SELECT "key" FROM meta WHERE "key" IN ({keys})', params)}
