"""Alembic migrations of the hub archive; run by :func:`hub.db.migrate`."""
