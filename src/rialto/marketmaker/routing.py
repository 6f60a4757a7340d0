"""Smart order routing of a hedge across external venues: best price after fees, split by
depth. Pure: books in, child orders out."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from rialto.marketmaker.quotes import BUY, Side

Level = tuple[Decimal, Decimal]  # price, qty


@dataclass(frozen=True)
class VenueBook:
    venue: str
    bids: list[Level]  # best first
    asks: list[Level]
    taker_fee: Decimal
    step: Decimal = Decimal("0.00000001")
    min_qty: Decimal = Decimal(0)


@dataclass(frozen=True)
class Child:
    venue: str
    side: Side
    qty: Decimal
    limit: Decimal  # the worst level taken: an IOC at this price takes just these levels
    cost: Decimal  # quote paid (buy) or received (sell), fees included


def route(
    side: Side, qty: Decimal, books: list[VenueBook], limit: Decimal | None = None
) -> list[Child]:
    """Take the cheapest levels across ``books`` (after each venue's taker fee) until ``qty``
    is done or ``limit`` (a price after fees) is reached; one child order per venue."""
    levels: list[tuple[Decimal, Decimal, Decimal, VenueBook]] = []
    for b in books:
        for price, size in b.asks if side == BUY else b.bids:
            eff = price * (1 + b.taker_fee) if side == BUY else price * (1 - b.taker_fee)
            levels.append((eff, price, size, b))
    levels.sort(key=lambda t: t[0], reverse=side != BUY)
    left = qty
    taken: dict[str, list[Decimal]] = {}  # venue -> [qty, worst price, cost]
    for eff, price, size, b in levels:
        if left <= 0:
            break
        if limit is not None and (eff > limit if side == BUY else eff < limit):
            break
        take = min(size, left)
        t = taken.setdefault(b.venue, [Decimal(0), price, Decimal(0)])
        t[0] += take
        t[1] = max(t[1], price) if side == BUY else min(t[1], price)
        t[2] += take * eff
        left -= take
    out = []
    by_name = {b.venue: b for b in books}
    for venue, (q, worst, cost) in taken.items():
        b = by_name[venue]
        q = (q / b.step).to_integral_value(rounding="ROUND_FLOOR") * b.step
        if q > 0 and q >= b.min_qty:
            out.append(Child(venue, side, q, worst, cost))
    return sorted(out, key=lambda c: c.venue)
