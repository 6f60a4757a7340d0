"""Alembic environment: runs on the engine that rialto.adapters.sql.migrate passes in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from rialto.adapters.sql.schema import metadata


def run_migrations_online() -> None:
    engine = context.config.attributes.get("engine")
    if not isinstance(engine, Engine):
        raise RuntimeError("run migrations with rialto.adapters.sql.migrate.upgrade(engine)")
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
run_migrations_online()
