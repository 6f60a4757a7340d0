"""Throw-away databases for the SQL store tests, one name per test session."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sqlalchemy import Engine, create_engine, text

from rialto.adapters.sql import sqlite_url

KINDS = ("sqlite", "mariadb", "postgresql")
SERVERS = {
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306",
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432",
}


class Databases:
    """Creates fresh, empty databases for this session and drops them all at the end."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.prefix = f"rialto_it_{os.getpid()}_{secrets.token_hex(3)}"
        self.created: list[tuple[str, str]] = []

    def new(self, kind: str) -> str:
        name = f"{self.prefix}_{len(self.created)}"
        if kind == "sqlite":
            self.created.append((kind, name))
            return sqlite_url(self.tmp / name)
        admin = self._admin(kind)
        try:
            with admin.connect() as conn:
                charset = " CHARACTER SET utf8mb4" if kind == "mariadb" else ""
                conn.execute(text(f"CREATE DATABASE {name}{charset}"))
        finally:
            admin.dispose()
        self.created.append((kind, name))
        return f"{SERVERS[kind]}/{name}"

    def drop_all(self) -> None:
        for kind in SERVERS:
            names = [name for k, name in self.created if k == kind]
            if not names:
                continue
            admin = self._admin(kind)
            try:
                with admin.connect() as conn:
                    force = " WITH (FORCE)" if kind == "postgresql" else ""
                    for name in names:
                        conn.execute(text(f"DROP DATABASE IF EXISTS {name}{force}"))
            finally:
                admin.dispose()

    @staticmethod
    def _admin(kind: str) -> Engine:
        url = SERVERS[kind] + ("/postgres" if kind == "postgresql" else "/")
        return create_engine(url, isolation_level="AUTOCOMMIT")
