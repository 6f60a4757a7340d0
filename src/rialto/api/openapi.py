"""The OpenAPI 3 document of the REST API, served at ``/openapi.json``.

Written from one table of endpoints and their parameters, so a new endpoint is one line
here. Signed endpoints declare the ``X-MBX-APIKEY`` header and the ``timestamp`` and
``signature`` parameters; answers are described as JSON, errors as Binance's
``{"code", "msg"}``.
"""

from __future__ import annotations

from typing import Any

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

# (method, path, summary, parameters, security: "" | "signed" | "key")
ENDPOINTS: list[tuple[str, str, str, list[dict[str, Any]], str]] = [
    ("get", "/api/v3/ping", "Test connectivity", [], ""),
    ("get", "/api/v3/time", "Server time", [], ""),
    ("get", "/api/v3/exchangeInfo", "Markets and their filters",
     [OPT_SYMBOL, _p("symbols", _STR)], ""),
    ("get", "/api/v3/depth", "Order book", [SYMBOL, LIMIT], ""),
    ("get", "/api/v3/trades", "Recent trades", [SYMBOL, LIMIT], ""),
    ("get", "/api/v3/historicalTrades", "Older trades",
     [SYMBOL, LIMIT, _p("fromId", _INT)], ""),
    ("get", "/api/v3/aggTrades", "Aggregate trades",
     [SYMBOL, _p("fromId", _INT), *TIMES, LIMIT], ""),
    ("get", "/api/v3/klines", "Candles",
     [SYMBOL, _p("interval", _enum(*KLINE_INTERVALS), True), *TIMES, LIMIT], ""),
    ("get", "/api/v3/ticker/24hr", "24 h statistics", [OPT_SYMBOL, _p("symbols", _STR)], ""),
    ("get", "/api/v3/ticker/price", "Last price", [OPT_SYMBOL, _p("symbols", _STR)], ""),
    ("get", "/api/v3/ticker/bookTicker", "Best bid and ask",
     [OPT_SYMBOL, _p("symbols", _STR)], ""),
    ("get", "/api/v3/avgPrice", "Average price of the last 5 minutes", [SYMBOL], ""),
    ("get", "/api/v3/account", "Balances", [_p("omitZeroBalances", _enum("true", "false"))],
     "signed"),
    ("post", "/api/v3/order", "New order", NEW_ORDER, "signed"),
    ("post", "/api/v3/order/test", "Check a new order without placing it", NEW_ORDER, "signed"),
    ("post", "/api/v3/order/cancelReplace", "Cancel an order and place a new one",
     [*NEW_ORDER, _p("cancelReplaceMode", _enum("STOP_ON_FAILURE", "ALLOW_FAILURE"), True),
      _p("cancelOrderId", _INT), _p("cancelOrigClientOrderId", _STR),
      _p("cancelNewClientOrderId", _STR)], "signed"),
    ("get", "/api/v3/order", "An order", [SYMBOL, *ORDER_REF], "signed"),
    ("delete", "/api/v3/order", "Cancel an order",
     [SYMBOL, *ORDER_REF, _p("newClientOrderId", _STR)], "signed"),
    ("get", "/api/v3/openOrders", "Open orders", [OPT_SYMBOL], "signed"),
    ("delete", "/api/v3/openOrders", "Cancel all open orders of a symbol", [SYMBOL], "signed"),
    ("get", "/api/v3/allOrders", "All orders",
     [SYMBOL, _p("orderId", _INT), *TIMES, LIMIT], "signed"),
    ("get", "/api/v3/myTrades", "Own trades",
     [SYMBOL, _p("orderId", _INT), *TIMES, _p("fromId", _INT), LIMIT], "signed"),
    ("post", "/api/v3/userDataStream", "Open a listenKey", [], "key"),
    ("put", "/api/v3/userDataStream", "Keep a listenKey alive",
     [_p("listenKey", _STR, True)], "key"),
    ("delete", "/api/v3/userDataStream", "Close a listenKey",
     [_p("listenKey", _STR, True)], "key"),
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
    for method, path, summary, params, security in ENDPOINTS:
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
