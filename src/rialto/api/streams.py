"""Binance market stream names and payloads, from the market-data read model's updates.

Names are lower-case ``<symbol>@<kind>``: ``depth`` (1000 ms diffs), ``depth@100ms``,
``depth5|10|20[@100ms]`` (partial book), ``trade``, ``aggTrade``, ``kline_<interval>``,
``miniTicker``, ``ticker``, ``bookTicker``, and ``!miniTicker@arr`` for every symbol.
``status`` is Rialto's own (Binance has no such stream): the market's trading status
each time it changes (a circuit breaker's BREAK and the resume after it, an operator's
HALT), as ``{"e": "marketStatus", "E": ms, "s": SYMBOL, "status": "BREAK"}``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from rialto.api import views
from rialto.domain.instruments import Instrument
from rialto.marketdata import (
    KLINE_INTERVALS,
    Candle,
    DepthUpdate,
    StatusChange,
    Ticker,
    TradeTick,
)

ALL_MINI_TICKERS = "!miniTicker@arr"
_SIMPLE = {
    "trade",
    "aggTrade",
    "miniTicker",
    "ticker",
    "bookTicker",
    "depth",
    "depth@100ms",
    "status",
}


class Stream(NamedTuple):
    name: str  # as subscribed (the symbol in lower case)
    symbol: str  # upper case; "" for !miniTicker@arr
    # trade | aggTrade | depth | depthN | kline | miniTicker | ticker | bookTicker | status | all
    kind: str
    fast: bool = False  # @100ms
    levels: int = 0  # for depthN
    interval: str = ""  # for kline


def parse(name: str, known: set[str]) -> Stream | None:
    """The stream called ``name``, or None if it is not one Rialto serves."""
    if name == ALL_MINI_TICKERS:
        return Stream(name, "", "all")
    symbol, sep, rest = name.partition("@")
    if not sep or symbol != symbol.lower() or symbol.upper() not in known:
        return None
    upper = symbol.upper()
    if rest in _SIMPLE:
        if rest.startswith("depth"):
            return Stream(name, upper, "depth", fast=rest.endswith("@100ms"))
        return Stream(name, upper, rest)
    if rest.startswith("kline_") and rest[6:] in KLINE_INTERVALS:
        return Stream(name, upper, "kline", interval=rest[6:])
    for n in (5, 10, 20):
        if rest in (f"depth{n}", f"depth{n}@100ms"):
            return Stream(name, upper, "depthN", fast=rest.endswith("@100ms"), levels=n)
    return None


def depth_update(ins: Instrument, u: DepthUpdate, now: int) -> dict[str, Any]:
    return {
        "e": "depthUpdate",
        "E": now,
        "s": u.symbol,
        "U": u.first_id,
        "u": u.last_id,
        "b": views.levels(ins, u.bids),
        "a": views.levels(ins, u.asks),
    }


def market_status(s: StatusChange, now: int) -> tuple[str, dict[str, Any]]:
    """The ``<symbol>@status`` stream's name and message for a status change."""
    payload = {"e": "marketStatus", "E": now, "s": s.symbol, "status": s.status.value}
    return f"{s.symbol.lower()}@status", payload


def partial_depth(
    ins: Instrument, update_id: int, bids: list[tuple[int, int]], asks: list[tuple[int, int]]
) -> dict[str, Any]:
    return {
        "lastUpdateId": update_id,
        "bids": views.levels(ins, bids),
        "asks": views.levels(ins, asks),
    }


def trade(ins: Instrument, t: TradeTick, now: int) -> dict[str, Any]:
    return {
        "e": "trade",
        "E": now,
        "s": t.symbol,
        "t": t.trade_id,
        "p": views.price(ins, t.price),
        "q": views.qty(ins, t.qty),
        "T": t.ts,
        "m": t.buyer_is_maker,
        "M": True,
    }


def agg_trade(ins: Instrument, t: TradeTick, now: int) -> dict[str, Any]:
    return {"e": "aggTrade", "E": now, "s": t.symbol, **views.agg_trade(ins, t)}


def kline(ins: Instrument, interval: str, c: Candle, now: int) -> dict[str, Any]:
    return {
        "e": "kline",
        "E": now,
        "s": ins.symbol,
        "k": {
            "t": c.open_time,
            "T": c.close_time,
            "s": ins.symbol,
            "i": interval,
            "f": c.first_trade_id,
            "L": c.last_trade_id,
            "o": views.price(ins, c.open),
            "c": views.price(ins, c.close),
            "h": views.price(ins, c.high),
            "l": views.price(ins, c.low),
            "v": views.qty(ins, c.volume_lots),
            "n": c.trades,
            "x": c.close_time < now,
            "q": views.notional(ins, c.quote_volume_units),
            "V": views.qty(ins, c.taker_buy_lots),
            "Q": views.notional(ins, c.taker_buy_quote_units),
            "B": "0",
        },
    }


def mini_ticker(ins: Instrument, t: Ticker, now: int) -> dict[str, Any]:
    return {
        "e": "24hrMiniTicker",
        "E": now,
        "s": ins.symbol,
        "c": views.price(ins, t.last),
        "o": views.price(ins, t.open),
        "h": views.price(ins, t.high),
        "l": views.price(ins, t.low),
        "v": views.qty(ins, t.volume_lots),
        "q": views.notional(ins, t.quote_volume_units),
    }


def ticker(
    ins: Instrument, t: Ticker, book: tuple[int, int, int, int, int], now: int
) -> dict[str, Any]:
    full = views.ticker_24h(ins, t, book)
    return {
        "e": "24hrTicker",
        "E": now,
        "s": ins.symbol,
        "p": full["priceChange"],
        "P": full["priceChangePercent"],
        "w": full["weightedAvgPrice"],
        "x": full["prevClosePrice"],
        "c": full["lastPrice"],
        "Q": full["lastQty"],
        "b": full["bidPrice"],
        "B": full["bidQty"],
        "a": full["askPrice"],
        "A": full["askQty"],
        "o": full["openPrice"],
        "h": full["highPrice"],
        "l": full["lowPrice"],
        "v": full["volume"],
        "q": full["quoteVolume"],
        "O": full["openTime"],
        "C": full["closeTime"],
        "F": full["firstId"],
        "L": full["lastId"],
        "n": full["count"],
    }


def book_ticker(ins: Instrument, book: tuple[int, int, int, int, int]) -> dict[str, Any]:
    update_id, bid, bid_qty, ask, ask_qty = book
    return {
        "u": update_id,
        "s": ins.symbol,
        "b": views.price(ins, bid),
        "B": views.qty(ins, bid_qty),
        "a": views.price(ins, ask),
        "A": views.qty(ins, ask_qty),
    }
