"""Exchange-level risk controls of one market: a price band and a circuit breaker.

Integers only: percentages in basis points (1 bp = 0.01%), times in milliseconds of the
sequencer's clock (the ``ts`` on each command). See docs/matching.md, "Risk controls".
"""

from __future__ import annotations

from typing import NamedTuple

BPS = 10_000  # basis points in 100%
MAX_BPS = 100 * BPS  # 10000%: beyond it a band or breaker means nothing
MAX_MS = 7 * 24 * 3600 * 1000  # a week: the longest window or cooling period


class MarketRisk(NamedTuple):
    """A market's risk settings; every one 0 (off) by default.

    ``band_bps``: a priced order more than this away from the last trade price is refused
    (and a market order trades no further than this). ``breaker_bps``: a trade more than
    this away from the price the market stood at ``window_ms`` earlier halts the market
    (status BREAK) for ``cooling_ms``.
    """

    band_bps: int = 0
    breaker_bps: int = 0
    window_ms: int = 0
    cooling_ms: int = 0

    def check(self) -> None:
        """Raise ValueError unless these settings make sense."""
        if any(type(v) is not int for v in self):
            raise ValueError(f"risk settings are integers: {self!r}")
        if not (0 <= self.band_bps <= MAX_BPS and 0 <= self.breaker_bps <= MAX_BPS):
            raise ValueError(f"a band or breaker is between 0 and {MAX_BPS} bps")
        if not (0 <= self.window_ms <= MAX_MS and 0 <= self.cooling_ms <= MAX_MS):
            raise ValueError(f"a window or cooling period is between 0 and {MAX_MS} ms")
        if self.breaker_bps and not (self.window_ms and self.cooling_ms):
            raise ValueError("a circuit breaker needs a window and a cooling period")

    @property
    def breaker(self) -> bool:
        return self.breaker_bps > 0


OFF = MarketRisk()


def band(reference: int, bps: int) -> tuple[int, int]:
    """``(low, high)``: the prices (ticks) at most ``bps`` away from ``reference``, inclusive."""
    high = reference * (BPS + bps) // BPS
    low = max(1, -(-reference * (BPS - bps) // BPS))  # rounded up: never below the bound
    return low, high
