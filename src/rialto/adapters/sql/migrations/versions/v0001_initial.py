"""The first schema: users, assets, instruments, orders, trades, ledger, balances, checkpoints.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from rialto.adapters.sql.types import Amount

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _strings(*names: str, length: int = 64) -> list[sa.Column[str]]:
    return [sa.Column(name, sa.String(length), nullable=False) for name in names]


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created_ts", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("email", name="uq_users_email"),
    )
    op.create_table(
        "assets",
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("decimals", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("symbol", name="pk_assets"),
    )
    op.create_table(
        "instruments",
        *_strings("symbol", "base", "quote", length=32),
        *_strings(
            "tick_size",
            "step_size",
            "min_price",
            "max_price",
            "min_qty",
            "max_qty",
            "market_min_qty",
            "market_max_qty",
            "min_notional",
            "maker_fee",
            "taker_fee",
        ),
        sa.Column("base_precision", sa.Integer, nullable=False),
        sa.Column("quote_precision", sa.Integer, nullable=False),
        *_strings("status", "default_stp", length=24),
        sa.Column("allowed_stp", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("symbol", name="pk_instruments"),
    )
    op.create_table(
        "orders",
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("order_id", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("user_id", sa.BigInteger, nullable=False),
        sa.Column("client_order_id", sa.String(64), nullable=False),
        *_strings("side", "order_type", "tif", length=24),
        sa.Column("price", Amount, nullable=False),
        sa.Column("qty", Amount, nullable=False),
        sa.Column("quote_qty", Amount, nullable=False),
        sa.Column("stop_price", Amount, nullable=False),
        *_strings("stp", "status", length=24),
        sa.Column("remaining", Amount, nullable=False),
        sa.Column("filled", Amount, nullable=False),
        sa.Column("filled_quote", Amount, nullable=False),
        sa.Column("created_ts", sa.BigInteger, nullable=False),
        sa.Column("updated_ts", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("symbol", "order_id", name="pk_orders"),
    )
    op.create_index("ix_orders_user_id_symbol", "orders", ["user_id", "symbol"])
    op.create_table(
        "trades",
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("trade_id", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("price", Amount, nullable=False),
        sa.Column("qty", Amount, nullable=False),
        sa.Column("maker_order_id", sa.BigInteger, nullable=False),
        sa.Column("taker_order_id", sa.BigInteger, nullable=False),
        sa.Column("maker_user_id", sa.BigInteger, nullable=False),
        sa.Column("taker_user_id", sa.BigInteger, nullable=False),
        sa.Column("taker_side", sa.String(24), nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("symbol", "trade_id", name="pk_trades"),
    )
    for role in ("maker", "taker"):
        op.create_index(
            f"ix_trades_{role}_user_id_symbol_trade_id",
            "trades",
            [f"{role}_user_id", "symbol", "trade_id"],
        )
    op.create_table(
        "ledger_postings",
        sa.Column("stream", sa.String(128), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("posting_idx", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("leg_idx", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("ref", sa.String(128), nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("account", sa.String(24), nullable=False),
        sa.Column("user_id", sa.BigInteger, nullable=False),
        sa.Column("asset", sa.String(32), nullable=False),
        sa.Column("amount", Amount, nullable=False),
        sa.PrimaryKeyConstraint(
            "stream", "seq", "posting_idx", "leg_idx", name="pk_ledger_postings"
        ),
    )
    op.create_index("ix_ledger_postings_user_id_asset", "ledger_postings", ["user_id", "asset"])
    op.create_table(
        "balances",
        sa.Column("user_id", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("account", sa.String(24), nullable=False),
        sa.Column("asset", sa.String(32), nullable=False),
        sa.Column("amount", Amount, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "account", "asset", name="pk_balances"),
    )
    op.create_table(
        "projector_checkpoints",
        sa.Column("projector", sa.String(64), nullable=False),
        sa.Column("stream", sa.String(128), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("projector", "stream", name="pk_projector_checkpoints"),
    )


def downgrade() -> None:
    for table in (
        "projector_checkpoints",
        "balances",
        "ledger_postings",
        "trades",
        "orders",
        "instruments",
        "assets",
        "users",
    ):
        op.drop_table(table)
