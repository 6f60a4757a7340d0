"""Rolling statistics (``/ticker/24hr``, ``@ticker``, ``@miniTicker``, ``/avgPrice``).

They are folded from the symbol's 1-minute candles, not from the kept trades:
a busy market makes more than ``trades_kept`` trades a day, and a window over
the kept trades would then silently lose volume. The 1m series therefore keeps
at least :data:`TICKER_MINUTES` candles (a full day plus the current minute),
whatever ``candles_kept`` is. Like Binance's rolling windows, the window is
minute-grained: it starts at the open of the minute holding ``now - window``,
so it is at most 59,999 ms longer than asked.

A window without trades gives count 0, first/last id -1, zero volumes and
open = high = low = the last price (so the price change is 0).
"""

from __future__ import annotations

from fractions import Fraction
from typing import NamedTuple

from rialto.marketdata.klines import MINUTE, CandleSeries, open_time

TICKER_MINUTES = 24 * 60 + 1
DAY_MS = 24 * 60 * MINUTE


class Ticker(NamedTuple):
    """Rolling-window statistics. Prices in ticks, volumes in lots / notional units."""

    open_time: int
    close_time: int
    open: int
    high: int
    low: int
    last: int
    last_qty: int
    prev_close: int  # the last price before the window (0: none known)
    volume_lots: int
    quote_volume_units: int
    first_id: int
    last_id: int
    trades: int  # Binance "count"

    @property
    def weighted_avg(self) -> Fraction:
        """Volume-weighted average price in ticks (0 without volume)."""
        if not self.volume_lots:
            return Fraction(0)
        return Fraction(self.quote_volume_units, self.volume_lots)

    @property
    def price_change(self) -> int:
        return self.last - self.open


class LastTrade(NamedTuple):
    """The symbol's last trade (or the seeded last price, with id 0)."""

    trade_id: int
    price: int
    qty: int
    ts: int


def rolling(minutes: CandleSeries, now_ms: int, window_ms: int, last: LastTrade) -> Ticker:
    """The statistics of the window ending at ``now_ms`` from the 1m ``minutes`` series."""
    start = open_time("1m", now_ms - window_ms)
    before, candles = minutes.window(start, now_ms)
    if not candles:
        p = last.price
        return Ticker(start, now_ms, p, p, p, p, 0, before or p, 0, 0, -1, -1, 0)
    final = candles[-1]
    return Ticker(
        start,
        now_ms,
        candles[0].open,
        max(c.high for c in candles),
        min(c.low for c in candles),
        final.close,
        last.qty if final.last_trade_id == last.trade_id else 0,
        before,
        sum(c.volume_lots for c in candles),
        sum(c.quote_volume_units for c in candles),
        candles[0].first_trade_id,
        final.last_trade_id,
        sum(c.trades for c in candles),
    )


def average(
    minutes: CandleSeries, now_ms: int, window_ms: int, last: LastTrade
) -> tuple[Fraction, int]:
    """``(volume-weighted price in ticks, last trade time)``; the last price if no volume."""
    t = rolling(minutes, now_ms, window_ms, last)
    if t.volume_lots:
        return t.weighted_avg, last.ts
    return Fraction(last.price), last.ts
