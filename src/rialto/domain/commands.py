"""Commands to a matching engine. Integers only; the sequencer stamps ``seq`` and ``ts``.

``ts`` is milliseconds since the epoch, chosen by the sequencer: the engine never
reads a clock.
"""

from __future__ import annotations

from typing import NamedTuple

from rialto.domain.orders import MarketStatus, OrderType, SelfTradePrevention, Side, TimeInForce


class PlaceOrder(NamedTuple):
    seq: int
    ts: int
    user_id: int
    side: Side
    order_type: OrderType
    qty: int = 0  # lots; 0 for a market order sized by quote_qty
    price: int = 0  # ticks; 0 for market orders
    tif: TimeInForce = TimeInForce.GTC
    quote_qty: int = 0  # notional units (ticks x lots), market orders only
    stop_price: int = 0  # ticks, stop orders only
    client_order_id: str = ""
    stp: SelfTradePrevention | None = None  # None: the instrument's default
    # Market-type orders only: the funds held for them. A buy spends at most ``cap``
    # notional units, a sell sells at most ``cap`` lots; 0 is no cap.
    cap: int = 0


class CancelOrder(NamedTuple):
    """Cancel by ``order_id``, or by ``client_order_id`` when ``order_id`` is 0."""

    seq: int
    ts: int
    user_id: int
    order_id: int = 0
    client_order_id: str = ""


class CancelAll(NamedTuple):
    seq: int
    ts: int
    user_id: int


class AmendOrder(NamedTuple):
    """Change a resting order's price and/or total quantity (0 = unchanged).

    ``qty`` is the new original quantity. Lowering it keeps queue priority;
    raising it or changing the price sends the order to the back (and it may trade).
    """

    seq: int
    ts: int
    user_id: int
    order_id: int
    price: int = 0
    qty: int = 0


class SetMarketStatus(NamedTuple):
    seq: int
    ts: int
    status: MarketStatus


class SetMarketRisk(NamedTuple):
    """The price band and circuit breaker settings (see rialto.domain.risk.MarketRisk)."""

    seq: int
    ts: int
    band_bps: int = 0
    breaker_bps: int = 0
    window_ms: int = 0
    cooling_ms: int = 0


class ResumeMarket(NamedTuple):
    """Ends a circuit-breaker halt if its cooling period is over at ``ts``; else nothing."""

    seq: int
    ts: int


Command = (
    PlaceOrder
    | CancelOrder
    | CancelAll
    | AmendOrder
    | SetMarketStatus
    | SetMarketRisk
    | ResumeMarket
)
