"""SQL adapter: the read model on SQLite (embedded), MariaDB or PostgreSQL.

``SqlStore`` holds the engines and answers queries; ``Projector`` writes journal items into it
exactly once per (stream, seq); ``migrate`` runs the Alembic migrations from Python.
"""

from rialto.adapters.sql.engines import sqlite_url
from rialto.adapters.sql.projector import Projected, ProjectionError, Projector, StreamItem
from rialto.adapters.sql.store import SqlStore

__all__ = [
    "Projected",
    "ProjectionError",
    "Projector",
    "SqlStore",
    "StreamItem",
    "sqlite_url",
]
