"""One market's quoting model: AMM pool + volatility + inventory skew -> a ladder.

:class:`MarketModel` holds the mutable state (the pool, the volatility estimate, the
reference); :func:`ladder` is the pure function from a state to the ladder it wants
before risk limits (:mod:`.risk`) trim it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from rialto.marketmaker.amm import Pool
from rialto.marketmaker.config import StrategyParams
from rialto.marketmaker.quotes import BUY, SELL, MarketSpec, Quote
from rialto.marketmaker.reference import Reference
from rialto.marketmaker.volatility import Ewma, half_spread_bps, size_multiplier


@dataclass
class MarketModel:
    spec: MarketSpec
    params: StrategyParams
    reference: Reference
    pool: Pool | None = None
    vol: Ewma = field(init=False)
    lo: float = 0.0
    hi: float = float("inf")
    sampled_ms: int = 0

    def __post_init__(self) -> None:
        self.vol = Ewma(self.params.vol_window)

    def center(self, now_ms: int) -> float | None:
        """The pool price after pulling it toward the reference; starts the pool if need be.

        Volatility is sampled from this centre on a clock, not from trades: trades bounce
        between the bot's bid and ask, and that bounce is the spread, not risk.
        """
        ref = self.reference.price(now_ms)
        if self.pool is None:
            if ref is None:
                return None
            self.pool = Pool.with_base(self.params.pool_base, ref)
            r = self.params.range_pct / 100
            self.lo = self.params.price_min or ref * (1 - r)
            self.hi = self.params.price_max or ref * (1 + r)
        if ref is not None:
            external = self.reference.source(now_ms) == "external"
            self.pool.anchor(ref, self.params.anchor if external else self.params.trade_anchor)
        if now_ms - self.sampled_ms >= self.params.vol_sample_s * 1000:
            self.sampled_ms = now_ms
            self.vol.update(self.pool.price)
        return self.pool.price

    def on_fill(self, side: str, qty: float, price: float) -> None:
        """Our order of ``side`` filled: the pool sold base when our ask was hit."""
        if self.pool is not None:
            self.pool.fill(side == SELL, qty, price)
        self.reference.on_trade(price)


def ladder(
    model: MarketModel, center: float, position: float, max_position: float | None
) -> list[Quote]:
    """Bids below and asks above ``center``, nearest first on each side.

    Spread from volatility, sizes from the curve times the volatility multiplier, the
    centre skewed and the growing side shrunk by inventory, all inside the price bounds.
    """
    p, spec, pool = model.params, model.spec, model.pool
    if pool is None or center <= 0:
        return []
    sigma = model.vol.sigma
    half = half_spread_bps(sigma, p.min_spread_bps, p.max_spread_bps, p.vol_spread_mult) / 1e4
    size = size_multiplier(sigma, p.vol_size_ref_bps, p.min_size_fraction)
    inv = 0.0
    if max_position:
        inv = max(-1.0, min(1.0, position / max_position))
    mid = center * (1 - p.skew_bps * inv / 1e4)  # long: lower quotes, to sell
    bid_mult = size * min(1.0, 1.0 - inv)  # long: buy less
    ask_mult = size * min(1.0, 1.0 + inv)  # short: sell less
    step = p.level_step_bps / 1e4
    # A level shows what the curve trades over one level step ending at its price: a wider
    # spread moves the ladder out without making its first level bigger.
    width = step or half
    out: list[Quote] = []
    for i in range(p.levels):
        bid_px = mid * (1 - half - i * step)
        ask_px = mid * (1 + half + i * step)
        if bid_px >= model.lo and bid_mult > 0:
            price = spec.price(bid_px, BUY)
            curve = pool.base_between(bid_px, bid_px * (1 + width))
            qty = _size(spec, price, curve, bid_mult)
            if spec.tradable(price, qty):
                out.append(Quote(BUY, price, qty, i))
        if ask_px <= model.hi and ask_mult > 0:
            price = spec.price(ask_px, SELL)
            curve = pool.base_between(ask_px * (1 - width), ask_px)
            qty = _size(spec, price, curve, ask_mult)
            if spec.tradable(price, qty):
                out.append(Quote(SELL, price, qty, i))
    bids = [q for q in out if q.side == BUY]
    asks = [q for q in out if q.side == SELL]
    if bids and asks and bids[0].price >= asks[0].price:  # rounding met in the middle
        bids = [q for q in bids if q.price < asks[0].price]
    return bids + asks


def _size(spec: MarketSpec, price: Decimal, curve: float, mult: float) -> Decimal:
    """The curve's size scaled by ``mult``; volatility shrinks a level to the venue's
    minimum, not away (inventory can still take it to nothing: ``mult`` 0)."""
    qty = spec.qty(curve * mult)
    if mult > 0 and spec.tradable(price, spec.qty(curve)):
        qty = max(qty, spec.smallest(price))
    return qty
