"""Alembic migrations: the only place relay's schema is defined for a database."""
