"""Fixtures for the SQL store tests: the same tests run on SQLite, MariaDB and PostgreSQL.

Each test session creates its own uniquely named databases on the local MariaDB
(127.0.0.1:3306, root, no password) and PostgreSQL (127.0.0.1:5432, postgres, trust) and drops
them at the end. A server that is not there makes the tests error out: they never skip.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sql_dbs import KINDS, Databases
from sqlalchemy import delete

from rialto.adapters.sql import SqlStore
from rialto.adapters.sql.schema import metadata


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    dbs = Databases(tmp_path_factory.mktemp("sql"))
    yield dbs
    dbs.drop_all()


@pytest.fixture(scope="session")
def migrated() -> dict[str, str]:
    """Kind -> URL of a migrated database shared by the session's tests (emptied per test)."""
    return {}


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def url(kind: str, databases: Databases, migrated: dict[str, str]) -> str:
    """The URL of a migrated, empty database of this test's kind."""
    if kind not in migrated:
        store = SqlStore(databases.new(kind))
        store.migrate()
        store.close()
        migrated[kind] = store.url
    empty(migrated[kind])
    return migrated[kind]


@pytest.fixture
def store(url: str) -> Iterator[SqlStore]:
    s = SqlStore(url)
    yield s
    s.close()


def empty(url: str) -> None:
    s = SqlStore(url)
    try:
        with s.engine.begin() as conn:
            for table in reversed(metadata.sorted_tables):
                conn.execute(delete(table))
    finally:
        s.close()
