"""Import of the archive that X lets an account owner download (SPEC §12 "X archive import").

``parse`` is pure (the archive's JavaScript parts → cache documents); ``reader`` opens a zip or a folder
and refuses unsafe ones; ``importer`` writes documents, media and the profile through the cache store.
"""
