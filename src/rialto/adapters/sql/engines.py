"""SQLAlchemy engines for the three supported databases, chosen by URL.

* ``sqlite:///<data_dir>/rialto.db`` -- embedded default, WAL mode; writers take the lock up
  front (``BEGIN IMMEDIATE``) so a read-then-write transaction never fails half-way.
* ``mysql+pymysql://root@127.0.0.1:3306/<db>`` -- MariaDB (or MySQL), InnoDB.
* ``postgresql+psycopg://postgres@127.0.0.1:5432/<db>`` -- PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

SUPPORTED = ("sqlite", "mysql", "mariadb", "postgresql")


def sqlite_url(data_dir: str | Path) -> str:
    """The embedded default: ``sqlite:///<data_dir>/rialto.db``."""
    return f"sqlite:///{Path(data_dir) / 'rialto.db'}"


def make_engine(url: str | URL, *, writer: bool = True) -> Engine:
    """An engine for ``url``; ``writer`` False for a read-only role (SQLite: deferred BEGIN)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED:
        raise ValueError(f"unsupported database URL {parsed!r}: use sqlite, mysql or postgresql")
    if backend == "sqlite":
        return _sqlite_engine(parsed, writer)
    kwargs: dict[str, Any] = {"pool_pre_ping": True, "pool_recycle": 3600}
    if backend in ("mysql", "mariadb"):
        if "charset" not in parsed.query:
            parsed = parsed.update_query_dict({"charset": "utf8mb4"})
        # The projector relies on InnoDB's gap locks (see projector._add_to_balances).
        kwargs["isolation_level"] = "REPEATABLE READ"
    return create_engine(parsed, **kwargs)


def _sqlite_engine(url: URL, writer: bool) -> Engine:
    database = url.database or ""
    memory = database in ("", ":memory:") or "mode=memory" in str(url)
    kwargs: dict[str, Any] = {}
    if memory:
        kwargs["poolclass"] = StaticPool
        kwargs["connect_args"] = {"check_same_thread": False}
    elif not url.query.get("uri") and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **kwargs)
    begin = "BEGIN IMMEDIATE" if writer else "BEGIN"

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is lazy and late).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if not memory and writer:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=10000")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)

    return engine
