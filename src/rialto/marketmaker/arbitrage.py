"""Cross-venue arbitrage: buy where it is cheap, sell where it is dear, when the gap is
wider than both taker fees and a margin. Pure: books in, an opportunity out."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from rialto.marketmaker.routing import Level


@dataclass(frozen=True)
class Opportunity:
    buy_venue: str
    sell_venue: str
    qty: Decimal
    buy_limit: Decimal  # worst ask taken on the buy venue
    sell_limit: Decimal  # worst bid taken on the sell venue
    profit: Decimal  # in the quote asset, fees included


def find(
    venue_a: str,
    a_bids: list[Level],
    a_asks: list[Level],
    a_fee: Decimal,
    venue_b: str,
    b_bids: list[Level],
    b_asks: list[Level],
    b_fee: Decimal,
    min_profit_bps: float,
    max_qty: Decimal,
    step: Decimal,
) -> Opportunity | None:
    """The better of buying on A and selling on B, or the reverse; None if neither pays."""
    best = None
    for buy_v, asks, fb, sell_v, bids, fs in (
        (venue_a, a_asks, a_fee, venue_b, b_bids, b_fee),
        (venue_b, b_asks, b_fee, venue_a, a_bids, a_fee),
    ):
        o = _walk(buy_v, asks, fb, sell_v, bids, fs, min_profit_bps, max_qty, step)
        if o is not None and (best is None or o.profit > best.profit):
            best = o
    return best


def _walk(
    buy_v: str,
    asks: list[Level],
    fb: Decimal,
    sell_v: str,
    bids: list[Level],
    fs: Decimal,
    min_profit_bps: float,
    max_qty: Decimal,
    step: Decimal,
) -> Opportunity | None:
    margin = Decimal(repr(min_profit_bps)) / 10_000
    i = j = 0
    a_left = asks[0][1] if asks else Decimal(0)
    b_left = bids[0][1] if bids else Decimal(0)
    qty = profit = Decimal(0)
    buy_limit = sell_limit = Decimal(0)
    while i < len(asks) and j < len(bids) and qty < max_qty:
        ask, bid = asks[i][0], bids[j][0]
        cost, gain = ask * (1 + fb), bid * (1 - fs)
        if gain <= cost * (1 + margin):
            break
        take = min(a_left, b_left, max_qty - qty)
        qty += take
        profit += take * (gain - cost)
        buy_limit, sell_limit = ask, bid
        a_left -= take
        b_left -= take
        if a_left <= 0:
            i += 1
            a_left = asks[i][1] if i < len(asks) else Decimal(0)
        if b_left <= 0:
            j += 1
            b_left = bids[j][1] if j < len(bids) else Decimal(0)
    qty = (qty / step).to_integral_value(rounding="ROUND_FLOOR") * step
    if qty <= 0:
        return None
    return Opportunity(buy_v, sell_v, qty, buy_limit, sell_limit, profit)
