"""Storage: PostgreSQL/TimescaleDB schema and migrations, the no-loss writer, Parquet export.

Submodules are imported on demand (``alphapulse.store.migrate``, ``.writer``, ``.export``,
``.embedded``) so that importing the package costs nothing on a hot path.
"""
