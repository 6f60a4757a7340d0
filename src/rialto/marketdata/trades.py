"""The most recent trades of one symbol (``/trades``, ``/aggTrades``, ``@trade``, ``@aggTrade``).

Bounded: the newest ``kept`` trades only (a deque); older ones come from the SQL
read model. Trades arrive in trade-id order with non-decreasing times, so id and
time look-ups are binary searches.

Aggregate trades: Binance merges fills of one taker order at one price into one
aggregate. Rialto emits one aggregate per trade instead: ``a`` = ``f`` = ``l`` =
the trade id. It needs no second id sequence, an aggregate never changes after it
is published, and clients only rely on ``a`` growing (they page with ``fromId``).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import deque
from itertools import islice
from typing import NamedTuple


class TradeTick(NamedTuple):
    """One trade as the market sees it (no order or user ids). Price ticks, qty lots."""

    symbol: str
    trade_id: int
    price: int
    qty: int
    ts: int
    buyer_is_maker: bool

    @property
    def quote_qty(self) -> int:
        """Notional units (ticks x lots)."""
        return self.price * self.qty


def _trade_id(t: TradeTick) -> int:
    return t.trade_id


def _ts(t: TradeTick) -> int:
    return t.ts


class TradeLog:
    """The newest ``kept`` trades of one symbol, oldest first."""

    def __init__(self, kept: int) -> None:
        if kept < 1:
            raise ValueError("keep at least one trade")
        self._trades: deque[TradeTick] = deque(maxlen=kept)

    def add(self, trade: TradeTick) -> None:
        self._trades.append(trade)

    def __len__(self) -> int:
        return len(self._trades)

    def _slice(self, start: int, stop: int) -> list[TradeTick]:
        return list(islice(self._trades, max(start, 0), max(stop, 0)))

    def recent(self, limit: int = 500, from_id: int | None = None) -> list[TradeTick]:
        """The newest ``limit`` trades, or the first ``limit`` from ``from_id`` on; ascending."""
        q = self._trades
        if limit <= 0:
            return []
        if from_id is None:
            return self._slice(len(q) - limit, len(q))
        i = bisect_left(q, from_id, key=_trade_id)
        return self._slice(i, i + limit)

    def aggregates(
        self,
        from_id: int | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = 500,
    ) -> list[TradeTick]:
        """Binance ``aggTrades`` selection, ascending; ``start_ms``/``end_ms`` are inclusive.

        With ``from_id`` or ``start_ms``: the oldest ``limit`` matching from there on (both
        given: both apply). Otherwise the newest ``limit`` (at or before ``end_ms`` if given).
        """
        q = self._trades
        if limit <= 0:
            return []
        stop = len(q) if end_ms is None else bisect_right(q, end_ms, key=_ts)
        if from_id is None and start_ms is None:
            return self._slice(stop - limit, stop)
        start = 0
        if from_id is not None:
            start = bisect_left(q, from_id, key=_trade_id)
        if start_ms is not None:
            start = max(start, bisect_left(q, start_ms, key=_ts))
        return self._slice(start, min(stop, start + limit))
