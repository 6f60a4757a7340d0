"""An L2 book per symbol, kept from the engine's BookDeltas.

Why a copy and not the engine's own book: the read side must not reach into a
single-writer engine (it may run in another process, behind the journal), and an
L2 view (price -> total) is all that depth, bookTicker and the diff stream need.

The book is exactly as of the last applied delta, so the ``lastUpdateId`` of
``depth()`` always equals the ``u`` of a published :class:`DepthUpdate` (what
python-binance and ccxt.pro require to sync). A delta that skips an id is a gap:
:class:`BookGap` is raised before anything changes, and the book must be seeded
again (``MarketData.add_market``) from the engine's ``depth(None)``. Deltas at or
below the current id are already in the book (a seed taken later) and are skipped.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable
from typing import NamedTuple

from rialto.domain.events import BookDelta
from rialto.domain.orders import Side

Level = tuple[int, int]  # (price ticks, total qty lots)


class BookGap(ValueError):
    """A BookDelta's update id is not the next one: the book must be seeded again."""


class DepthUpdate(NamedTuple):
    """One outcome's book changes (Binance ``depthUpdate``): ``U`` = first_id, ``u`` = last_id.

    Levels carry their final total quantity, 0 = removed. Consecutive updates of a
    symbol are contiguous: ``first_id == previous last_id + 1``.
    """

    symbol: str
    ts: int
    first_id: int
    last_id: int
    bids: list[Level]
    asks: list[Level]


class _Side:
    """Price -> total, with the prices sorted so that the best one is last."""

    __slots__ = ("keys", "sign", "totals")

    def __init__(self, side: Side, levels: Iterable[Level]) -> None:
        self.sign = 1 if side is Side.BUY else -1
        self.totals: dict[int, int] = {}
        self.keys: list[int] = []  # sign * price, ascending: best last
        for price, qty in levels:
            self.set(price, qty)

    def set(self, price: int, qty: int) -> None:
        totals = self.totals
        if qty:
            if price not in totals:
                insort(self.keys, self.sign * price)
            totals[price] = qty
        elif totals.pop(price, None) is not None:
            keys, key = self.keys, self.sign * price
            if keys[-1] == key:
                keys.pop()
            else:
                del keys[bisect_left(keys, key)]

    def levels(self, limit: int | None) -> list[Level]:
        keys = self.keys if limit is None else self.keys[-limit:] if limit > 0 else []
        sign, totals = self.sign, self.totals
        return [(sign * k, totals[sign * k]) for k in reversed(keys)]

    def best(self) -> Level:
        if not self.keys:
            return (0, 0)
        price = self.sign * self.keys[-1]
        return (price, self.totals[price])


class Book:
    """The L2 book of one symbol and the id of the last delta applied to it."""

    def __init__(
        self, update_id: int = 0, bids: Iterable[Level] = (), asks: Iterable[Level] = ()
    ) -> None:
        self.update_id = update_id
        self.bids = _Side(Side.BUY, bids)
        self.asks = _Side(Side.SELL, asks)

    def check(self, deltas: list[BookDelta]) -> None:
        """Raise :class:`BookGap` unless the new deltas follow the current id without a gap."""
        expected = self.update_id + 1
        for d in deltas:
            if d.update_id < expected:
                continue  # already in the book
            if d.update_id != expected:
                raise BookGap(f"book delta {d.update_id} after {expected - 1}")
            expected += 1

    def apply(self, symbol: str, ts: int, deltas: list[BookDelta]) -> DepthUpdate | None:
        """Apply checked deltas; the DepthUpdate they make, or None if none was new."""
        bids: dict[int, int] = {}  # price -> final qty, in first-touch order
        asks: dict[int, int] = {}
        first = 0
        for d in deltas:
            if d.update_id <= self.update_id:
                continue
            first = first or d.update_id
            self.update_id = d.update_id
            if d.side is Side.BUY:
                self.bids.set(d.price, d.qty)
                bids[d.price] = d.qty
            else:
                self.asks.set(d.price, d.qty)
                asks[d.price] = d.qty
        if not first:
            return None
        return DepthUpdate(
            symbol, ts, first, self.update_id, list(bids.items()), list(asks.items())
        )

    def depth(self, limit: int | None = None) -> tuple[int, list[Level], list[Level]]:
        """``(lastUpdateId, bids, asks)``, best levels first; ``limit`` None = every level."""
        return self.update_id, self.bids.levels(limit), self.asks.levels(limit)

    def ticker(self) -> tuple[int, int, int, int, int]:
        """``(update_id, bid_price, bid_qty, ask_price, ask_qty)``; 0s for an empty side."""
        return (self.update_id, *self.bids.best(), *self.asks.best())
