"""A Binance-compatible venue through ccxt's async ``binance`` class, every URL pointed at it.

Rialto itself and the external venues are reached the same way. Orders go through ccxt's
raw endpoint methods (``privatePostOrder`` ...) with parameters already on the market's grid:
ccxt still signs and maps errors, and skips its own rounding, which the bot has done.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from decimal import Decimal
from typing import Any

from rialto.marketmaker.quotes import MarketSpec, Side
from rialto.marketmaker.routing import Level

FINAL = frozenset({"FILLED", "CANCELED", "EXPIRED", "REJECTED", "EXPIRED_IN_MATCH"})


def point_at(ex: Any, base: str) -> Any:
    """Every URL under ``urls['api']`` (nested too) to ``base``, keeping its path."""
    base = base.rstrip("/")

    def rewrite(node: dict[str, Any]) -> None:
        for k, v in list(node.items()):
            if isinstance(v, dict):
                rewrite(v)
            elif isinstance(v, str) and "://" in v:
                rest = v.split("://", 1)[1]
                node[k] = base + "/" + (rest.split("/", 1)[1] if "/" in rest else "")

    rewrite(ex.urls["api"])
    return ex


def binance_client(url: str, api_key: str = "", secret: str = "") -> Any:
    import ccxt.async_support as ccxt  # a runtime dependency of this service only

    ex = ccxt.binance(
        {
            "apiKey": api_key,
            "secret": secret,
            "enableRateLimit": False,  # the bot paces itself; the venue's limiter answers 429
            "options": {
                "fetchMarkets": {"types": ["spot"]},
                "fetchCurrencies": False,
                "fetchMargins": False,
            },
        }
    )
    return point_at(ex, url)


def _levels(rows: list[list[str]]) -> list[Level]:
    return [(Decimal(p), Decimal(q)) for p, q, *_ in rows]


def _fmt(d: Decimal) -> str:
    return format(d.normalize(), "f")


class Venue:
    def __init__(
        self,
        name: str,
        url: str,
        api_key: str = "",
        secret: str = "",
        taker_fee: Decimal = Decimal("0.001"),
        maker_fee: Decimal = Decimal("0.001"),
    ) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self.ex = binance_client(url, api_key, secret)
        self.taker_fee = taker_fee
        self.maker_fee = maker_fee
        self.specs: dict[str, MarketSpec] = {}  # by venue symbol id (BTCUSDT)
        self.status: dict[str, str] = {}

    async def load(self) -> None:
        await self.ex.load_markets(reload=True)
        for market in self.ex.markets.values():
            info = market["info"]
            f = {x["filterType"]: x for x in info.get("filters", [])}
            notional = f.get("NOTIONAL") or f.get("MIN_NOTIONAL") or {}
            self.specs[info["symbol"]] = MarketSpec(
                symbol=info["symbol"],
                base=info["baseAsset"],
                quote=info["quoteAsset"],
                tick=Decimal(f["PRICE_FILTER"]["tickSize"]).normalize(),
                step=Decimal(f["LOT_SIZE"]["stepSize"]).normalize(),
                min_qty=Decimal(f["LOT_SIZE"].get("minQty", "0")),
                min_notional=Decimal(notional.get("minNotional", "0")),
            )
            self.status[info["symbol"]] = info.get("status", "TRADING")

    def symbol_id(self, symbol: str) -> str:
        """``BTC/USDT`` or ``BTCUSDT`` as the venue's id."""
        return symbol.replace("/", "").upper()

    async def book(self, symbol: str, limit: int = 20) -> tuple[list[Level], list[Level]]:
        d = await self.ex.publicGetDepth({"symbol": self.symbol_id(symbol), "limit": limit})
        return _levels(d["bids"]), _levels(d["asks"])

    async def last_price(self, symbol: str) -> Decimal | None:
        rows = await self.ex.publicGetTrades({"symbol": self.symbol_id(symbol), "limit": 1})
        return Decimal(rows[-1]["price"]) if rows else None

    async def place(
        self,
        symbol: str,
        side: Side,
        qty: Decimal,
        price: Decimal,
        kind: str = "LIMIT_MAKER",
        client_id: str | None = None,
        full: bool = False,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            "symbol": self.symbol_id(symbol),
            "side": side,
            "type": "LIMIT" if kind == "IOC" else kind,
            "quantity": _fmt(qty),
            "price": _fmt(price),
            "newOrderRespType": "FULL" if full else "ACK",
            # Never trade with itself: a taker that would meet one of the bot's orders expires.
            "selfTradePreventionMode": "EXPIRE_TAKER",
        }
        if kind == "IOC":
            params["timeInForce"] = "IOC"
        if client_id:
            params["newClientOrderId"] = client_id
        result: dict[str, Any] = await self.ex.privatePostOrder(params)
        return result

    async def replace(
        self,
        symbol: str,
        order_id: str,
        side: Side,
        qty: Decimal,
        price: Decimal,
        client_id: str | None = None,
    ) -> dict[str, Any]:
        """Cancel ``order_id`` and place a LIMIT_MAKER in one request (cancelReplace): the
        new order only if the cancel went through (STOP_ON_FAILURE)."""
        params: dict[str, Any] = {
            "symbol": self.symbol_id(symbol),
            "side": side,
            "type": "LIMIT_MAKER",
            "cancelReplaceMode": "STOP_ON_FAILURE",
            "cancelOrderId": order_id,
            "quantity": _fmt(qty),
            "price": _fmt(price),
            "newOrderRespType": "ACK",
            "selfTradePreventionMode": "EXPIRE_TAKER",
        }
        if client_id:
            params["newClientOrderId"] = client_id
        result: dict[str, Any] = await self.ex.privatePostOrderCancelReplace(params)
        return result

    async def cancel(self, symbol: str, order_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.ex.privateDeleteOrder(
            {"symbol": self.symbol_id(symbol), "orderId": order_id}
        )
        return result

    async def cancel_all(self, symbol: str) -> None:
        import ccxt.async_support as ccxt

        with contextlib.suppress(ccxt.OrderNotFound):  # none open: Binance answers -2011
            await self.ex.privateDeleteOpenOrders({"symbol": self.symbol_id(symbol)})

    async def open_orders(self, symbol: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = await self.ex.privateGetOpenOrders(
            {"symbol": self.symbol_id(symbol)}
        )
        return rows

    async def order(self, symbol: str, order_id: str) -> dict[str, Any]:
        row: dict[str, Any] = await self.ex.privateGetOrder(
            {"symbol": self.symbol_id(symbol), "orderId": order_id}
        )
        return row

    async def balances(self) -> dict[str, Decimal]:
        acct = await self.ex.privateGetAccount()
        return {b["asset"]: Decimal(b["free"]) + Decimal(b["locked"]) for b in acct["balances"]}

    async def listen_key(self) -> str:
        d = await self.ex.publicPostUserDataStream()
        return str(d["listenKey"])

    async def keep_alive(self, key: str) -> None:
        await self.ex.publicPutUserDataStream({"listenKey": key})

    async def track(self, symbol: str, order: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """Follow an order until it is filled or canceled (canceling it at ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        while order.get("status") not in FINAL:
            if time.monotonic() > deadline:
                try:
                    order = await self.cancel(symbol, str(order["orderId"]))
                except Exception:  # it may have ended meanwhile: read it
                    order = await self.order(symbol, str(order["orderId"]))
                break
            await asyncio.sleep(0.1)
            order = await self.order(symbol, str(order["orderId"]))
        return order

    async def close(self) -> None:
        await self.ex.close()
