"""Why a command was refused, with the Binance error each reason maps to."""

from __future__ import annotations

from enum import StrEnum


class Reject(StrEnum):
    PRICE_FILTER = "PRICE_FILTER"
    PERCENT_PRICE_BY_SIDE = "PERCENT_PRICE_BY_SIDE"
    LOT_SIZE = "LOT_SIZE"
    MARKET_LOT_SIZE = "MARKET_LOT_SIZE"
    NOTIONAL = "NOTIONAL"
    MARKET_CLOSED = "MARKET_CLOSED"
    WOULD_TAKE = "WOULD_TAKE"
    WOULD_TRIGGER_IMMEDIATELY = "WOULD_TRIGGER_IMMEDIATELY"
    DUPLICATE_ORDER = "DUPLICATE_ORDER"
    UNKNOWN_ORDER = "UNKNOWN_ORDER"
    INVALID_ORDER = "INVALID_ORDER"
    STP_MODE_NOT_ALLOWED = "STP_MODE_NOT_ALLOWED"
    AMEND_NOT_ALLOWED = "AMEND_NOT_ALLOWED"
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
    PRECISION = "PRECISION"
    INVALID_SYMBOL = "INVALID_SYMBOL"
    USER_EXISTS = "USER_EXISTS"
    UNKNOWN_API_KEY = "UNKNOWN_API_KEY"


# (code, msg) exactly as Binance words them; ccxt maps several of them by text.
BINANCE_ERRORS: dict[Reject, tuple[int, str]] = {
    Reject.PRICE_FILTER: (-1013, "Filter failure: PRICE_FILTER"),
    Reject.PERCENT_PRICE_BY_SIDE: (-1013, "Filter failure: PERCENT_PRICE_BY_SIDE"),
    Reject.LOT_SIZE: (-1013, "Filter failure: LOT_SIZE"),
    Reject.MARKET_LOT_SIZE: (-1013, "Filter failure: MARKET_LOT_SIZE"),
    Reject.NOTIONAL: (-1013, "Filter failure: NOTIONAL"),
    Reject.MARKET_CLOSED: (-1013, "Market is closed."),
    Reject.WOULD_TAKE: (-2010, "Order would immediately match and take."),
    Reject.WOULD_TRIGGER_IMMEDIATELY: (-2010, "Order would trigger immediately."),
    Reject.DUPLICATE_ORDER: (-2010, "Duplicate order sent."),
    Reject.UNKNOWN_ORDER: (-2011, "Unknown order sent."),
    Reject.INVALID_ORDER: (-1013, "Invalid order."),
    Reject.STP_MODE_NOT_ALLOWED: (
        -1013,
        "This symbol does not allow the specified self-trade prevention mode.",
    ),
    Reject.AMEND_NOT_ALLOWED: (-2038, "Order amend rejected: the order cannot be amended."),
    Reject.INSUFFICIENT_BALANCE: (-2010, "Account has insufficient balance for requested action."),
    Reject.PRECISION: (-1111, "Precision is over the maximum defined for this asset."),
    Reject.INVALID_SYMBOL: (-1121, "Invalid symbol."),
    # Not a Binance error: Binance has no sign-up API.
    Reject.USER_EXISTS: (-9001, "A user with this email already exists."),
    Reject.UNKNOWN_API_KEY: (-2015, "Invalid API-key, IP, or permissions for action."),
}


class FilterError(ValueError):
    """A wire value that parses but breaks one of the symbol's filters."""

    def __init__(self, reason: Reject) -> None:
        self.reason = reason
        super().__init__(BINANCE_ERRORS[reason][1])
