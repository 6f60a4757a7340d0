"""The SQL store: one class over SQLite, MariaDB and PostgreSQL, with a read/write split.

Writes (and the projector) go to the primary engine. The query methods for orders, trades,
balances and postings go to the read engine: the replica named by ``read_url``, or the
primary when there is none. A replica lags: a caller that must read its own write reads the
primary (``SqlStore.engine``) or waits for the replica to catch up.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, func, insert, or_, select

from rialto.adapters.sql import migrate, schema
from rialto.adapters.sql.bulk import upsert
from rialto.adapters.sql.engines import make_engine
from rialto.adapters.sql.rows import BalanceRow, OrderRow, PostingRow, TradeRow, UserRow
from rialto.domain.assets import Asset
from rialto.domain.instruments import Instrument
from rialto.domain.orders import (
    FINAL_STATUSES,
    OrderStatus,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from rialto.domain.postings import AccountKind

OPEN_STATUSES = tuple(str(s) for s in OrderStatus if s not in FINAL_STATUSES)
MAX_LIMIT = 5000


class SqlStore:
    """The SQL read model. ``url`` is the primary; ``read_url`` an optional read replica."""

    def __init__(self, url: str, read_url: str | None = None) -> None:
        self.url = url
        self.read_url = read_url
        self.engine: Engine = make_engine(url)
        self.read_engine: Engine = make_engine(read_url, writer=False) if read_url else self.engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def migrate(self) -> None:
        """Create or upgrade the schema on the primary (idempotent)."""
        migrate.upgrade(self.engine)

    def close(self) -> None:
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()

    # --- users (primary: login must see a registration at once) -------------------

    def add_user(self, email: str, password_hash: str, created_ts: int) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(schema.users).values(
                    email=email, password_hash=password_hash, created_ts=created_ts
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def user_by_email(self, email: str) -> UserRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(schema.users).where(schema.users.c.email == email)).first()
        return UserRow(*row) if row else None

    def user(self, user_id: int) -> UserRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(schema.users).where(schema.users.c.id == user_id)).first()
        return UserRow(*row) if row else None

    # --- reference data ------------------------------------------------------------

    def put_asset(self, asset: Asset) -> None:
        with self.engine.begin() as conn:
            upsert(
                conn,
                schema.assets,
                [{"symbol": asset.symbol, "decimals": asset.decimals}],
                ["decimals"],
            )

    def assets(self) -> list[Asset]:
        t = schema.assets
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.c.symbol, t.c.decimals).order_by(t.c.symbol)).all()
        return [Asset(symbol, decimals) for symbol, decimals in rows]

    def put_instrument(self, instrument: Instrument) -> None:
        spec = instrument.to_dict()
        spec["base"] = spec.pop("base_asset")
        spec["quote"] = spec.pop("quote_asset")
        spec["allowed_stp"] = ",".join(spec["allowed_stp"])
        columns = [c for c in spec if c != "symbol"]
        with self.engine.begin() as conn:
            upsert(conn, schema.instruments, [spec], columns)

    def instruments(self) -> list[Instrument]:
        t = schema.instruments
        with self.engine.connect() as conn:
            rows = conn.execute(select(t).order_by(t.c.symbol)).mappings().all()
        out = []
        for row in rows:
            spec: dict[str, Any] = dict(row)
            spec["base_asset"] = spec.pop("base")
            spec["quote_asset"] = spec.pop("quote")
            spec["allowed_stp"] = spec["allowed_stp"].split(",") if spec["allowed_stp"] else []
            out.append(Instrument.from_dict(spec))
        return out

    # --- queries (read engine) -----------------------------------------------------

    def get_order(self, symbol: str, order_id: int) -> OrderRow | None:
        t = schema.orders
        query = select(t).where(t.c.symbol == symbol, t.c.order_id == order_id)
        rows = self._read(query)
        return _order(rows[0]) if rows else None

    def orders(
        self, user_id: int, symbol: str | None = None, from_id: int = 0, limit: int = 500
    ) -> list[OrderRow]:
        """A user's orders (all statuses), by symbol then order id, from ``from_id`` on."""
        t = schema.orders
        query = select(t).where(t.c.user_id == user_id)
        if symbol is not None:
            query = query.where(t.c.symbol == symbol)
        if from_id:
            query = query.where(t.c.order_id >= from_id)
        query = query.order_by(t.c.symbol, t.c.order_id).limit(_limit(limit))
        return [_order(r) for r in self._read(query)]

    def open_orders(self, user_id: int, symbol: str | None = None) -> list[OrderRow]:
        """A user's open orders (NEW or PARTIALLY_FILLED, pending stops included)."""
        t = schema.orders
        query = select(t).where(t.c.user_id == user_id, t.c.status.in_(OPEN_STATUSES))
        if symbol is not None:
            query = query.where(t.c.symbol == symbol)
        return [_order(r) for r in self._read(query.order_by(t.c.symbol, t.c.order_id))]

    def trades(self, symbol: str, from_id: int = 0, limit: int = 500) -> list[TradeRow]:
        """A symbol's trades by trade id, from ``from_id`` on."""
        t = schema.trades
        query = select(t).where(t.c.symbol == symbol, t.c.trade_id >= from_id)
        return [_trade(r) for r in self._read(query.order_by(t.c.trade_id).limit(_limit(limit)))]

    def recent_trades(self, symbol: str, limit: int = 500) -> list[TradeRow]:
        """The latest ``limit`` trades of a symbol, oldest first."""
        t = schema.trades
        query = select(t).where(t.c.symbol == symbol)
        rows = self._read(query.order_by(t.c.trade_id.desc()).limit(_limit(limit)))
        return [_trade(r) for r in reversed(rows)]

    def latest_trades(self, symbol: str, count: int) -> list[TradeRow]:
        """The newest ``count`` trades of a symbol, oldest first (to seed market data after a
        restart; no API limit applies)."""
        t = schema.trades
        query = select(t).where(t.c.symbol == symbol).order_by(t.c.trade_id.desc()).limit(count)
        return [_trade(r) for r in reversed(self._read(query))]

    def user_trades(
        self, user_id: int, symbol: str | None = None, from_id: int = 0, limit: int = 500
    ) -> list[TradeRow]:
        """Trades where the user was maker or taker, by symbol then trade id."""
        t = schema.trades
        query = select(t).where(
            or_(t.c.maker_user_id == user_id, t.c.taker_user_id == user_id),
            t.c.trade_id >= from_id,
        )
        if symbol is not None:
            query = query.where(t.c.symbol == symbol)
        query = query.order_by(t.c.symbol, t.c.trade_id).limit(_limit(limit))
        return [_trade(r) for r in self._read(query)]

    def balances(self, user_id: int) -> list[BalanceRow]:
        """Every ledger account of the user (free, locked, ...), by asset then account."""
        t = schema.balances
        query = select(t.c.user_id, t.c.account, t.c.asset, t.c.amount).where(
            t.c.user_id == user_id
        )
        rows = self._read(query.order_by(t.c.asset, t.c.account))
        return [BalanceRow(r[0], AccountKind(r[1]), r[2], r[3]) for r in rows]

    def postings(
        self,
        user_id: int | None = None,
        asset: str | None = None,
        stream: str | None = None,
        limit: int = 1000,
    ) -> list[PostingRow]:
        """Ledger legs, optionally of one user / asset / stream, in stream order."""
        t = schema.ledger_postings
        conditions: list[ColumnElement[bool]] = []
        if user_id is not None:
            conditions.append(t.c.user_id == user_id)
        if asset is not None:
            conditions.append(t.c.asset == asset)
        if stream is not None:
            conditions.append(t.c.stream == stream)
        query = select(t).where(*conditions)
        query = query.order_by(t.c.stream, t.c.seq, t.c.posting_idx, t.c.leg_idx)
        return [_posting(r) for r in self._read(query.limit(_limit(limit)))]

    def trade_fees(self, refs: Sequence[str]) -> dict[str, tuple[str, int]]:
        """The fee (asset, amount) of each settled trade side ``"SYMBOL:trade id:SIDE"``."""
        if not refs:
            return {}
        t = schema.ledger_postings
        query = select(t.c.ref, t.c.asset, t.c.amount).where(
            t.c.kind == "trade", t.c.account == "fees", t.c.ref.in_(list(refs))
        )
        return {str(r.ref): (str(r.asset), int(r.amount)) for r in self._read(query)}

    def count(self, table: str) -> int:
        """How many rows a table of the read model holds (for checks and tests)."""
        with self.read_engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(_table(table))).scalar_one())

    def checkpoint(self, projector: str, stream: str) -> int:
        """The last seq the projector applied on the stream (0: none); read on the primary."""
        t = schema.projector_checkpoints
        with self.engine.connect() as conn:
            seq = conn.execute(
                select(t.c.seq).where(t.c.projector == projector, t.c.stream == stream)
            ).scalar()
        return int(seq or 0)

    def _read(self, query: Select[Any]) -> Sequence[Any]:
        with self.read_engine.connect() as conn:
            return conn.execute(query).all()


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
    return limit


def _table(name: str) -> Any:
    table = schema.metadata.tables.get(name)
    if table is None:
        raise ValueError(f"no table {name!r}")
    return table


def _order(r: Any) -> OrderRow:
    m = r._mapping
    return OrderRow(
        **{
            **m,
            "side": Side(m["side"]),
            "order_type": OrderType(m["order_type"]),
            "tif": TimeInForce(m["tif"]),
            "stp": SelfTradePrevention(m["stp"]),
            "status": OrderStatus(m["status"]),
        }
    )


def _trade(r: Any) -> TradeRow:
    m = r._mapping
    return TradeRow(**{**m, "taker_side": Side(m["taker_side"])})


def _posting(r: Any) -> PostingRow:
    m = r._mapping
    return PostingRow(**{**m, "account": AccountKind(m["account"])})
