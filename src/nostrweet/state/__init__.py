"""The state (SPEC §7): everything that is not the archive, in SQLite or PostgreSQL.

``engine`` opens a state URL, ``schema`` and ``migrations`` define and version its tables, and one
repository per concern reads and writes them: ``records`` (events and relay answers, the outbox),
``users`` (per-user daemon state), ``index`` (cached tweets, profiles, not-found markers), ``blossom``
(the upload memo), ``budgets`` (shared X rate budgets), ``leases`` (instances and user leases).
``import_files`` brings a cache written by the file-based layout in, once.
"""
