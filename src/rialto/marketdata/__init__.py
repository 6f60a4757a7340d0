"""The market-data read model: books, trades, candles and tickers of every symbol.

Pure: no I/O and no clock (queries take ``now_ms``), fed by the exchange's durable
:class:`~rialto.domain.exchange.Outcome` s in seq order. Everything stays in
integers (price ticks, quantity lots, notional units = ticks x lots); the API
layer formats them with the symbol's Instrument.

:meth:`MarketData.apply` returns what changed, for the WebSocket fan-out, in this
order: a :class:`TradeTick` per trade (also the ``@aggTrade`` payload, see
:mod:`rialto.marketdata.trades`), a :class:`KlineTick` per interval (every interval
is touched by a trade), one :class:`DepthUpdate` if the book changed, then a
:class:`StatusChange` per market status change.

Decisions:

* Outcomes at or below ``last_seq`` were seen already and are ignored (a redelivery);
  set ``last_seq`` to a snapshot's seq when seeding from that snapshot's engines.
* A symbol becomes known by ``add_market`` (the start-up seed, from
  ``engine.depth(None)``) or by the first carried-out outcome naming it (the
  AddMarket request's outcome). A rejected outcome naming an unknown symbol is ignored.
* Time: a market's data time never goes back: a trade stamped before the market's
  last trade counts at the last trade's time (the sequencer already guarantees this;
  the clamp keeps the candles and the time searches ordered if it ever did not).
* Bounded memory: ``trades_kept`` trades per symbol, ``candles_kept`` candles with
  trades per symbol and interval (the 1m series at least a day's worth, for the 24h
  ticker). Older history is the SQL read model's job.
* Queries about an unknown symbol raise ``KeyError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fractions import Fraction
from typing import NamedTuple

from rialto.domain.events import BookDelta, MarketStatusChanged, Trade
from rialto.domain.exchange import Outcome
from rialto.domain.orders import MarketStatus, Side
from rialto.marketdata.book import Book, BookGap, DepthUpdate, Level
from rialto.marketdata.klines import (
    INTERVALS,
    KLINE_INTERVALS,
    MINUTE,
    MONTH,
    Candle,
    CandleSeries,
    KlineTick,
    check_interval,
    fills_of,
)
from rialto.marketdata.tickers import (
    DAY_MS,
    TICKER_MINUTES,
    LastTrade,
    Ticker,
    average,
    rolling,
)
from rialto.marketdata.trades import TradeLog, TradeTick

__all__ = [
    "INTERVALS",
    "KLINE_INTERVALS",
    "MONTH",
    "BookGap",
    "Candle",
    "DepthUpdate",
    "KlineTick",
    "Level",
    "MarketData",
    "StatusChange",
    "Ticker",
    "TradeTick",
    "Update",
]


class StatusChange(NamedTuple):
    symbol: str
    status: MarketStatus


Update = DepthUpdate | TradeTick | KlineTick | StatusChange


class _Market:
    __slots__ = ("book", "last", "last_ts", "series", "status", "trades")

    def __init__(self, trades_kept: int, candles_kept: int) -> None:
        self.book = Book()
        self.trades = TradeLog(trades_kept)
        self.series = {
            iv: CandleSeries(iv, max(candles_kept, TICKER_MINUTES) if iv == "1m" else candles_kept)
            for iv in KLINE_INTERVALS
        }
        self.status = MarketStatus.TRADING
        self.last = LastTrade(0, 0, 0, 0)
        self.last_ts = 0  # the time of the market's last outcome with trades or book changes


class MarketData:
    """Every symbol's market data, kept from the exchange's outcomes."""

    def __init__(self, trades_kept: int = 10_000, candles_kept: int = 1_000) -> None:
        if trades_kept < 1 or candles_kept < 1:
            raise ValueError("keep at least one trade and one candle")
        self.trades_kept = trades_kept
        self.candles_kept = candles_kept
        self.last_seq = 0
        self._markets: dict[str, _Market] = {}

    # --- feeding ----------------------------------------------------------

    def add_market(
        self,
        symbol: str,
        update_id: int = 0,
        bids: Iterable[Level] = (),
        asks: Iterable[Level] = (),
        last_price: int = 0,
        status: MarketStatus = MarketStatus.TRADING,
    ) -> None:
        """Seed (or seed again, after a :class:`BookGap`) a symbol's book and last price.

        The trades and candles already kept stay. E.g. at start-up:
        ``md.add_market(s, *engine.depth(None), engine.last_price, engine.status)``.
        """
        m = self._markets.get(symbol)
        if m is None:
            m = self._markets[symbol] = _Market(self.trades_kept, self.candles_kept)
            for series in m.series.values():
                series.base_close = last_price
        m.book = Book(update_id, bids, asks)
        m.status = status
        if last_price and not m.last.trade_id:
            m.last = LastTrade(0, last_price, 0, 0)

    def load_trades(self, symbol: str, ticks: Sequence[TradeTick]) -> None:
        """Take in a market's past trades (oldest first) before any outcome: its trade log,
        candles and last trade, as they were (e.g. from the SQL read model at start-up)."""
        m = self._markets[symbol]
        if len(m.trades):
            raise ValueError(f"{symbol} already has trades")
        start = 0
        for i, t in enumerate(ticks):
            m.trades.add(t)
            if i + 1 == len(ticks) or ticks[i + 1].ts != t.ts:  # one fold per instant
                fills = fills_of(ticks[start : i + 1])
                for series in m.series.values():
                    series.add(t.ts, fills)
                start = i + 1
        if ticks:
            final = ticks[-1]
            m.last = LastTrade(final.trade_id, final.price, final.qty, final.ts)
            m.last_ts = max(m.last_ts, final.ts)

    def apply(self, outcome: Outcome) -> list[Update]:
        """Take in one outcome (the next in seq order); what it changed, for fan-out."""
        if outcome.seq <= self.last_seq:
            return []
        symbol = outcome.symbol
        m = self._markets.get(symbol) if symbol else None
        if m is None and symbol and outcome.reject is None:
            self.add_market(symbol)
            m = self._markets[symbol]
        deltas: list[BookDelta] = []
        trades: list[TradeTick] = []
        statuses: list[MarketStatusChanged] = []
        if m is not None:
            for e in outcome.events:
                if isinstance(e, BookDelta):
                    deltas.append(e)
                elif isinstance(e, Trade):
                    trades.append(_tick(symbol, e))
                elif isinstance(e, MarketStatusChanged):
                    statuses.append(e)
            m.book.check(deltas)  # raises BookGap before anything changes
        self.last_seq = outcome.seq
        if m is None or not (deltas or trades or statuses):
            return []
        ts = max(outcome.ts, m.last_ts)
        out: list[Update] = []
        if trades:
            m.last_ts = ts
            trades = [t._replace(ts=ts) for t in trades] if ts != outcome.ts else trades
            for t in trades:
                m.trades.add(t)
            out.extend(trades)
            final = trades[-1]
            m.last = LastTrade(final.trade_id, final.price, final.qty, ts)
            fills = fills_of(trades)
            for iv, series in m.series.items():
                out.append(KlineTick(symbol, iv, series.add(ts, fills)))
        if deltas:
            update = m.book.apply(symbol, ts, deltas)
            if update is not None:
                m.last_ts = ts
                out.append(update)
        for s in statuses:
            m.status = s.status
            out.append(StatusChange(symbol, s.status))
        return out

    # --- queries ----------------------------------------------------------

    def symbols(self) -> list[str]:
        return sorted(self._markets)

    def status(self, symbol: str) -> MarketStatus:
        return self._markets[symbol].status

    def last_price(self, symbol: str) -> int:
        """The last trade's price in ticks (the seeded one before any trade; 0: none)."""
        return self._markets[symbol].last.price

    def depth(self, symbol: str, limit: int | None = None) -> tuple[int, list[Level], list[Level]]:
        """``(lastUpdateId, bids, asks)`` best first; ``lastUpdateId`` is a DepthUpdate's ``u``."""
        return self._markets[symbol].book.depth(limit)

    def book_ticker(self, symbol: str) -> tuple[int, int, int, int, int]:
        """``(update_id, bid_price, bid_qty, ask_price, ask_qty)``; 0s for an empty side."""
        return self._markets[symbol].book.ticker()

    def trades(self, symbol: str, limit: int = 500, from_id: int | None = None) -> list[TradeTick]:
        """The newest ``limit`` trades, or ``limit`` from ``from_id`` on; ascending ids."""
        return self._markets[symbol].trades.recent(limit, from_id)

    def agg_trades(
        self,
        symbol: str,
        from_id: int | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = 500,
    ) -> list[TradeTick]:
        """Aggregate trades (one per trade: ``a`` = ``f`` = ``l`` = trade id); see TradeLog."""
        return self._markets[symbol].trades.aggregates(from_id, start_ms, end_ms, limit)

    def klines(
        self,
        symbol: str,
        interval: str,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = 500,
        now_ms: int | None = None,
        fill: bool = True,
    ) -> list[Candle]:
        """Candles opened in ``[start_ms, end_ms]``; no start: the newest ``limit``.

        Quiet buckets between kept candles (and up to ``now_ms``'s) are filled flat at
        the previous close, as Binance does; see :mod:`rialto.marketdata.klines`.
        ``ValueError`` for an unknown interval.
        """
        check_interval(interval)
        series = self._markets[symbol].series[interval]
        return series.query(start_ms, end_ms, limit, now_ms, fill)

    def now(self, symbol: str, wall_ms: int) -> int:
        """The time to end a live window at: the wall clock, but never before the market's
        last event (the sequencer's time does not go back; a host's clock may step back)."""
        return max(wall_ms, self._markets[symbol].last_ts)

    def ticker_24h(self, symbol: str, now_ms: int, window_ms: int = DAY_MS) -> Ticker:
        """Rolling statistics over the window ending at ``now_ms`` (minute-grained).

        ``window_ms`` is at most a day: the 1m series is only sure to cover that.
        """
        if not 0 < window_ms <= DAY_MS:
            raise ValueError("the window is at most a day")
        m = self._markets[symbol]
        return rolling(m.series["1m"], now_ms, window_ms, m.last)

    def avg_price(self, symbol: str, now_ms: int, mins: int = 5) -> tuple[Fraction, int]:
        """``(average price in ticks over the last ``mins`` minutes, last trade time)``."""
        if not 0 < mins * MINUTE <= DAY_MS:
            raise ValueError("the window is at most a day")
        m = self._markets[symbol]
        return average(m.series["1m"], now_ms, mins * MINUTE, m.last)


def _tick(symbol: str, t: Trade) -> TradeTick:
    return TradeTick(symbol, t.trade_id, t.price, t.qty, t.ts, t.taker_side is Side.SELL)
