"""Binance's JSON shapes, from Rialto's integers (decimal strings on the wire, never floats)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any, Protocol

from rialto.domain.assets import Asset
from rialto.domain.instruments import Instrument
from rialto.domain.orders import (
    MarketStatus,
    OrderStatus,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from rialto.domain.risk import BPS, OFF, MarketRisk
from rialto.marketdata import Candle, Ticker, TradeTick

ORDER_TYPES = ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT",
               "TAKE_PROFIT_LIMIT"]  # fmt: skip
PRECISION = 8  # decimals of prices and quantities on the wire, as Binance pads them


class OrderLike(Protocol):
    @property
    def order_id(self) -> int: ...
    @property
    def client_order_id(self) -> str: ...
    @property
    def side(self) -> Side: ...
    @property
    def order_type(self) -> OrderType: ...
    @property
    def tif(self) -> TimeInForce: ...
    @property
    def price(self) -> int: ...
    @property
    def qty(self) -> int: ...
    @property
    def quote_qty(self) -> int: ...
    @property
    def stop_price(self) -> int: ...
    @property
    def stp(self) -> SelfTradePrevention: ...
    @property
    def status(self) -> OrderStatus: ...
    @property
    def filled(self) -> int: ...
    @property
    def filled_quote(self) -> int: ...


def fraction_str(value: Fraction, decimals: int = PRECISION) -> str:
    """``value`` rounded down to ``decimals`` places, as a plain decimal string."""
    scaled = value.numerator * 10**decimals // value.denominator
    sign = "-" if scaled < 0 else ""
    digits = str(abs(scaled)).rjust(decimals + 1, "0")
    return f"{sign}{digits[:-decimals]}.{digits[-decimals:]}" if decimals else f"{sign}{digits}"


def _d(ins: Instrument) -> int:
    return max(PRECISION, ins.tick.scale, ins.step.scale)


def price(ins: Instrument, ticks: int) -> str:
    return ins.format_price(ticks, _d(ins))


def qty(ins: Instrument, lots: int) -> str:
    return ins.format_qty(lots, _d(ins))


def notional(ins: Instrument, units: int) -> str:
    return ins.format_notional(units, _d(ins))


def levels(ins: Instrument, side: list[tuple[int, int]]) -> list[list[str]]:
    return [[price(ins, p), qty(ins, q)] for p, q in side]


def symbol_info(
    ins: Instrument, status: MarketStatus, base: Asset, quote: Asset, risk: MarketRisk = OFF
) -> dict[str, Any]:
    d = _d(ins)
    info: dict[str, Any] = {
        "symbol": ins.symbol,
        "status": status.value,
        "baseAsset": ins.base_asset,
        "baseAssetPrecision": base.decimals,
        "quoteAsset": ins.quote_asset,
        "quotePrecision": quote.decimals,
        "quoteAssetPrecision": quote.decimals,
        "baseCommissionPrecision": base.decimals,
        "quoteCommissionPrecision": quote.decimals,
        "orderTypes": ORDER_TYPES,
        "icebergAllowed": False,
        "ocoAllowed": False,
        "otoAllowed": False,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": True,
        "amendAllowed": False,
        "pegInstructionsAllowed": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": price(ins, ins.min_price_ticks),
                "maxPrice": price(ins, ins.max_price_ticks),
                "tickSize": price(ins, 1),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": qty(ins, ins.min_lots),
                "maxQty": qty(ins, ins.max_lots),
                "stepSize": qty(ins, 1),
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": ins.format_notional(ins.min_notional_units, d),
                "applyMinToMarket": True,
                "maxNotional": "9000000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": qty(ins, ins.market_min_lots),
                "maxQty": qty(ins, ins.market_max_lots),
                "stepSize": qty(ins, 1),
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": ins.default_stp.value,
        "allowedSelfTradePreventionModes": sorted(s.value for s in ins.allowed_stp),
    }
    if risk.band_bps:
        info["filters"].append(percent_price_by_side(risk.band_bps))
    return info


def percent_price_by_side(band_bps: int) -> dict[str, Any]:
    """The price band as Binance's filter; ``avgPriceMins`` 0: relative to the last price."""
    up = str(Decimal(BPS + band_bps) / BPS)
    down = str(max(Decimal(0), Decimal(BPS - band_bps) / BPS))
    return {
        "filterType": "PERCENT_PRICE_BY_SIDE",
        "bidMultiplierUp": up,
        "bidMultiplierDown": down,
        "askMultiplierUp": up,
        "askMultiplierDown": down,
        "avgPriceMins": 0,
    }


def order(ins: Instrument, o: OrderLike, symbol: str, created: int, updated: int) -> dict[str, Any]:
    """GET /api/v3/order's object."""
    return {
        "symbol": symbol,
        "orderId": o.order_id,
        "orderListId": -1,
        "clientOrderId": o.client_order_id,
        "price": price(ins, o.price),
        "origQty": qty(ins, o.qty),
        "executedQty": qty(ins, o.filled),
        "cummulativeQuoteQty": notional(ins, o.filled_quote),
        "status": o.status.value,
        "timeInForce": o.tif.value,
        "type": o.order_type.value,
        "side": o.side.value,
        "stopPrice": price(ins, o.stop_price),
        "icebergQty": qty(ins, 0),
        "time": created,
        "updateTime": updated,
        "isWorking": o.status in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED),
        "workingTime": created,
        "origQuoteOrderQty": notional(ins, o.quote_qty),
        "selfTradePreventionMode": o.stp.value,
    }


def trade(ins: Instrument, t: TradeTick) -> dict[str, Any]:
    return {
        "id": t.trade_id,
        "price": price(ins, t.price),
        "qty": qty(ins, t.qty),
        "quoteQty": notional(ins, t.price * t.qty),
        "time": t.ts,
        "isBuyerMaker": t.buyer_is_maker,
        "isBestMatch": True,
    }


def agg_trade(ins: Instrument, t: TradeTick) -> dict[str, Any]:
    return {
        "a": t.trade_id,
        "p": price(ins, t.price),
        "q": qty(ins, t.qty),
        "f": t.trade_id,
        "l": t.trade_id,
        "T": t.ts,
        "m": t.buyer_is_maker,
        "M": True,
    }


def kline(ins: Instrument, c: Candle) -> list[Any]:
    return [
        c.open_time,
        price(ins, c.open),
        price(ins, c.high),
        price(ins, c.low),
        price(ins, c.close),
        qty(ins, c.volume_lots),
        c.close_time,
        notional(ins, c.quote_volume_units),
        c.trades,
        qty(ins, c.taker_buy_lots),
        notional(ins, c.taker_buy_quote_units),
        "0",
    ]


def ticker_24h(ins: Instrument, t: Ticker, book: tuple[int, int, int, int, int]) -> dict[str, Any]:
    change = t.last - t.open
    percent = Fraction(change * 100, t.open) if t.open else Fraction(0)
    _, bid, bid_qty, ask, ask_qty = book
    avg = t.weighted_avg * ins.tick.mantissa / 10**ins.tick.scale
    return {
        "symbol": ins.symbol,
        "priceChange": price(ins, change),
        "priceChangePercent": fraction_str(percent, 3),
        "weightedAvgPrice": fraction_str(Fraction(avg)),
        "prevClosePrice": price(ins, t.prev_close),
        "lastPrice": price(ins, t.last),
        "lastQty": qty(ins, t.last_qty),
        "bidPrice": price(ins, bid),
        "bidQty": qty(ins, bid_qty),
        "askPrice": price(ins, ask),
        "askQty": qty(ins, ask_qty),
        "openPrice": price(ins, t.open),
        "highPrice": price(ins, t.high),
        "lowPrice": price(ins, t.low),
        "volume": qty(ins, t.volume_lots),
        "quoteVolume": notional(ins, t.quote_volume_units),
        "openTime": t.open_time,
        "closeTime": t.close_time,
        "firstId": t.first_id,
        "lastId": t.last_id,
        "count": t.trades,
    }


def book_ticker(ins: Instrument, book: tuple[int, int, int, int, int]) -> dict[str, Any]:
    _, bid, bid_qty, ask, ask_qty = book
    return {
        "symbol": ins.symbol,
        "bidPrice": price(ins, bid),
        "bidQty": qty(ins, bid_qty),
        "askPrice": price(ins, ask),
        "askQty": qty(ins, ask_qty),
    }
