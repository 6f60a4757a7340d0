"""What a matching engine emits, in order, for each command."""

from __future__ import annotations

from typing import NamedTuple

from rialto.domain.orders import (
    MarketStatus,
    OrderStatus,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from rialto.domain.rejects import Reject


class OrderAccepted(NamedTuple):
    """An order entered the engine (resting, about to match, or a pending stop)."""

    seq: int
    ts: int
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
    cap: int = 0  # market-type orders: the funds held (see PlaceOrder.cap)


class OrderRejected(NamedTuple):
    """A command was refused and changed nothing. ``order_id`` is 0 for a refused placement."""

    seq: int
    ts: int
    user_id: int
    order_id: int
    client_order_id: str
    reason: Reject


class Trade(NamedTuple):
    """A match at the maker's price. ``qty`` in lots, ``price`` in ticks."""

    seq: int
    ts: int
    trade_id: int
    price: int
    qty: int
    maker_order_id: int
    taker_order_id: int
    maker_user_id: int
    taker_user_id: int
    taker_side: Side


class OrderUpdate(NamedTuple):
    """An order's new state: cumulative ``filled`` (lots) and ``filled_quote`` (notional)."""

    seq: int
    ts: int
    order_id: int
    user_id: int
    client_order_id: str
    side: Side
    status: OrderStatus
    price: int
    qty: int
    remaining: int
    filled: int
    filled_quote: int


class OrderAmended(NamedTuple):
    seq: int
    ts: int
    order_id: int
    user_id: int
    client_order_id: str
    side: Side
    old_price: int
    old_qty: int
    price: int
    qty: int
    remaining: int
    kept_priority: bool


class StopTriggered(NamedTuple):
    seq: int
    ts: int
    order_id: int
    user_id: int
    stop_price: int
    last_price: int


class BookDelta(NamedTuple):
    """The new total quantity at one price level; ``qty`` 0 removes the level.

    ``update_id`` increases by exactly one per delta, per symbol, so a client can
    sync a local book with Binance's depth procedure.
    """

    update_id: int
    side: Side
    price: int
    qty: int


class MarketStatusChanged(NamedTuple):
    seq: int
    ts: int
    status: MarketStatus
    until: int = 0  # BREAK: when the cooling period ends (ms); 0 otherwise


Event = (
    OrderAccepted
    | OrderRejected
    | Trade
    | OrderUpdate
    | OrderAmended
    | StopTriggered
    | BookDelta
    | MarketStatusChanged
)
