"""Multi-row writes: inserts, "insert if missing", upserts and updates, as each engine wants.

PostgreSQL and SQLite go through SQLAlchemy Core's executemany (``insertmanyvalues`` turns an
INSERT into multi-row VALUES; psycopg pipelines the UPDATEs). On MariaDB, PyMySQL rewrites an
executemany INSERT into multi-row VALUES itself, and Core's per-row parameter handling costs as
much Python time as PyMySQL's escaping: there the rows go to ``exec_driver_sql`` as tuples,
after the same type processing (``Amount`` still checks every value), which halves the CPU time
of a batch. PyMySQL runs an executemany UPDATE one row per round trip, so on MariaDB an update
of many rows is one ``UPDATE (SELECT ... UNION ALL SELECT ...) JOIN table`` per 1,000 rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Table, bindparam, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import StatementError

Row = dict[str, Any]
MYSQL = ("mysql", "mariadb")
UPDATE_CHUNK = 1000


def insert_rows(conn: Connection, table: Table, rows: Sequence[Row]) -> None:
    """Insert the rows; a primary key that exists is an IntegrityError."""
    if rows:
        _write(conn, table, rows, "insert", ())


def insert_missing(conn: Connection, table: Table, rows: Sequence[Row]) -> None:
    """Insert the rows whose primary key is not there yet; leave the others untouched."""
    if rows:
        _write(conn, table, rows, "missing", ())


def upsert(conn: Connection, table: Table, rows: Sequence[Row], columns: Sequence[str]) -> None:
    """Insert the rows, or overwrite ``columns`` of those whose primary key exists."""
    if rows:
        _write(conn, table, rows, "upsert", tuple(columns))


def update_rows(conn: Connection, table: Table, rows: Sequence[Row], columns: Sequence[str]) -> int:
    """Set ``columns`` of the rows named by their primary key; return how many rows matched.

    Every row carries the primary key columns and ``columns``. Returns -1 when the driver
    cannot tell how many rows an executemany matched.
    """
    if not rows:
        return 0
    pk = tuple(c.name for c in table.primary_key.columns)
    dialect = conn.dialect
    if dialect.name in MYSQL:
        matched = 0
        for start in range(0, len(rows), UPDATE_CHUNK):
            chunk = rows[start : start + UPDATE_CHUNK]
            sql, processors = _mysql_update(dialect, table, pk, tuple(columns), len(chunk))
            names = (*pk, *columns)
            values = _processed(sql, chunk, names, processors)
            matched += conn.exec_driver_sql(sql, tuple(v for row in values for v in row)).rowcount
        return matched
    stmt = (
        update(table)
        .where(*(table.c[k] == bindparam(f"k_{k}") for k in pk))
        .values({c: bindparam(c) for c in columns})
    )
    keyed = [{**{f"k_{k}": row[k] for k in pk}, **{c: row[c] for c in columns}} for row in rows]
    result = conn.execute(stmt, keyed)
    return result.rowcount if dialect.supports_sane_multi_rowcount else -1


def _processed(
    sql: str, rows: Sequence[Row], names: Sequence[str], processors: Sequence[Any]
) -> list[tuple[Any, ...]]:
    """The rows as tuples of bind values, each through its column type's bind processor."""
    pairs = list(zip(names, processors, strict=True))
    try:
        return [tuple(p(row[n]) if p else row[n] for n, p in pairs) for row in rows]
    except (TypeError, ValueError) as exc:  # as Core reports a refused bind value
        raise StatementError(str(exc), sql, None, exc) from exc


def _write(
    conn: Connection, table: Table, rows: Sequence[Row], mode: str, columns: tuple[str, ...]
) -> None:
    dialect = conn.dialect
    if dialect.name in MYSQL:
        names = tuple(rows[0])
        sql, processors = _mysql_statement(dialect, table, names, mode, columns)
        conn.exec_driver_sql(sql, _processed(sql, rows, names, processors))
        return
    conn.execute(_core_statement(dialect.name, table, mode, columns), list(rows))


def _core_statement(name: str, table: Table, mode: str, columns: tuple[str, ...]) -> Any:
    if mode == "insert":
        return table.insert()
    pk = [c.name for c in table.primary_key.columns]
    stmt = (postgresql.insert if name == "postgresql" else sqlite.insert)(table)
    if mode == "missing":
        return stmt.on_conflict_do_nothing(index_elements=pk)
    return stmt.on_conflict_do_update(
        index_elements=pk, set_={c: stmt.excluded[c] for c in columns}
    )


@lru_cache(maxsize=64)
def _mysql_statement(
    dialect: Dialect, table: Table, names: tuple[str, ...], mode: str, columns: tuple[str, ...]
) -> tuple[str, list[Any]]:
    quote = dialect.identifier_preparer.quote
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) "
        f"VALUES ({', '.join(['%s'] * len(names))})"
    )
    if mode == "missing":
        # A self-assignment: a no-op that, unlike INSERT IGNORE, swallows no other error.
        first = quote(table.primary_key.columns.values()[0].name)
        sql += f" ON DUPLICATE KEY UPDATE {first} = {first}"
    elif mode == "upsert":
        sets = ", ".join(f"{quote(c)} = VALUES({quote(c)})" for c in columns)
        sql += f" ON DUPLICATE KEY UPDATE {sets}"
    processors = [table.c[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names]
    return sql, processors


@lru_cache(maxsize=64)
def _mysql_update(
    dialect: Dialect, table: Table, pk: tuple[str, ...], columns: tuple[str, ...], n: int
) -> tuple[str, list[Any]]:
    quote = dialect.identifier_preparer.quote
    names = (*pk, *columns)
    first = "SELECT " + ", ".join(f"%s AS {quote('v_' + c)}" for c in names)
    rest = " UNION ALL SELECT " + ", ".join(["%s"] * len(names))
    on = " AND ".join(f"o.{quote(k)} = v.{quote('v_' + k)}" for k in pk)
    sets = ", ".join(f"o.{quote(c)} = v.{quote('v_' + c)}" for c in columns)
    # STRAIGHT_JOIN: read the derived rows first, find each order by its primary key.
    sql = (
        f"UPDATE ({first}{rest * (n - 1)}) AS v STRAIGHT_JOIN {quote(table.name)} AS o"
        f" ON {on} SET {sets}"
    )
    processors = [table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in names]
    return sql, processors
