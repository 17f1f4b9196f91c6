"""Database engine and sessions (SQLite and PostgreSQL), the declarative base, the alembic
migrations and the hash-chained audit trail.

It imports config only.
"""
