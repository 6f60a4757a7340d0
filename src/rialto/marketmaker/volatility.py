"""Realised volatility as an EWMA of squared log returns, and what it does to quotes."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Ewma:
    """Per-observation sigma of log returns; ``window`` observations ~ the EWMA's memory."""

    window: int
    variance: float = 0.0
    last: float | None = None
    count: int = 0

    @property
    def alpha(self) -> float:
        return 2.0 / (self.window + 1)

    def update(self, price: float) -> float:
        if price <= 0:
            return self.sigma
        if self.last is not None and price != self.last:
            r = math.log(price / self.last)
            a = self.alpha if self.count else 1.0
            self.variance = (1 - a) * self.variance + a * r * r
            self.count += 1
        elif self.last is not None:  # an unchanged price is a zero return: calm decays
            self.variance *= 1 - self.alpha
        self.last = price
        return self.sigma

    @property
    def sigma(self) -> float:
        return math.sqrt(self.variance)


def half_spread_bps(
    sigma: float, min_spread_bps: float, max_spread_bps: float, mult: float
) -> float:
    """Half the quoted spread: the floor's half plus ``mult`` x sigma (in bps), capped."""
    return min(max_spread_bps, min_spread_bps + 2 * mult * sigma * 1e4) / 2


def size_multiplier(sigma: float, ref_bps: float, floor: float) -> float:
    """1 when calm, 1/2 at sigma = ``ref_bps``, never below ``floor``."""
    if ref_bps <= 0:
        return 1.0
    return max(floor, 1.0 / (1.0 + sigma * 1e4 / ref_bps))
