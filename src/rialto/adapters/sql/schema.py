"""The SQL read model: table definitions (SQLAlchemy Core) shared by the store and projector.

The Alembic revisions under ``migrations/versions`` create exactly these tables; a test
compares the migrated database with this metadata.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
)

from rialto.adapters.sql.types import Amount

# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias).
Id = BigInteger().with_variant(Integer(), "sqlite")

SYMBOL = 32  # assets and instruments
ENUM = 24  # Binance enum names: side, order type, status, STP mode, account kind

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

users = Table(
    "users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("email", String(254), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("created_ts", BigInteger, nullable=False),
    UniqueConstraint("email"),
)

assets = Table(
    "assets",
    metadata,
    Column("symbol", String(SYMBOL), primary_key=True),
    Column("decimals", Integer, nullable=False),
)

# One column per field of Instrument.to_dict(); numbers stay the operator's decimal strings.
instruments = Table(
    "instruments",
    metadata,
    Column("symbol", String(SYMBOL), primary_key=True),
    Column("base", String(SYMBOL), nullable=False),
    Column("quote", String(SYMBOL), nullable=False),
    Column("tick_size", String(64), nullable=False),
    Column("step_size", String(64), nullable=False),
    Column("min_price", String(64), nullable=False),
    Column("max_price", String(64), nullable=False),
    Column("min_qty", String(64), nullable=False),
    Column("max_qty", String(64), nullable=False),
    Column("market_min_qty", String(64), nullable=False),
    Column("market_max_qty", String(64), nullable=False),
    Column("min_notional", String(64), nullable=False),
    Column("maker_fee", String(64), nullable=False),
    Column("taker_fee", String(64), nullable=False),
    Column("base_precision", Integer, nullable=False),
    Column("quote_precision", Integer, nullable=False),
    Column("status", String(ENUM), nullable=False),
    Column("default_stp", String(ENUM), nullable=False),
    Column("allowed_stp", String(255), nullable=False),  # comma-separated
)

orders = Table(
    "orders",
    metadata,
    Column("symbol", String(SYMBOL), nullable=False),
    Column("order_id", BigInteger, nullable=False, autoincrement=False),
    Column("user_id", BigInteger, nullable=False),
    Column("client_order_id", String(64), nullable=False),
    Column("side", String(ENUM), nullable=False),
    Column("order_type", String(ENUM), nullable=False),
    Column("tif", String(ENUM), nullable=False),
    Column("price", Amount, nullable=False),
    Column("qty", Amount, nullable=False),
    Column("quote_qty", Amount, nullable=False),
    Column("stop_price", Amount, nullable=False),
    Column("stp", String(ENUM), nullable=False),
    Column("status", String(ENUM), nullable=False),
    Column("remaining", Amount, nullable=False),
    Column("filled", Amount, nullable=False),
    Column("filled_quote", Amount, nullable=False),
    Column("created_ts", BigInteger, nullable=False),
    Column("updated_ts", BigInteger, nullable=False),
    PrimaryKeyConstraint("symbol", "order_id"),
    Index(None, "user_id", "symbol"),
)

trades = Table(
    "trades",
    metadata,
    Column("symbol", String(SYMBOL), nullable=False),
    Column("trade_id", BigInteger, nullable=False, autoincrement=False),
    Column("price", Amount, nullable=False),
    Column("qty", Amount, nullable=False),
    Column("maker_order_id", BigInteger, nullable=False),
    Column("taker_order_id", BigInteger, nullable=False),
    Column("maker_user_id", BigInteger, nullable=False),
    Column("taker_user_id", BigInteger, nullable=False),
    Column("taker_side", String(ENUM), nullable=False),
    Column("ts", BigInteger, nullable=False),
    PrimaryKeyConstraint("symbol", "trade_id"),
    Index(None, "maker_user_id", "symbol", "trade_id"),
    Index(None, "taker_user_id", "symbol", "trade_id"),
)

# One row per leg; (stream, seq, posting_idx, leg_idx) says exactly where it came from.
ledger_postings = Table(
    "ledger_postings",
    metadata,
    Column("stream", String(128), nullable=False),
    Column("seq", BigInteger, nullable=False, autoincrement=False),
    Column("posting_idx", Integer, nullable=False, autoincrement=False),
    Column("leg_idx", Integer, nullable=False, autoincrement=False),
    Column("kind", String(32), nullable=False),
    Column("ref", String(128), nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("account", String(ENUM), nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("asset", String(SYMBOL), nullable=False),
    Column("amount", Amount, nullable=False),
    PrimaryKeyConstraint("stream", "seq", "posting_idx", "leg_idx"),
    Index(None, "user_id", "asset"),
)

balances = Table(
    "balances",
    metadata,
    Column("user_id", BigInteger, nullable=False, autoincrement=False),
    Column("account", String(ENUM), nullable=False),
    Column("asset", String(SYMBOL), nullable=False),
    Column("amount", Amount, nullable=False),
    PrimaryKeyConstraint("user_id", "account", "asset"),
)

projector_checkpoints = Table(
    "projector_checkpoints",
    metadata,
    Column("projector", String(64), nullable=False),
    Column("stream", String(128), nullable=False),
    Column("seq", BigInteger, nullable=False),
    PrimaryKeyConstraint("projector", "stream"),
)
