"""Adding ledger deltas to the balances table, exactly, under row locks."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import ARRAY, BigInteger, Connection, String, bindparam, select, text, tuple_

from rialto.adapters.sql import schema
from rialto.adapters.sql.bulk import insert_missing, upsert
from rialto.adapters.sql.stream import ProjectionError
from rialto.adapters.sql.types import Amount

CHUNK = 1000  # keys per locking SELECT (3 bound parameters each)

BalanceKey = tuple[int, str, str]  # (user_id, account, asset): balances' primary key order


def add_to_balances(conn: Connection, deltas: dict[BalanceKey, int]) -> None:
    """Add the deltas to their balance rows: lock and read them, add, write back in one upsert.

    The sums are made in Python on exact ints (SQLite stores amounts as TEXT). Rows are locked
    in primary-key order, the same in every projector. A row that is not there yet must stay
    absent until this transaction creates it: SQLite has a single writer, and InnoDB's locking
    read under REPEATABLE READ gap-locks the missing keys; PostgreSQL locks no absent row, so
    there the missing rows are created at 0 first, then locked and read like the others.
    """
    if not deltas:
        return
    t = schema.balances
    keys = sorted(deltas)
    current = _lock_balances(conn, keys)
    missing = [k for k in keys if k not in current]
    if missing and conn.dialect.name == "postgresql":
        rows = [{"user_id": u, "account": a, "asset": s, "amount": 0} for u, a, s in missing]
        insert_missing(conn, t, rows)  # another projector may have created some meanwhile
        current.update(_lock_balances(conn, missing))
        if len(current) != len(keys):
            raise ProjectionError("balance rows vanished while locked")
    rows = [
        {"user_id": u, "account": a, "asset": s, "amount": current.get((u, a, s), 0) + d}
        for (u, a, s), d in zip(keys, (deltas[k] for k in keys), strict=True)
    ]
    upsert(conn, t, rows, ["amount"])


def _lock_balances(conn: Connection, keys: list[BalanceKey]) -> dict[BalanceKey, int]:
    """The amounts of the balance rows that exist among ``keys``, locked FOR UPDATE."""
    if conn.dialect.name == "postgresql":  # three array parameters instead of 3 per key
        users, accounts, assets = (list(column) for column in zip(*keys, strict=True))
        rows = conn.execute(_PG_LOCK, {"users": users, "accounts": accounts, "assets": assets})
        return {(u, a, s): amount for u, a, s, amount in rows}
    t = schema.balances
    found: dict[BalanceKey, int] = {}
    for chunk in _chunks(keys, CHUNK):
        query = (
            select(t.c.user_id, t.c.account, t.c.asset, t.c.amount)
            .where(tuple_(t.c.user_id, t.c.account, t.c.asset).in_(chunk))
            .order_by(t.c.user_id, t.c.account, t.c.asset)
            .with_for_update()
        )
        for user_id, account, asset, amount in conn.execute(query):
            found[(user_id, account, asset)] = amount
    return found


_PG_LOCK = (
    text(
        "SELECT b.user_id, b.account, b.asset, b.amount FROM balances AS b"
        " JOIN unnest(:users, :accounts, :assets) AS k(user_id, account, asset)"
        " ON b.user_id = k.user_id AND b.account = k.account AND b.asset = k.asset"
        " ORDER BY b.user_id, b.account, b.asset FOR UPDATE OF b"
    )
    .bindparams(
        bindparam("users", type_=ARRAY(BigInteger)),
        bindparam("accounts", type_=ARRAY(String)),
        bindparam("assets", type_=ARRAY(String)),
    )
    .columns(user_id=BigInteger, account=String, asset=String, amount=Amount)
)


def _chunks(keys: list[BalanceKey], size: int) -> Iterator[list[BalanceKey]]:
    for start in range(0, len(keys), size):
        yield keys[start : start + size]
