"""The OpenAPI 3 document of the REST API, served at ``/openapi.json``.

Written from one table of endpoints and their parameters, which also gives the REST routes
(handler, weight, permission), so a new endpoint is one line here. Signed endpoints declare
the ``X-MBX-APIKEY`` header and the ``timestamp`` and ``signature`` parameters; answers are
described as JSON, errors as Binance's ``{"code", "msg"}``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from rialto.marketdata import KLINE_INTERVALS

_STR: dict[str, Any] = {"type": "string"}
_INT: dict[str, Any] = {"type": "integer", "format": "int64", "minimum": 0}
_SYMBOL: dict[str, Any] = {"type": "string", "pattern": "^[A-Z0-9-_.]{1,20}$"}
_DECIMAL: dict[str, Any] = {"type": "string", "pattern": "^[0-9]{1,20}(\\.[0-9]{1,20})?$"}


def _p(name: str, schema: dict[str, Any], required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema}


def _enum(*values: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


ORDER_TYPES = ("LIMIT", "MARKET", "LIMIT_MAKER", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT",
               "TAKE_PROFIT_LIMIT")  # fmt: skip
SYMBOL = _p("symbol", _SYMBOL, True)
OPT_SYMBOL = _p("symbol", _SYMBOL)
LIMIT = _p("limit", {"type": "integer", "minimum": 1, "maximum": 5000})
TIMES = [_p("startTime", _INT), _p("endTime", _INT)]
ORDER_REF = [_p("orderId", _INT), _p("origClientOrderId", _STR)]
NEW_ORDER = [
    SYMBOL,
    _p("side", _enum("BUY", "SELL"), True),
    _p("type", _enum(*ORDER_TYPES), True),
    _p("timeInForce", _enum("GTC", "IOC", "FOK")),
    _p("quantity", _DECIMAL),
    _p("quoteOrderQty", _DECIMAL),
    _p("price", _DECIMAL),
    _p("stopPrice", _DECIMAL),
    _p("newClientOrderId", _STR),
    _p("newOrderRespType", _enum("ACK", "RESULT", "FULL")),
    _p("selfTradePreventionMode", _enum("NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH")),
]


class Endpoint(NamedTuple):
    """One REST endpoint: its route (``rest.create_app``) and its OpenAPI entry."""

    method: str
    path: str
    summary: str
    params: list[dict[str, Any]]
    handler: str  # the name of the ``rest.Api`` method that answers it
    weight: int = 1
    security: str = ""  # "" public, "signed" (signature and permission), "key" (API key only)
    permission: str = ""  # for signed endpoints: "read" or "trade"


def _public(
    path: str, summary: str, params: list[dict[str, Any]], handler: str, weight: int = 1
) -> Endpoint:
    return Endpoint("get", f"/api/v3/{path}", summary, params, handler, weight)


def _signed(
    method: str,
    path: str,
    summary: str,
    params: list[dict[str, Any]],
    handler: str,
    permission: str,
    weight: int = 1,
) -> Endpoint:
    return Endpoint(
        method, f"/api/v3/{path}", summary, params, handler, weight, "signed", permission
    )


SYMBOLS = [OPT_SYMBOL, _p("symbols", _STR)]
KLINES = [SYMBOL, _p("interval", _enum(*KLINE_INTERVALS), True), *TIMES, LIMIT]
LISTEN_KEY = [_p("listenKey", _STR, True)]
ENDPOINTS: list[Endpoint] = [
    _public("ping", "Test connectivity", [], "ping"),
    _public("time", "Server time", [], "time"),
    _public("exchangeInfo", "Markets and their filters", SYMBOLS, "exchange_info", 20),
    _public("depth", "Order book", [SYMBOL, LIMIT], "depth", 5),
    _public("trades", "Recent trades", [SYMBOL, LIMIT], "trades", 25),
    _public("historicalTrades", "Older trades", [SYMBOL, LIMIT, _p("fromId", _INT)], "trades", 25),
    _public("aggTrades", "Aggregate trades", [SYMBOL, _p("fromId", _INT), *TIMES, LIMIT],
            "agg_trades", 4),
    _public("klines", "Candles", KLINES, "klines", 2),
    _public("uiKlines", "Candles (for charts)", KLINES, "klines", 2),
    _public("ticker/24hr", "24 h statistics", SYMBOLS, "ticker_24h", 2),
    _public("ticker/price", "Last price", SYMBOLS, "ticker_price", 2),
    _public("ticker/bookTicker", "Best bid and ask", SYMBOLS, "book_ticker", 2),
    _public("avgPrice", "Average price of the last 5 minutes", [SYMBOL], "avg_price", 2),
    _signed("get", "account", "Balances", [_p("omitZeroBalances", _enum("true", "false"))],
            "account", "read", 20),
    _signed("post", "order", "New order", NEW_ORDER, "new_order", "trade"),
    _signed("post", "order/test", "Check a new order without placing it", NEW_ORDER,
            "test_order", "trade"),
    _signed("post", "order/cancelReplace", "Cancel an order and place a new one",
            [*NEW_ORDER, _p("cancelReplaceMode", _enum("STOP_ON_FAILURE", "ALLOW_FAILURE"), True),
             _p("cancelOrderId", _INT), _p("cancelOrigClientOrderId", _STR),
             _p("cancelNewClientOrderId", _STR)], "cancel_replace", "trade"),
    _signed("get", "order", "An order", [SYMBOL, *ORDER_REF], "order", "read", 4),
    _signed("delete", "order", "Cancel an order", [SYMBOL, *ORDER_REF,
            _p("newClientOrderId", _STR)], "order", "trade"),
    _signed("get", "openOrders", "Open orders", [OPT_SYMBOL], "open_orders", "read", 6),
    _signed("delete", "openOrders", "Cancel all open orders of a symbol", [SYMBOL],
            "open_orders", "trade"),
    _signed("get", "allOrders", "All orders", [SYMBOL, _p("orderId", _INT), *TIMES, LIMIT],
            "all_orders", "read", 20),
    _signed("get", "myTrades", "Own trades",
            [SYMBOL, _p("orderId", _INT), *TIMES, _p("fromId", _INT), LIMIT], "my_trades", "read",
            20),
    Endpoint("post", "/api/v3/userDataStream", "Open a listenKey", [], "user_data_stream", 2,
             "key"),
    Endpoint("put", "/api/v3/userDataStream", "Keep a listenKey alive", LISTEN_KEY,
             "user_data_stream", 2, "key"),
    Endpoint("delete", "/api/v3/userDataStream", "Close a listenKey", LISTEN_KEY,
             "user_data_stream", 2, "key"),
]  # fmt: skip

_ERROR = {
    "description": "Binance error",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["code", "msg"],
                "properties": {"code": {"type": "integer"}, "msg": {"type": "string"}},
            }
        }
    },
}


def document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, path, summary, params, _, _, security, _ in ENDPOINTS:
        parameters = list(params)
        if security == "signed":
            parameters += [
                _p("recvWindow", {"type": "integer", "minimum": 0, "maximum": 60000}),
                _p("timestamp", _INT, True),
                _p("signature", _STR, True),
            ]
        op: dict[str, Any] = {
            "summary": summary,
            "parameters": parameters,
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": {}}}},
                "400": _ERROR,
                "401": _ERROR,
                "404": _ERROR,
                "418": _ERROR,
                "429": _ERROR,
            },
        }
        if security:
            op["security"] = [{"apiKey": []}]
        paths.setdefault(path, {})[method] = op
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Rialto",
            "version": "v3",
            "description": "Binance-Spot-compatible REST API of a Rialto exchange (docs/api.md).",
        },
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-MBX-APIKEY"}
            }
        },
        "paths": paths,
    }
