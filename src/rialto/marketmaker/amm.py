"""A constant-product (x*y=k) virtual pool, the shape of the quoted ladder.

The pool holds ``x`` base and ``y`` quote with ``x * y = L**2`` and price ``y / x``. In a
price range [a, b] it would trade ``L * (1/sqrt(a) - 1/sqrt(b))`` base: that is the size the
ladder shows at a level spanning that range. Fills move the pool as they would move a real
one; the reference price can pull it back (``anchor``). Nothing here touches money: the
pool is a shape, the orders are rounded to ticks and lots by the strategy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Pool:
    liquidity: float  # L = sqrt(k)
    price: float  # y / x

    @classmethod
    def with_base(cls, base: float, price: float) -> Pool:
        """A pool holding ``base`` units at ``price``: L = x * sqrt(P)."""
        if base <= 0 or price <= 0:
            raise ValueError("a pool needs positive base and price")
        return cls(base * math.sqrt(price), price)

    @property
    def base(self) -> float:
        return self.liquidity / math.sqrt(self.price)

    @property
    def quote(self) -> float:
        return self.liquidity * math.sqrt(self.price)

    def base_between(self, a: float, b: float) -> float:
        """Base the curve trades between prices ``a`` and ``b`` (either order)."""
        lo, hi = (a, b) if a <= b else (b, a)
        if lo <= 0:
            return 0.0
        return self.liquidity * (1 / math.sqrt(lo) - 1 / math.sqrt(hi))

    def fill(self, pool_sells_base: bool, qty: float, price: float) -> None:
        """A fill of ``qty`` base at ``price`` on the pool's ladder moves the pool.

        Selling base at a price above the pool's (an ask lifted) raises the price; the
        reserves change by exactly the fill, so k grows by the spread earned.
        """
        x, y = self.base, self.quote
        if pool_sells_base:
            x, y = x - qty, y + qty * price
        else:
            x, y = x + qty, y - qty * price
        # A fill larger than the curve's reserve (sizes were scaled up): keep a sliver.
        x = max(x, self.base * 1e-6)
        y = max(y, self.quote * 1e-6)
        self.liquidity = math.sqrt(x * y)
        self.price = y / x

    def anchor(self, reference: float, weight: float) -> None:
        """Move the price toward ``reference`` geometrically (weight 1: to it), keeping k."""
        if reference > 0 and weight > 0:
            self.price = math.exp(
                (1 - weight) * math.log(self.price) + weight * math.log(reference)
            )
