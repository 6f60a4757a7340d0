"""SQL projection throughput: rows/s the projector writes into one database.

``measure_projection(url, rows)`` projects trades (``match.<SYM>``) and their settlement
postings (``accounts.<SYM>``, 6 legs each, 10,000 users, fees to user 0) in batches of
``BATCH`` items, and returns (ledger rows + trade rows + balance rows) / second of
``Projector.project`` time. Items are built before the clock starts; each batch is one
transaction. As on a live exchange, users have funded and placed orders before they trade:
their free and locked balance rows exist (seeded, untimed); ``cold=True`` skips the seeding,
so most balance rows are created during the run. ``url`` is a database URL, or "sqlite" /
"mariadb" / "postgresql" for a throw-away database on the local server (created, then
dropped).

    .venv/bin/python bench/_projection.py [--rows N] [--db mariadb]

prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sqlalchemy import create_engine, text

from rialto.adapters.sql import Projector, SqlStore, StreamItem, sqlite_url
from rialto.domain.events import Trade
from rialto.domain.orders import Side
from rialto.domain.postings import AccountKind, Leg, Posting

BATCH = 2_000  # stream items per project() call: half trades, half settlements
USERS = 10_000
SERVERS = {
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306",
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432",
}


def settlement(symbol: str, t: Trade) -> Posting:
    cost = t.price * t.qty
    buyer, seller = t.taker_user_id, t.maker_user_id
    fee_base, fee_quote = t.qty // 1000, cost // 1000
    return Posting(
        "trade",
        f"trade:{symbol}:{t.trade_id}",
        t.ts,
        (
            Leg(AccountKind.LOCKED, buyer, "USDT", -cost),
            Leg(AccountKind.FREE, buyer, "BTC", t.qty - fee_base),
            Leg(AccountKind.LOCKED, seller, "BTC", -t.qty),
            Leg(AccountKind.FREE, seller, "USDT", cost - fee_quote),
            Leg(AccountKind.FEES, 0, "BTC", fee_base),
            Leg(AccountKind.FEES, 0, "USDT", fee_quote),
        ),
    )


def make_batches(symbol: str, trades: int, seed: int = 1) -> list[list[StreamItem]]:
    """``trades`` match items (one Trade each) and as many accounts items (one posting each)."""
    rng = random.Random(seed)
    items: list[StreamItem] = []
    for n in range(1, trades + 1):
        maker, taker = rng.sample(range(1, USERS + 1), 2)
        trade = Trade(
            n, n, n, 3_000_000 + rng.randint(-500, 500), rng.randint(1, 10**6), 2 * n, 2 * n + 1,
            maker, taker, Side.BUY,
        )  # fmt: skip
        items.append(StreamItem(f"match.{symbol}", n, symbol, (trade,)))
        items.append(StreamItem(f"accounts.{symbol}", n, "", (settlement(symbol, trade),)))
    return [items[i : i + BATCH] for i in range(0, len(items), BATCH)]


def funding(symbol: str) -> list[list[StreamItem]]:
    """A deposit and a hold of both assets for every user: their balance rows exist."""
    items = []
    for user in range(1, USERS + 1):
        legs = []
        for asset, amount in (("BTC", 10**12), ("USDT", 10**15)):
            legs += [
                Leg(AccountKind.HOT_WALLET, 0, asset, amount),
                Leg(AccountKind.FREE, user, asset, amount - amount // 2),
                Leg(AccountKind.LOCKED, user, asset, amount // 2),
            ]
        posting = Posting("deposit", f"fund:{user}", 0, tuple(legs))
        items.append(StreamItem(f"funding.{symbol}", user, "", (posting,)))
    return [items[i : i + BATCH] for i in range(0, len(items), BATCH)]


def measure_projection(url: str, rows: int, cold: bool = False) -> float:
    """Rows/s (ledger + trade + balance rows) projecting about ``rows`` rows into ``url``."""
    with _database(url) as real_url:
        store = SqlStore(real_url)
        try:
            store.migrate()
            symbol = "B" + secrets.token_hex(4).upper()  # fresh streams and trade ids per run
            # Each trade writes 1 trade row, 6 legs and 4 to 6 balance rows.
            batches = make_batches(symbol, max(1, rows // 11))
            projector = Projector(store, f"bench-{symbol}")
            projector.project(make_batches("W" + symbol[1:], 200)[0])  # warm-up: pool, caches
            if not cold:
                for batch in funding(symbol):
                    projector.project(batch)
            written = 0
            start = time.perf_counter()
            for batch in batches:
                written += projector.project(batch).rows
            return written / (time.perf_counter() - start)
        finally:
            store.close()


@contextmanager
def _database(url: str) -> Iterator[str]:
    if url == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield sqlite_url(tmp)
        return
    if url not in SERVERS:
        yield url
        return
    name = f"rialto_bench_{secrets.token_hex(4)}"
    admin = create_engine(
        SERVERS[url] + ("/postgres" if url == "postgresql" else "/"), isolation_level="AUTOCOMMIT"
    )
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        try:
            yield f"{SERVERS[url]}/{name}"
        finally:
            with admin.connect() as conn:
                force = " WITH (FORCE)" if url == "postgresql" else ""
                conn.execute(text(f"DROP DATABASE IF EXISTS {name}{force}"))
    finally:
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--db", default="mariadb", help="sqlite, mariadb, postgresql or a URL")
    parser.add_argument("--quick", action="store_true", help="20,000 rows")
    parser.add_argument("--cold", action="store_true", help="no balance rows before the run")
    args = parser.parse_args()
    rows = 20_000 if args.quick else args.rows
    rate = measure_projection(args.db, rows, cold=args.cold)
    db = args.db if args.db in (*SERVERS, "sqlite") else args.db.split(":", 1)[0]
    result = {
        "bench": "projection",
        "db": db,
        "rows": rows,
        "batch_items": BATCH,
        "balances": "cold" if args.cold else "funded",
        "rows_per_s": round(rate),
        "python": platform.python_version(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
