"""From the ladder the bot wants and the orders it has live to cancels and places.

Three ways to carry a plan out, the fastest that is safe. All at once: cancels and places
sent together (one round trip), when old and new orders standing together are within the
limits and no quote meets one of the other side. Swaps (:func:`pair`): each stale order is
replaced by a new one in a single cancelReplace, so each side keeps its depth while it
moves; each slot holds the old order or the new one, never both; taken when the larger of
each pair, with everything else, is within the limits. Otherwise cancels first, places
after the cancels are answered: the old and the new ladder are never both on the book.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from rialto.marketmaker.quotes import BUY, SELL, Quote, Side, crosses


@dataclass(frozen=True)
class Live:
    order_id: str
    side: Side
    price: Decimal
    qty: Decimal  # remaining


@dataclass(frozen=True)
class Plan:
    cancels: list[str]
    places: list[Quote]
    kept: list[Live]
    old: list[Live] = field(default_factory=list)  # the live orders to cancel

    @property
    def empty(self) -> bool:
        return not self.cancels and not self.places


def plan(desired: list[Quote], live: list[Live], tolerance: float, keep_bps: float = 0.0) -> Plan:
    """Keep a live order that matches a wanted quote; cancel the rest; place what is not kept.

    A match has the wanted side, a remaining size in [(1 - tolerance) x wanted, wanted], a
    notional no larger than the wanted one, and the wanted price, or one within
    ``keep_bps`` of it (at the touch, level 0, only a less aggressive one: the spread never
    narrows). Fewer orders re-sent is a faster re-quote.
    """
    out = _plan(desired, live, Decimal(repr(tolerance)), Decimal(repr(keep_bps)) / 10_000)
    if out is None:  # a near match would meet the other side: match exactly
        out = _plan(desired, live, Decimal(repr(tolerance)), Decimal(0))
    if out is None:
        raise ValueError("a ladder whose bids meet its asks")
    return out


def _plan(desired: list[Quote], live: list[Live], tol: Decimal, near: Decimal) -> Plan | None:
    free = list(live)
    kept: list[Live] = []
    places: list[Quote] = []

    def fits(o: Live, q: Quote) -> bool:
        if o.side != q.side or not q.qty * (1 - tol) <= o.qty <= q.qty:
            return False
        if o.price == q.price:
            return True
        if abs(o.price - q.price) > q.price * near or o.price * o.qty > q.price * q.qty:
            return False
        passive = o.price < q.price if q.side == BUY else o.price > q.price
        return q.level > 0 or passive

    for q in desired:
        match = next((o for o in free if fits(o, q)), None)
        if match is None:
            places.append(q)
        else:
            free.remove(match)
            kept.append(match)
    bids = [q for q in places if q.side == BUY] + [
        Quote(o.side, o.price, o.qty) for o in kept if o.side == BUY
    ]
    asks = [q for q in places if q.side != BUY] + [
        Quote(o.side, o.price, o.qty) for o in kept if o.side != BUY
    ]
    if crosses(bids, asks):
        return None
    return Plan([o.order_id for o in free], places, kept, free)


@dataclass(frozen=True)
class Swap:
    """A live order to cancel and the quote to place in its stead (one cancelReplace)."""

    old: Live
    new: Quote


def pair(p: Plan) -> tuple[list[Swap], list[str], list[Quote]]:
    """Pair each side's cancels with its places, nearest the mid first: the swaps, and the
    cancels and places left over (a side has leftovers of one kind only)."""
    swaps: list[Swap] = []
    cancels: list[str] = []
    places: list[Quote] = []
    by_id = {o.order_id: o for o in p.old}
    for side in (BUY, SELL):
        sign = -1 if side == BUY else 1  # bids: highest first; asks: lowest first
        olds = sorted((by_id[c] for c in p.cancels if by_id[c].side == side),
                      key=lambda o: sign * o.price)  # fmt: skip
        news = sorted((q for q in p.places if q.side == side), key=lambda q: sign * q.price)
        swaps += [Swap(o, q) for o, q in zip(olds, news, strict=False)]
        cancels += [o.order_id for o in olds[len(news) :]]
        places += news[len(olds) :]
    return swaps, cancels, places
