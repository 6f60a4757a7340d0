"""What the store's queries return: plain typed rows, integers inside."""

from __future__ import annotations

from typing import NamedTuple

from rialto.domain.orders import OrderStatus, OrderType, SelfTradePrevention, Side, TimeInForce
from rialto.domain.postings import AccountKind


class UserRow(NamedTuple):
    id: int
    email: str
    password_hash: str
    created_ts: int


class OrderRow(NamedTuple):
    """An order as last projected. Prices in ticks, quantities in lots, quote in notional."""

    symbol: str
    order_id: int
    user_id: int
    client_order_id: str
    side: Side
    order_type: OrderType
    tif: TimeInForce
    price: int
    qty: int
    quote_qty: int
    stop_price: int
    stp: SelfTradePrevention
    status: OrderStatus
    remaining: int
    filled: int
    filled_quote: int
    created_ts: int
    updated_ts: int


class TradeRow(NamedTuple):
    symbol: str
    trade_id: int
    price: int
    qty: int
    maker_order_id: int
    taker_order_id: int
    maker_user_id: int
    taker_user_id: int
    taker_side: Side
    ts: int


class PostingRow(NamedTuple):
    """One leg of a posting, with where it came from: (stream, seq, posting_idx, leg_idx)."""

    stream: str
    seq: int
    posting_idx: int
    leg_idx: int
    kind: str
    ref: str
    ts: int
    account: AccountKind
    user_id: int
    asset: str
    amount: int


class BalanceRow(NamedTuple):
    """The natural balance of one ledger account, in the asset's minor units."""

    user_id: int
    account: AccountKind
    asset: str
    amount: int
