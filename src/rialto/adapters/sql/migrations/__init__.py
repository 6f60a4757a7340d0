"""Alembic migrations of the SQL read model (run by rialto.adapters.sql.migrate)."""
