"""Alembic revisions, oldest first (file names start with the revision number)."""
