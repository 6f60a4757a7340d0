"""Candles (``/klines``, ``@kline_<interval>``) for every Binance interval, in UTC.

Buckets: fixed-size intervals are aligned to the Unix epoch, except ``1w``, which
starts on Monday 00:00 UTC as Binance's weeks do; ``1M`` is the calendar month
(UTC). ``close_time`` is the next bucket's open minus 1 ms, as on Binance.

Only buckets that had trades are stored (bounded: the newest ``kept`` per symbol
and interval; older candles come from the SQL read model). Binance's klines do
include quiet buckets while the market runs (volume 0, open = high = low = close =
the previous close), so :meth:`CandleSeries.query` fills the gaps between stored
candles the same way (``fill=False`` gives the stored ones only), and up to the
bucket of ``now_ms`` when it is given. Nothing is filled before the oldest stored
candle: what came before it is unknown here. Selection is by open time:
``start_ms <= open_time <= end_ms``.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Sequence
from datetime import date
from itertools import islice
from typing import NamedTuple

from rialto.marketdata.trades import TradeTick

SECOND = 1_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
WEEK = 7 * DAY

# Fixed-size Binance kline intervals in milliseconds; "1M" (calendar months) is not here.
INTERVALS: dict[str, int] = {
    "1s": SECOND,
    "1m": MINUTE,
    "3m": 3 * MINUTE,
    "5m": 5 * MINUTE,
    "15m": 15 * MINUTE,
    "30m": 30 * MINUTE,
    "1h": HOUR,
    "2h": 2 * HOUR,
    "4h": 4 * HOUR,
    "6h": 6 * HOUR,
    "8h": 8 * HOUR,
    "12h": 12 * HOUR,
    "1d": DAY,
    "3d": 3 * DAY,
    "1w": WEEK,
}
MONTH = "1M"
KLINE_INTERVALS: tuple[str, ...] = (*INTERVALS, MONTH)  # every interval Binance accepts

_WEEK_SHIFT = 4 * DAY  # 1970-01-05 was the first Monday after the epoch
_EPOCH = date(1970, 1, 1).toordinal()


def _month_start(year: int, month: int) -> int:
    return (date(year, month, 1).toordinal() - _EPOCH) * DAY


# The last time a query looks at: the calendar (``datetime.date``) ends in 9999, and a
# client may send any 64-bit ``startTime``/``endTime``. Every bucket up to here, and
# the one after it, is still a date.
LAST_MS = _month_start(9999, 12) - 1


def check_interval(interval: str) -> None:
    if interval != MONTH and interval not in INTERVALS:
        raise ValueError(f"unknown kline interval {interval!r}")


def open_time(interval: str, ts: int) -> int:
    """The open time of the ``interval`` bucket holding ``ts`` (ms, UTC)."""
    if interval == MONTH:
        d = date.fromordinal(_EPOCH + ts // DAY)
        return _month_start(d.year, d.month)
    size = INTERVALS[interval]
    shift = _WEEK_SHIFT if interval == "1w" else 0
    return (ts - shift) // size * size + shift


def next_open(interval: str, opened: int) -> int:
    """The open time of the bucket after the one opened at ``opened``."""
    if interval == MONTH:
        d = date.fromordinal(_EPOCH + opened // DAY)
        return _month_start(d.year + 1, 1) if d.month == 12 else _month_start(d.year, d.month + 1)
    return opened + INTERVALS[interval]


def prev_open(interval: str, opened: int) -> int:
    """The open time of the bucket before the one opened at ``opened``."""
    if interval == MONTH:
        return open_time(MONTH, opened - 1)
    return opened - INTERVALS[interval]


def close_time(interval: str, opened: int) -> int:
    return next_open(interval, opened) - 1


class Fills(NamedTuple):
    """The trades of one outcome folded together (they share one time stamp)."""

    open: int
    high: int
    low: int
    close: int
    volume_lots: int
    quote_volume_units: int
    trades: int
    taker_buy_lots: int
    taker_buy_quote_units: int
    first_trade_id: int
    last_trade_id: int


def fills_of(trades: Sequence[TradeTick]) -> Fills:
    """Fold non-empty ``trades`` (in trade-id order)."""
    prices = [t.price for t in trades]
    volume = quote = buy = buy_quote = 0
    for t in trades:
        notional = t.price * t.qty
        volume += t.qty
        quote += notional
        if not t.buyer_is_maker:  # the taker bought
            buy += t.qty
            buy_quote += notional
    return Fills(
        prices[0],
        max(prices),
        min(prices),
        prices[-1],
        volume,
        quote,
        len(trades),
        buy,
        buy_quote,
        trades[0].trade_id,
        trades[-1].trade_id,
    )


class Candle(NamedTuple):
    """One kline. Prices in ticks, volumes in lots, quote volumes in notional units.

    ``first_trade_id``/``last_trade_id`` (the stream's ``f``/``L``) are -1 for a
    candle without trades.
    """

    open_time: int
    close_time: int
    open: int
    high: int
    low: int
    close: int
    volume_lots: int
    quote_volume_units: int
    trades: int
    taker_buy_lots: int
    taker_buy_quote_units: int
    first_trade_id: int = -1
    last_trade_id: int = -1

    @classmethod
    def of(cls, opened: int, closes: int, f: Fills) -> Candle:
        return cls(opened, closes, *f)

    @classmethod
    def flat(cls, opened: int, closes: int, price: int) -> Candle:
        """A bucket without trades: every price is the previous close."""
        return cls(opened, closes, price, price, price, price, 0, 0, 0, 0, 0)

    def merge(self, f: Fills) -> Candle:
        return Candle(
            self.open_time,
            self.close_time,
            self.open,
            max(self.high, f.high),
            min(self.low, f.low),
            f.close,
            self.volume_lots + f.volume_lots,
            self.quote_volume_units + f.quote_volume_units,
            self.trades + f.trades,
            self.taker_buy_lots + f.taker_buy_lots,
            self.taker_buy_quote_units + f.taker_buy_quote_units,
            self.first_trade_id,
            f.last_trade_id,
        )


class KlineTick(NamedTuple):
    """A candle changed by an outcome's trades (the ``@kline_<interval>`` payload's ``k``)."""

    symbol: str
    interval: str
    candle: Candle


def _opened(c: Candle) -> int:
    return c.open_time


class CandleSeries:
    """The newest ``kept`` candles with trades of one symbol and interval, oldest first."""

    def __init__(self, interval: str, kept: int, base_close: int = 0) -> None:
        check_interval(interval)
        if kept < 1:
            raise ValueError("keep at least one candle")
        self.interval = interval
        self.kept = kept
        self.candles: deque[Candle] = deque()
        self.base_close = base_close  # the close before the oldest kept candle; 0: unknown

    def __len__(self) -> int:
        return len(self.candles)

    def add(self, ts: int, f: Fills) -> Candle:
        """Fold trades made at ``ts`` (never before the last trade) into their candle."""
        c = self.candles
        if c and ts <= c[-1].close_time:
            candle = c[-1].merge(f)
            c[-1] = candle
            return candle
        opened = open_time(self.interval, ts)
        candle = Candle.of(opened, close_time(self.interval, opened), f)
        if len(c) >= self.kept:
            self.base_close = c.popleft().close
        c.append(candle)
        return candle

    def window(self, lo: int, hi: int) -> tuple[int, list[Candle]]:
        """Stored candles opened in ``[lo, hi]``, and the close before the first of them."""
        c = self.candles
        i = bisect_left(c, lo, key=_opened)
        j = bisect_right(c, hi, key=_opened)
        before = c[i - 1].close if i else self.base_close
        return before, list(islice(c, i, j))

    def query(
        self,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = 500,
        now_ms: int | None = None,
        fill: bool = True,
    ) -> list[Candle]:
        """Binance ``klines``: no ``start_ms`` -> the newest ``limit``; else the oldest from it."""
        c = self.candles
        if not c or limit <= 0 or (start_ms is not None and start_ms > LAST_MS):
            return []
        if end_ms is not None:
            end_ms = min(end_ms, LAST_MS)
        iv = self.interval
        if not fill:
            i = 0 if start_ms is None else bisect_left(c, start_ms, key=_opened)
            j = len(c) if end_ms is None else bisect_right(c, end_ms, key=_opened)
            if start_ms is None:
                i = max(i, j - limit)
            return list(islice(c, i, max(i, min(j, i + limit))))
        first = c[0].open_time
        last = c[-1].open_time
        if now_ms is not None:
            last = max(last, open_time(iv, now_ms))
        if end_ms is not None:
            last = min(last, open_time(iv, end_ms))
        out: list[Candle] = []
        if start_ms is not None:
            b = open_time(iv, start_ms)
            b = max(first, b if b >= start_ms else next_open(iv, b))
            i = bisect_left(c, b, key=_opened)  # the first stored candle at or after b
            prev = c[i - 1].close if i else 0  # i == 0 only when b == first (stored)
            while b <= last and len(out) < limit:
                nxt = next_open(iv, b)
                if i < len(c) and c[i].open_time == b:
                    out.append(c[i])
                    prev = c[i].close
                    i += 1
                else:
                    out.append(Candle.flat(b, nxt - 1, prev))
                b = nxt
            return out
        b = last
        i = bisect_right(c, b, key=_opened) - 1  # the last stored candle at or before b
        while b >= first and len(out) < limit:
            if c[i].open_time == b:
                out.append(c[i])
                i -= 1
            else:
                out.append(Candle.flat(b, close_time(iv, b), c[i].close))
            b = prev_open(iv, b)
        out.reverse()
        return out
