"""The daemon's HTTP server (SPEC §8): health, metrics, the dashboard, the admin API and NIP-05.

``address.py`` and ``views.py`` are pure (an address; a snapshot → JSON and page values), ``token.py``
reads the admin token file, ``metrics.py`` turns a snapshot into Prometheus metrics, ``api.py`` is the
admin API and ``server.py`` runs it all on the daemon's own event loop (docs/OPERATIONS.md).
"""
