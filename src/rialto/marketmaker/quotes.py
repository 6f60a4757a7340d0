"""Markets as the bot sees them (from exchangeInfo), and quotes rounded onto their grid."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Literal

Side = Literal["BUY", "SELL"]
BUY: Side = "BUY"
SELL: Side = "SELL"


@dataclass(frozen=True)
class MarketSpec:
    symbol: str
    base: str
    quote: str
    tick: Decimal
    step: Decimal
    min_qty: Decimal = Decimal(0)
    min_notional: Decimal = Decimal(0)

    def price(self, p: float, side: Side) -> Decimal:
        """Onto the tick grid, away from the mid (bids down, asks up): never tighter."""
        mode = ROUND_FLOOR if side == BUY else ROUND_CEILING
        return (Decimal(repr(p)) / self.tick).to_integral_value(mode) * self.tick

    def qty(self, q: float | Decimal) -> Decimal:
        d = q if isinstance(q, Decimal) else Decimal(repr(q))
        return (d / self.step).to_integral_value(ROUND_FLOOR) * self.step

    def smallest(self, price: Decimal) -> Decimal:
        """The least quantity the venue takes at ``price`` (min qty and min notional)."""
        by_notional = (self.min_notional / price / self.step).to_integral_value(ROUND_CEILING)
        return max(self.min_qty, by_notional * self.step, self.step)

    def tradable(self, price: Decimal, qty: Decimal) -> bool:
        return qty > 0 and qty >= self.min_qty and price > 0 and price * qty >= self.min_notional


@dataclass(frozen=True)
class Quote:
    side: Side
    price: Decimal
    qty: Decimal
    level: int = 0  # 0 is nearest the mid

    @property
    def notional(self) -> Decimal:
        return self.price * self.qty


def crosses(bids: list[Quote], asks: list[Quote]) -> bool:
    """True when some bid is at or above some ask: the bot would trade with itself."""
    if not bids or not asks:
        return False
    return max(q.price for q in bids) >= min(q.price for q in asks)
