"""Alembic migrations build exactly the schema the code uses, on every engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sql_dbs import Databases
from sqlalchemy import inspect

from rialto.adapters.sql import SqlStore, migrate, sqlite_url
from rialto.adapters.sql.schema import metadata

pytestmark = pytest.mark.integration

TABLES = {
    "users",
    "assets",
    "instruments",
    "orders",
    "trades",
    "ledger_postings",
    "balances",
    "projector_checkpoints",
}
AMOUNT_TYPE = {"sqlite": "TEXT", "mariadb": "DECIMAL(65, 0)", "postgresql": "NUMERIC(78, 0)"}


def test_migrations_create_the_schema_and_are_idempotent(kind: str, databases: Databases) -> None:
    store = SqlStore(databases.new(kind))
    try:
        assert migrate.current_revision(store.engine) is None
        store.migrate()
        store.migrate()  # already at head: a no-op
        assert migrate.current_revision(store.engine) == migrate.head_revision()
        assert set(inspect(store.engine).get_table_names()) >= TABLES
        with store.engine.connect() as conn:
            # Autogenerate finds nothing to do: the migrations match schema.py exactly.
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        columns = {c["name"]: c for c in inspect(store.engine).get_columns("balances")}
        assert str(columns["amount"]["type"]) == AMOUNT_TYPE[kind]
        pk = inspect(store.engine).get_pk_constraint("ledger_postings")["constrained_columns"]
        assert pk == ["stream", "seq", "posting_idx", "leg_idx"]
        indexed = [ix["column_names"] for ix in inspect(store.engine).get_indexes("orders")]
        assert ["user_id", "symbol"] in indexed
        migrate.downgrade(store.engine, "base")
        assert not TABLES & set(inspect(store.engine).get_table_names())
        store.migrate()
        assert set(inspect(store.engine).get_table_names()) >= TABLES
    finally:
        store.close()


def test_the_embedded_default_is_sqlite_in_wal_mode(tmp_path: Path) -> None:
    store = SqlStore(sqlite_url(tmp_path / "data"))
    try:
        store.migrate()
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert (tmp_path / "data" / "rialto.db").is_file()
    finally:
        store.close()
