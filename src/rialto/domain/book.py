"""One side of an order book: price levels of FIFO queues, best price first.

A level is a dict of order id -> order; dicts keep insertion order, which is
the time priority. ``keys`` holds the level prices sorted so that the best
price is always the last element (bids: prices ascending; asks: negated prices
ascending), which makes taking the best level an O(1) ``pop()``.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterator

from rialto.domain.orders import Order, Side


class BookSide:
    __slots__ = ("dirty", "keys", "levels", "side", "sign", "totals")

    def __init__(self, side: Side) -> None:
        self.side = side
        # key = sign * price: the best level has the largest key.
        self.sign = 1 if side is Side.BUY else -1
        self.levels: dict[int, dict[int, Order]] = {}
        self.totals: dict[int, int] = {}
        self.keys: list[int] = []
        # Levels touched during the current command -> their total before it, in touch order.
        self.dirty: dict[int, int] = {}

    def add(self, order: Order) -> None:
        """Append ``order`` at the back of its price level."""
        price = order.price
        level = self.levels.get(price)
        if price not in self.dirty:
            self.dirty[price] = self.totals[price] if level else 0
        if level is None:
            self.levels[price] = {order.order_id: order}
            self.totals[price] = order.remaining
            insort(self.keys, self.sign * price)
        else:
            level[order.order_id] = order
            self.totals[price] += order.remaining

    def remove(self, order: Order) -> None:
        """Take a resting ``order`` out of its level (its ``remaining`` is still on the level)."""
        price = order.price
        self.touch(price)
        level = self.levels[price]
        del level[order.order_id]
        if level:
            self.totals[price] -= order.remaining
        else:
            self.drop_level(price)

    def touch(self, price: int) -> None:
        """Remember a level's total before the current command first changes it."""
        if price not in self.dirty:
            self.dirty[price] = self.totals.get(price, 0)

    def drop_level(self, price: int) -> None:
        del self.levels[price]
        del self.totals[price]
        keys = self.keys
        key = self.sign * price
        if keys[-1] == key:
            keys.pop()
        else:
            del keys[bisect_left(keys, key)]

    def best(self) -> int | None:
        return self.sign * self.keys[-1] if self.keys else None

    def depth(self, limit: int | None = None) -> list[tuple[int, int]]:
        """``(price, total qty)`` from the best level outwards."""
        keys = self.keys if limit is None else self.keys[-limit:] if limit > 0 else []
        sign, totals = self.sign, self.totals
        return [(sign * k, totals[sign * k]) for k in reversed(keys)]

    def orders(self) -> Iterator[Order]:
        """Every resting order, best level first, FIFO within a level."""
        sign, levels = self.sign, self.levels
        for key in reversed(self.keys):
            yield from levels[sign * key].values()

    def __len__(self) -> int:
        return len(self.keys)
