"""The market-data read model fed by a real :class:`rialto.domain.exchange.Exchange`.

TESTUSD has tick 1 and step 1 and no fees, so ticks and lots read as plain prices and
quantities and a notional unit is one price x quantity. Every request's Outcome goes to
:class:`rialto.marketdata.MarketData`; after each one the read model's book must be the
engine's (``Feed.apply`` checks it), and the DepthUpdates rebuild the same book.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from fractions import Fraction
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rialto.domain import requests as rq
from rialto.domain.events import Trade
from rialto.domain.exchange import Exchange, Outcome
from rialto.domain.instruments import Instrument
from rialto.domain.orders import MarketStatus, OrderType, Side, TimeInForce
from rialto.marketdata import (
    INTERVALS,
    KLINE_INTERVALS,
    BookGap,
    Candle,
    DepthUpdate,
    KlineTick,
    MarketData,
    StatusChange,
    TradeTick,
    Update,
)
from rialto.marketdata.klines import close_time, next_open, open_time, prev_open
from rialto.marketdata.tickers import TICKER_MINUTES

BUY, SELL = Side.BUY, Side.SELL
LIMIT, MARKET = OrderType.LIMIT, OrderType.MARKET
SYM = "TESTUSD"
INS = Instrument(SYM, "TEST", "USD", "1", "1", maker_fee="0", taker_fee="0")
USERS = (1, 2, 3, 4)
MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR


def ms(text: str) -> int:
    """An ISO time (UTC) in epoch milliseconds."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


T0 = ms("2024-03-04T10:00:00")  # a Monday


class LocalBook:
    """A client's book kept by Binance's procedure from a snapshot and DepthUpdates."""

    def __init__(self, update_id: int, bids: list[tuple[int, int]], asks: list[tuple[int, int]]):
        self.update_id = update_id
        self.bids = dict(bids)
        self.asks = dict(asks)

    def apply(self, u: DepthUpdate) -> None:
        assert u.first_id == self.update_id + 1, (u, self.update_id)  # contiguous: no gap
        assert u.last_id >= u.first_id
        for side, levels in ((self.bids, u.bids), (self.asks, u.asks)):
            for price, qty in levels:
                if qty:
                    side[price] = qty
                else:
                    del side[price]  # only a level that exists is removed
        self.update_id = u.last_id

    def depth(self) -> tuple[int, list[tuple[int, int]], list[tuple[int, int]]]:
        bids = sorted(self.bids.items(), reverse=True)
        return self.update_id, bids, sorted(self.asks.items())


class Feed:
    """An Exchange with one market; every Outcome goes to MarketData and is checked."""

    def __init__(self, md: MarketData | None = None, ts: int = T0) -> None:
        self.ex = Exchange(1)
        self.md = md if md is not None else MarketData()
        self.seq = 0
        self.ts = ts
        self.local = LocalBook(0, [], [])
        self.updates: list[Update] = []
        self.apply(rq.AddAsset("TEST", 0))
        self.apply(rq.AddAsset("USD", 0))
        self.apply(rq.AddMarket(rq.AddMarket.of(INS).spec))
        for user in USERS:
            self.apply(rq.Deposit(user, "TEST", 10**9))
            self.apply(rq.Deposit(user, "USD", 10**12))

    @property
    def engine(self) -> Any:
        return self.ex.engines[SYM]

    def apply(self, r: Any, ts: int | None = None) -> tuple[Outcome, list[Update]]:
        self.seq += 1
        if ts is not None:
            self.ts = ts
        out = self.ex.apply(self.seq, self.ts, r)
        ups = self.md.apply(out)
        self.updates.extend(ups)
        if SYM in self.ex.engines:
            check_against_engine(self.md, self.engine, out, ups)
            for u in ups:
                if isinstance(u, DepthUpdate):
                    self.local.apply(u)
            assert self.local.depth() == self.engine.depth()
        return out, ups

    def order(self, user: int, side: Side, qty: int, price: int = 0, **kw: Any) -> Outcome:
        ts = kw.pop("ts", None)
        kind = LIMIT if price else MARKET
        r = rq.NewOrder(user, SYM, side, kind, qty=qty, price=price, **kw)
        out, _ = self.apply(r, ts)
        assert out.reject is None, out
        return out

    def trade(self, price: int, qty: int = 1, ts: int | None = None, taker: Side = BUY) -> int:
        """One trade at ``price``: user 1 rests, user 2 takes. The trade id."""
        maker = SELL if taker is BUY else BUY
        self.order(1, maker, qty, price, ts=ts)
        out = self.order(2, taker, qty, price, ts=ts)
        trades = [e for e in out.events if isinstance(e, Trade)]
        assert [(t.price, t.qty) for t in trades] == [(price, qty)]
        return trades[0].trade_id


def check_against_engine(md: MarketData, engine: Any, out: Outcome, ups: list[Update]) -> None:
    assert md.depth(SYM) == engine.depth()
    for limit in (0, 1, 3):
        assert md.depth(SYM, limit) == engine.depth(limit)
    uid, bids, asks = engine.depth(1)
    bid, ask = (bids or [(0, 0)])[0], (asks or [(0, 0)])[0]
    assert md.book_ticker(SYM) == (uid, *bid, *ask)
    assert md.last_price(SYM) == engine.last_price
    assert md.status(SYM) is engine.status
    trades = [e for e in out.events if isinstance(e, Trade)]
    ticks = [u for u in ups if isinstance(u, TradeTick)]
    assert [(t.trade_id, t.price, t.qty, t.buyer_is_maker) for t in ticks] == [
        (t.trade_id, t.price, t.qty, t.taker_side is SELL) for t in trades
    ]
    assert all(tick.ts >= t.ts for tick, t in zip(ticks, trades, strict=True))
    klines = [u for u in ups if isinstance(u, KlineTick)]
    assert [k.interval for k in klines] == (list(KLINE_INTERVALS) if trades else [])
    depth = [u for u in ups if isinstance(u, DepthUpdate)]
    assert len(depth) <= 1
    if depth:
        assert depth[0].last_id == engine.update_id


# --- book -------------------------------------------------------------------


op_st = st.one_of(
    st.tuples(
        st.just("limit"),
        st.sampled_from(USERS),
        st.sampled_from([BUY, SELL]),
        st.integers(-3, 3),
        st.integers(1, 12),
        st.sampled_from([TimeInForce.GTC] * 4 + [TimeInForce.IOC, TimeInForce.FOK]),
    ),
    st.tuples(st.just("market"), st.sampled_from(USERS), st.sampled_from([BUY, SELL])),
    st.tuples(st.just("cancel"), st.integers(0, 100)),
    st.tuples(st.just("amend"), st.integers(0, 100), st.integers(-2, 2), st.integers(1, 12)),
    st.tuples(st.just("cancel_all"), st.sampled_from(USERS)),
    st.tuples(st.just("status"), st.sampled_from([MarketStatus.HALT, MarketStatus.TRADING])),
)


def request_of(feed: Feed, op: tuple[Any, ...]) -> Any:
    kind = op[0]
    orders = [feed.engine.orders[k] for k in sorted(feed.engine.orders)]
    if kind == "limit":
        _, user, side, off, qty, tif = op
        return rq.NewOrder(user, SYM, side, LIMIT, qty=qty, price=100 + off, tif=tif)
    if kind == "market":
        return rq.NewOrder(op[1], SYM, op[2], MARKET, qty=1 + op[1] * 2)
    if kind == "cancel_all":
        return rq.CancelAllOrders(op[1], SYM)
    if kind == "status":
        return rq.SetMarketStatus(SYM, op[1])
    if not orders:
        return rq.CancelOrder(1, SYM, 999)
    o = orders[op[1] % len(orders)]
    if kind == "cancel":
        return rq.CancelOrder(o.user_id, SYM, o.order_id)
    return rq.AmendOrder(o.user_id, SYM, o.order_id, max(1, o.price + op[2]), op[3])


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(ops=st.lists(op_st, min_size=1, max_size=60), seed_at=st.integers(0, 60))
def test_book_follows_the_engine_over_random_order_flow(
    ops: list[tuple[Any, ...]], seed_at: int
) -> None:
    """After every outcome: depth == engine.depth(), contiguous DepthUpdates rebuild it.

    A second read model seeded part-way from ``engine.depth(None)`` (as at start-up) and
    fed the outcomes after that agrees too.
    """
    feed = Feed()
    late: MarketData | None = None
    late_local: LocalBook | None = None
    for i, op in enumerate(ops):
        if i == seed_at:
            late = MarketData()
            e = feed.engine
            uid, bids, asks = e.depth(None)
            late.add_market(SYM, uid, bids, asks, e.last_price, e.status)
            late.last_seq = feed.seq
            late_local = LocalBook(*late.depth(SYM))
        out, _ = feed.apply(request_of(feed, op), feed.ts + 500)
        if late is not None and late_local is not None:
            for u in late.apply(out):
                if isinstance(u, DepthUpdate):
                    late_local.apply(u)
            assert late.depth(SYM) == feed.engine.depth() == late_local.depth()
            assert late.last_price(SYM) == feed.engine.last_price
    depth_updates = [u for u in feed.updates if isinstance(u, DepthUpdate)]
    for a, b in pairwise(depth_updates):
        assert b.first_id == a.last_id + 1
    ticks = [u for u in feed.updates if isinstance(u, TradeTick)]
    assert [t.trade_id for t in ticks] == list(range(1, len(ticks) + 1))
    assert feed.md.trades(SYM, 10_000) == ticks


def test_depth_levels_and_book_ticker() -> None:
    f = Feed()
    assert f.md.book_ticker(SYM) == (0, 0, 0, 0, 0)
    f.order(1, BUY, 5, 98)
    f.order(1, BUY, 3, 99)
    f.order(3, BUY, 2, 99)
    assert f.md.book_ticker(SYM) == (3, 99, 5, 0, 0)
    f.order(2, SELL, 4, 101)
    _, ups = f.apply(rq.NewOrder(2, SYM, SELL, LIMIT, qty=6, price=99))  # takes 99, rests 1
    assert [u for u in ups if isinstance(u, DepthUpdate)] == [
        DepthUpdate(SYM, f.ts, 5, 6, [(99, 0)], [(99, 1)])
    ]
    assert f.md.depth(SYM) == (6, [(98, 5)], [(99, 1), (101, 4)])
    assert f.md.depth(SYM, 1) == (6, [(98, 5)], [(99, 1)])
    assert f.md.book_ticker(SYM) == (6, 98, 5, 99, 1)


def test_a_gap_raises_before_changing_anything_and_a_new_seed_recovers() -> None:
    f = Feed()
    f.order(1, BUY, 5, 98)
    md = MarketData()
    md.add_market(SYM, *f.engine.depth(None))
    md.last_seq = f.seq
    missed, _ = f.apply(rq.NewOrder(1, SYM, BUY, LIMIT, qty=1, price=97))
    nxt, _ = f.apply(rq.NewOrder(1, SYM, BUY, LIMIT, qty=1, price=96))
    with pytest.raises(BookGap):
        md.apply(nxt)
    assert md.depth(SYM) == (1, [(98, 5)], []) and md.last_seq == missed.seq - 1
    assert md.apply(missed)  # the missed one still fits
    assert md.apply(nxt) and md.depth(SYM) == f.engine.depth()
    # A redelivered outcome is ignored; a re-seed replaces the book.
    assert md.apply(nxt) == []
    md.add_market(SYM, 0)
    assert md.depth(SYM) == (0, [], [])


def test_markets_come_from_add_market_outcomes_and_statuses_are_reported() -> None:
    f = Feed()
    assert f.md.symbols() == [SYM]
    _, ups = f.apply(rq.SetMarketStatus(SYM, MarketStatus.HALT))
    assert ups == [StatusChange(SYM, MarketStatus.HALT)]
    assert f.md.status(SYM) is MarketStatus.HALT
    out, ups = f.apply(rq.CancelOrder(1, "NOPEUSD", 1))  # refused, unknown symbol
    assert out.reject is not None and ups == [] and f.md.symbols() == [SYM]
    with pytest.raises(KeyError):
        f.md.depth("NOPEUSD")


# --- trades -----------------------------------------------------------------


def test_trade_ticks_aggregates_and_time_windows() -> None:
    f = Feed()
    ids = [f.trade(100 + i, 1 + i, ts=T0 + 1000 * i) for i in range(5)]  # ts T0 .. T0+4000
    # Two trades in one outcome at T0+4000: a sweep of two levels.
    f.order(1, SELL, 2, 110, ts=T0 + 4000)
    f.order(3, SELL, 3, 111)
    out = f.order(2, BUY, 5, 111)
    ids += [e.trade_id for e in out.events if isinstance(e, Trade)]
    assert ids == [1, 2, 3, 4, 5, 6, 7]
    md = f.md
    ticks = md.trades(SYM)
    assert [(t.trade_id, t.ts, t.buyer_is_maker) for t in ticks[:2]] == [
        (1, T0, False),
        (2, T0 + 1000, False),
    ]
    assert ticks[-1].quote_qty == 111 * 3
    assert [t.trade_id for t in md.trades(SYM, 3)] == [5, 6, 7]
    assert [t.trade_id for t in md.trades(SYM, 2, from_id=3)] == [3, 4]
    assert md.trades(SYM, 0) == [] and md.trades(SYM, 5, from_id=99) == []

    def agg(**kw: Any) -> list[int]:
        return [t.trade_id for t in md.agg_trades(SYM, **kw)]

    assert agg() == ids and agg(limit=2) == [6, 7]
    assert agg(start_ms=T0 + 1000, end_ms=T0 + 3000) == [2, 3, 4]  # both ends inclusive
    assert agg(start_ms=T0 + 1001, end_ms=T0 + 2999) == [3]
    assert agg(start_ms=T0 + 4000, end_ms=T0 + 4000) == [5, 6, 7]
    assert agg(start_ms=T0 + 4001) == []
    assert agg(end_ms=T0 + 2000, limit=2) == [2, 3]  # only an end: the newest before it
    assert agg(from_id=4) == [4, 5, 6, 7] and agg(from_id=4, limit=1) == [4]
    assert agg(from_id=2, end_ms=T0 + 2000) == [2, 3]
    assert agg(start_ms=0, limit=3) == [1, 2, 3]
    # A taker sell: the buyer is the maker.
    f.trade(100, ts=T0 + 5000, taker=SELL)
    assert md.trades(SYM, 1)[0].buyer_is_maker is True


def test_trades_and_candles_are_bounded() -> None:
    md = MarketData(trades_kept=20, candles_kept=5)
    f = Feed(md)
    for i in range(60):
        f.trade(100 + i % 7, ts=T0 + i * MIN)  # one trade a minute
    assert len(md.trades(SYM, 1000)) == 20
    assert [t.trade_id for t in md.trades(SYM, 1000)] == list(range(41, 61))
    assert md.agg_trades(SYM, start_ms=0, limit=1000) == md.trades(SYM, 1000)
    for iv in KLINE_INTERVALS:
        stored = md.klines(SYM, iv, start_ms=0, limit=1000, fill=False)
        if iv == "1m":
            assert len(stored) == 60  # kept for the 24h ticker (at least a day's worth)
        else:
            assert len(stored) <= 5
    assert [c.open_time for c in md.klines(SYM, "1s", start_ms=0, fill=False)] == [
        T0 + i * MIN for i in range(55, 60)
    ]
    # The 1m series keeps a day and a minute, whatever candles_kept says.
    for i in range(60, TICKER_MINUTES + 30):
        f.trade(100, ts=T0 + i * MIN)
    assert len(md.klines(SYM, "1m", start_ms=0, limit=5000, fill=False)) == TICKER_MINUTES
    t = md.ticker_24h(SYM, f.ts)
    assert t.trades == TICKER_MINUTES and t.volume_lots == TICKER_MINUTES


# --- klines -----------------------------------------------------------------


def test_interval_buckets() -> None:
    assert set(KLINE_INTERVALS) == set(INTERVALS) | {"1M"} and len(KLINE_INTERVALS) == 16
    t = ms("2024-02-29T13:47:12.345")
    assert open_time("1s", t) == ms("2024-02-29T13:47:12")
    assert open_time("15m", t) == ms("2024-02-29T13:45:00")
    assert open_time("4h", t) == ms("2024-02-29T12:00:00")
    assert open_time("1d", t) == ms("2024-02-29T00:00:00")
    assert open_time("1w", t) == ms("2024-02-26T00:00:00")  # Monday
    assert open_time("1w", ms("2024-02-26T00:00:00")) == ms("2024-02-26T00:00:00")
    assert open_time("1w", ms("2024-02-25T23:59:59.999")) == ms("2024-02-19T00:00:00")
    assert open_time("1M", t) == ms("2024-02-01T00:00:00")
    assert close_time("1M", ms("2024-02-01T00:00:00")) == ms("2024-03-01T00:00:00") - 1  # leap
    assert next_open("1M", ms("2024-12-01T00:00:00")) == ms("2025-01-01T00:00:00")
    assert prev_open("1M", ms("2025-01-01T00:00:00")) == ms("2024-12-01T00:00:00")
    assert prev_open("1h", ms("2025-01-01T00:00:00")) == ms("2024-12-31T23:00:00")
    assert close_time("1m", T0) == T0 + MIN - 1
    with pytest.raises(ValueError):
        MarketData().klines(SYM, "2m")


def candle(
    opened: int, iv: str, o: int, h: int, lo: int, c: int, vol: int, quote: int, n: int, **kw: int
) -> Candle:
    return Candle(
        opened,
        close_time(iv, opened),
        o,
        h,
        lo,
        c,
        vol,
        quote,
        n,
        kw.get("buy", 0),
        kw.get("buy_quote", 0),
        kw.get("first", -1),
        kw.get("last", -1),
    )


def test_klines_ohlcv_at_minute_and_hour_boundaries() -> None:
    f = Feed()
    f.trade(100, 2, ts=T0)  # 1: opens minute 0
    f.trade(104, 1, ts=T0 + 30_000, taker=SELL)  # 2
    f.trade(98, 3, ts=T0 + MIN - 1)  # 3: the last ms of minute 0
    f.trade(101, 1, ts=T0 + MIN)  # 4: first ms of minute 1
    f.trade(102, 5, ts=T0 + HOUR)  # 5: the next hour
    md = f.md
    quote0 = 100 * 2 + 104 + 98 * 3
    buy0, buy_quote0 = 2 + 3, 100 * 2 + 98 * 3  # trades 1 and 3 were taker buys
    m0 = candle(T0, "1m", 100, 104, 98, 98, 6, quote0, 3, buy=buy0, buy_quote=buy_quote0)
    m0 = m0._replace(first_trade_id=1, last_trade_id=3)
    m1 = candle(T0 + MIN, "1m", 101, 101, 101, 101, 1, 101, 1, buy=1, buy_quote=101)
    m1 = m1._replace(first_trade_id=4, last_trade_id=4)
    m60 = candle(T0 + HOUR, "1m", 102, 102, 102, 102, 5, 510, 1, buy=5, buy_quote=510)
    m60 = m60._replace(first_trade_id=5, last_trade_id=5)
    assert md.klines(SYM, "1m", fill=False) == [m0, m1, m60]
    got = md.klines(SYM, "1m", limit=1000)  # the quiet minutes filled flat at the close
    assert len(got) == 61 and got[0] == m0 and got[1] == m1 and got[-1] == m60
    assert got[2] == Candle.flat(T0 + 2 * MIN, T0 + 3 * MIN - 1, 101)
    assert all(c.trades == 0 and c.open == c.close == 101 for c in got[2:-1])
    h0 = md.klines(SYM, "1h")
    assert [(c.open_time, c.close_time) for c in h0] == [
        (T0, T0 + HOUR - 1),
        (T0 + HOUR, T0 + 2 * HOUR - 1),
    ]
    assert h0[0][2:11] == (100, 104, 98, 101, 7, quote0 + 101, 4, buy0 + 1, buy_quote0 + 101)
    assert (h0[0].first_trade_id, h0[0].last_trade_id) == (1, 4)
    assert h0[1][2:9] == (102, 102, 102, 102, 5, 510, 1)
    day = md.klines(SYM, "1d")
    assert len(day) == 1 and day[0][2:9] == (100, 104, 98, 102, 12, quote0 + 101 + 510, 5)
    assert day[0].open_time == ms("2024-03-04T00:00:00")


def test_klines_calendar_months() -> None:
    f = Feed(ts=ms("2023-12-31T23:59:59.999"))
    f.trade(100, ts=ms("2023-12-31T23:59:59.999"))
    f.trade(110, ts=ms("2024-01-01T00:00:00"))
    f.trade(90, ts=ms("2024-01-31T23:59:59.999"))
    f.trade(95, ts=ms("2024-02-01T00:00:00"))
    f.trade(97, ts=ms("2024-04-15T12:00:00"))
    months = f.md.klines(SYM, "1M")
    assert [(c.open_time, c.close_time, c.open, c.close, c.trades) for c in months] == [
        (ms("2023-12-01T00:00:00"), ms("2024-01-01T00:00:00") - 1, 100, 100, 1),
        (ms("2024-01-01T00:00:00"), ms("2024-02-01T00:00:00") - 1, 110, 90, 2),
        (ms("2024-02-01T00:00:00"), ms("2024-03-01T00:00:00") - 1, 95, 95, 1),
        (ms("2024-03-01T00:00:00"), ms("2024-04-01T00:00:00") - 1, 95, 95, 0),  # filled
        (ms("2024-04-01T00:00:00"), ms("2024-05-01T00:00:00") - 1, 97, 97, 1),
    ]
    assert [c.open_time for c in f.md.klines(SYM, "1M", limit=2)] == [
        ms("2024-03-01T00:00:00"),
        ms("2024-04-01T00:00:00"),
    ]
    nxt = f.md.klines(SYM, "1M", start_ms=ms("2024-01-15T00:00:00"), limit=2)
    assert [c.open_time for c in nxt] == [ms("2024-02-01T00:00:00"), ms("2024-03-01T00:00:00")]
    weeks = f.md.klines(SYM, "1w", fill=False)
    assert weeks[0].open_time == ms("2023-12-25T00:00:00")  # a Monday
    assert weeks[1].open_time == ms("2024-01-01T00:00:00")  # also a Monday


def test_kline_selection_limits_and_now() -> None:
    f = Feed()
    for minute, price in ((0, 100), (3, 103), (4, 104), (8, 108)):
        f.trade(price, ts=T0 + minute * MIN + 5)
    md = f.md

    def opens(**kw: Any) -> list[int]:
        return [(c.open_time - T0) // MIN for c in md.klines(SYM, "1m", **kw)]

    assert opens() == list(range(9))
    assert opens(limit=3) == [6, 7, 8]  # the newest
    assert opens(start_ms=0, limit=3) == [0, 1, 2]  # 0: the oldest kept
    assert opens(start_ms=T0 + 3 * MIN, limit=2) == [3, 4]
    assert opens(start_ms=T0 + 3 * MIN + 1, limit=2) == [4, 5]  # by open time
    assert opens(start_ms=T0 + 2 * MIN, end_ms=T0 + 4 * MIN) == [2, 3, 4]  # inclusive
    assert opens(end_ms=T0 + 5 * MIN - 1, limit=2) == [3, 4]
    assert opens(start_ms=T0 + 9 * MIN) == [] and opens(end_ms=T0 - 1) == []
    assert opens(now_ms=T0 + 11 * MIN + 7, limit=4) == [8, 9, 10, 11]
    assert opens(fill=False) == [0, 3, 4, 8]
    assert opens(fill=False, limit=2) == [4, 8]
    assert opens(fill=False, start_ms=T0 + MIN, limit=2) == [3, 4]
    assert opens(fill=False, start_ms=T0 + MIN, end_ms=T0 + 3 * MIN) == [3]
    quiet = md.klines(SYM, "1m", start_ms=T0 + MIN, limit=2)
    assert [(c.open, c.close, c.volume_lots, c.first_trade_id) for c in quiet] == [
        (100, 100, 0, -1),
        (100, 100, 0, -1),
    ]
    assert md.klines(SYM, "1m", limit=0) == []
    with pytest.raises(KeyError):
        MarketData().klines(SYM, "1m")


def test_kline_ticks_carry_the_current_candle_of_every_interval() -> None:
    f = Feed()
    f.order(1, SELL, 2, 100, ts=T0)
    f.order(1, SELL, 2, 101)
    _, ups = f.apply(rq.NewOrder(2, SYM, BUY, LIMIT, qty=3, price=101))
    kinds = [type(u).__name__ for u in ups]
    assert kinds == ["TradeTick"] * 2 + ["KlineTick"] * 16 + ["DepthUpdate"]
    ticks = {u.interval: u.candle for u in ups if isinstance(u, KlineTick)}
    assert ticks["1m"][2:9] == (100, 101, 100, 101, 3, 301, 2)
    assert ticks["1M"].open_time == ms("2024-03-01T00:00:00")
    assert all(c == f.md.klines(SYM, iv, limit=1)[0] for iv, c in ticks.items())


# --- tickers ----------------------------------------------------------------


def test_ticker_24h_window_drops_old_trades() -> None:
    f = Feed()
    f.trade(90, 1, ts=T0)  # 1
    f.trade(120, 2, ts=T0 + HOUR)  # 2
    f.trade(80, 3, ts=T0 + 2 * HOUR)  # 3
    f.trade(100, 4, ts=T0 + 25 * HOUR + 30_000)  # 4
    md = f.md
    now = T0 + DAY + HOUR + 30_000  # 24h after the first minute of trade 2
    t = md.ticker_24h(SYM, now)
    assert t.open_time == T0 + HOUR and t.close_time == now
    assert (t.open, t.high, t.low, t.last, t.last_qty) == (120, 120, 80, 100, 4)
    assert (t.first_id, t.last_id, t.trades) == (2, 4, 3)
    assert (t.volume_lots, t.quote_volume_units) == (9, 240 + 240 + 400)
    assert t.weighted_avg == Fraction(880, 9) and t.prev_close == 90 and t.price_change == -20
    # A minute later the window starts after trade 2.
    t = md.ticker_24h(SYM, now + MIN)
    assert (t.first_id, t.trades, t.open, t.high, t.prev_close) == (3, 2, 80, 100, 120)
    # Long after: an empty window, flat at the last price.
    t = md.ticker_24h(SYM, T0 + 60 * DAY)
    assert (t.open, t.high, t.low, t.last, t.trades, t.first_id, t.last_id) == (
        100,
        100,
        100,
        100,
        0,
        -1,
        -1,
    )
    assert t.volume_lots == 0 and t.weighted_avg == 0 and t.price_change == 0
    assert t.prev_close == 100
    # A window of one hour (the @ticker_1h kind).
    t = md.ticker_24h(SYM, T0 + 2 * HOUR + 10, window_ms=HOUR)
    assert (t.first_id, t.last_id) == (2, 3)
    with pytest.raises(ValueError):
        md.ticker_24h(SYM, now, window_ms=2 * DAY)


def test_ticker_of_a_market_without_trades() -> None:
    md = MarketData()
    md.add_market(SYM, last_price=77)
    t = md.ticker_24h(SYM, T0)
    assert (t.open, t.last, t.prev_close, t.trades, t.volume_lots) == (77, 77, 77, 0, 0)
    assert md.avg_price(SYM, T0) == (Fraction(77), 0)
    md.add_market("EMPTYUSD")
    assert md.ticker_24h("EMPTYUSD", T0)[2:8] == (0, 0, 0, 0, 0, 0)
    assert md.symbols() == ["EMPTYUSD", SYM]


def test_avg_price_over_the_last_minutes() -> None:
    f = Feed()
    f.trade(200, 1, ts=T0)
    f.trade(100, 1, ts=T0 + 10 * MIN)
    f.trade(110, 3, ts=T0 + 12 * MIN + 5)
    now = T0 + 15 * MIN
    assert f.md.avg_price(SYM, now) == (Fraction(100 + 330, 4), T0 + 12 * MIN + 5)
    assert f.md.avg_price(SYM, now, mins=1) == (Fraction(110), T0 + 12 * MIN + 5)
    assert f.md.avg_price(SYM, now + HOUR) == (Fraction(110), T0 + 12 * MIN + 5)


def test_time_never_goes_back_within_a_market() -> None:
    f = Feed()
    f.trade(100, ts=T0 + MIN)
    f.trade(101, ts=T0)  # stamped earlier: counts at the last trade's time
    assert [t.ts for t in f.md.trades(SYM)] == [T0 + MIN, T0 + MIN]
    assert len(f.md.klines(SYM, "1m")) == 1


def test_trades_loaded_after_a_restart_give_the_same_market_data() -> None:
    """What ``rialto up`` loads from the SQL read model at start-up: the same trades,
    candles, last trade and ticker as the process that saw them live."""
    live = Feed()
    rng = random.Random(3)
    ts = T0
    for _ in range(300):
        ts += rng.choice((0, 0, 700, 20_000, 3 * MIN, HOUR))  # several trades per instant too
        live.trade(rng.randint(90, 110), rng.randint(1, 5), ts=ts,
                   taker=rng.choice((BUY, SELL)))  # fmt: skip
    past = live.md.trades(SYM, 1000)
    restarted = MarketData()
    restarted.add_market(SYM)
    restarted.load_trades(SYM, past)
    for interval in ("1s", "1m", "15m", "1h", "1d", "1w", "1M"):
        assert restarted.klines(SYM, interval, limit=1000, now_ms=ts) == live.md.klines(
            SYM, interval, limit=1000, now_ms=ts
        ), interval
    assert restarted.trades(SYM, 1000) == past
    assert restarted.ticker_24h(SYM, ts) == live.md.ticker_24h(SYM, ts)
    assert restarted.now(SYM, 0) == ts
    with pytest.raises(ValueError):
        restarted.load_trades(SYM, past)  # only into a market without trades
