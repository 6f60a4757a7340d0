"""Order vocabulary (Binance's enum names) and the mutable order record."""

from __future__ import annotations

from enum import StrEnum


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    LIMIT = "LIMIT"
    MARKET = "MARKET"
    LIMIT_MAKER = "LIMIT_MAKER"
    STOP_LOSS = "STOP_LOSS"
    STOP_LOSS_LIMIT = "STOP_LOSS_LIMIT"
    TAKE_PROFIT = "TAKE_PROFIT"
    TAKE_PROFIT_LIMIT = "TAKE_PROFIT_LIMIT"


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"


class SelfTradePrevention(StrEnum):
    NONE = "NONE"
    EXPIRE_TAKER = "EXPIRE_TAKER"
    EXPIRE_MAKER = "EXPIRE_MAKER"
    EXPIRE_BOTH = "EXPIRE_BOTH"


class OrderStatus(StrEnum):
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    EXPIRED_IN_MATCH = "EXPIRED_IN_MATCH"  # expired by self-trade prevention
    REJECTED = "REJECTED"


class MarketStatus(StrEnum):
    TRADING = "TRADING"
    HALT = "HALT"  # by the operator, until the operator resumes it
    BREAK = "BREAK"  # by the circuit breaker, for its cooling period (Binance's name)


STOP_TYPES = frozenset(
    {
        OrderType.STOP_LOSS,
        OrderType.STOP_LOSS_LIMIT,
        OrderType.TAKE_PROFIT,
        OrderType.TAKE_PROFIT_LIMIT,
    }
)
LIMIT_PRICED_TYPES = frozenset(
    {OrderType.LIMIT, OrderType.LIMIT_MAKER, OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT_LIMIT}
)
FINAL_STATUSES = frozenset(
    {
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.EXPIRED,
        OrderStatus.EXPIRED_IN_MATCH,
        OrderStatus.REJECTED,
    }
)


def triggers_on_fall(side: Side, order_type: OrderType) -> bool:
    """Whether a stop order triggers when the last price falls to its stop price.

    Binance: a sell STOP_LOSS and a buy TAKE_PROFIT trigger at ``last <= stop``;
    a buy STOP_LOSS and a sell TAKE_PROFIT at ``last >= stop``.
    """
    is_stop_loss = order_type in (OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT)
    return is_stop_loss == (side is Side.SELL)


class Order:
    """One order as the engine holds it. Quantities in lots, prices in ticks.

    ``quote_qty`` and ``filled_quote`` are in notional units (ticks x lots).
    ``qty`` is 0 for a market order sized by quote amount.
    """

    __slots__ = (
        "cap",
        "client_order_id",
        "filled",
        "filled_quote",
        "order_id",
        "order_type",
        "price",
        "qty",
        "quote_qty",
        "remaining",
        "seq",
        "side",
        "status",
        "stop_price",
        "stp",
        "tif",
        "ts",
        "user_id",
    )

    def __init__(
        self,
        order_id: int,
        user_id: int,
        client_order_id: str,
        side: Side,
        order_type: OrderType,
        tif: TimeInForce,
        price: int,
        qty: int,
        quote_qty: int,
        stop_price: int,
        stp: SelfTradePrevention,
        seq: int,
        ts: int,
        cap: int = 0,
    ) -> None:
        self.order_id = order_id
        self.user_id = user_id
        self.client_order_id = client_order_id
        self.side = side
        self.order_type = order_type
        self.tif = tif
        self.price = price
        self.qty = qty
        self.quote_qty = quote_qty
        self.stop_price = stop_price
        self.stp = stp
        self.seq = seq
        self.ts = ts
        self.cap = cap  # market-type orders: most a buy may spend (notional), a sell sell (lots)
        self.remaining = qty
        self.filled = 0
        self.filled_quote = 0
        self.status = OrderStatus.NEW

    def to_row(self) -> list[object]:
        return [getattr(self, name) for name in _ROW]

    @classmethod
    def from_row(cls, row: list[object]) -> Order:
        order = cls.__new__(cls)
        for name, value in zip(_ROW, row, strict=True):
            if name in _INT_FIELDS and (type(value) is not int):
                raise ValueError(f"order field {name} must be an integer, got {value!r}")
            setattr(order, name, value)
        order.side = Side(order.side)
        order.order_type = OrderType(order.order_type)
        order.tif = TimeInForce(order.tif)
        order.stp = SelfTradePrevention(order.stp)
        order.status = OrderStatus(order.status)
        return order

    def __repr__(self) -> str:
        return (
            f"Order(id={self.order_id}, user={self.user_id}, {self.side} {self.order_type} "
            f"{self.remaining}/{self.qty}@{self.price}, {self.status})"
        )


_ROW = (
    "order_id",
    "user_id",
    "client_order_id",
    "side",
    "order_type",
    "tif",
    "price",
    "qty",
    "quote_qty",
    "stop_price",
    "stp",
    "seq",
    "ts",
    "remaining",
    "filled",
    "filled_quote",
    "status",
    "cap",
)
_INT_FIELDS = frozenset(
    {
        "order_id",
        "user_id",
        "price",
        "qty",
        "quote_qty",
        "stop_price",
        "seq",
        "ts",
        "remaining",
        "filled",
        "filled_quote",
        "cap",
    }
)
