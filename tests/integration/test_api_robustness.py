"""Malformed requests on every REST route of ``rialto up``: Binance errors, never a crash.

Every HTTP route of ``src/rialto/api/rest.py`` (``/api/v3``, the ccxt stubs under
``/sapi``/``/fapi``/``/dapi``, ``userDataStream``, ``/openapi.json``) gets missing, empty,
duplicated, oversize, non-ASCII and wrong-typed parameters, in the query string and in a
form body, unsigned and (on SIGNED routes) validly signed, so that they reach the
handlers; the WebSocket paths get plain HTTP requests; the people routes under
``/api/rialto`` (JSON bodies) get junk JSON and bytes. Each answer must be:

* never a 5xx;
* for a 4xx, a JSON object ``{"code": <negative int>, "msg": <str>}`` and nothing else,
  and never -1000 with status 400 (that is the "unexpected exception" answer: a bug);
* for a 2xx, JSON without a ``code`` field.

And the exchange must not change: both users' balances (``GET /api/v3/account``),
their open orders and the books are the same before and after. So that this holds by
construction, every request to a route that changes state (new order, cancel, cancel
all) carries at least one *poison*, something Binance rejects whatever the rest of the
request says: a parameter value that is never valid, a duplicated or a missing
mandatory parameter, a signing or timing fault, or someone else's order. A request
that gets through anyway is a bug the state check catches.

Parts: a table of hand-written cases with Binance's exact code and message; a
hypothesis barrage (a bounded number of examples) over every route; the people routes;
and orders sent at once without client ids (which used to clash).

The weight limit (6000 per minute per IP) would ban the barrage's address, so the
requests come from rotating loopback source addresses (127.0.0.2, 127.0.0.3, ...).
Non-ASCII is sent percent-encoded in the query (as Binance requires, and as HTTP
does: a raw non-ASCII request target is refused by the HTTP server before the
application sees it) and both percent-encoded and as raw bytes in the form body.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rialto.runtime.local_exchange import Rialto, start, stop

ALICE, BOB, READER = "alice@api.test", "bob@api.test", "reader"
Items = Sequence[tuple[str, str]]

# --- HTTP with rotating source addresses -----------------------------------------------


# Loopback source addresses, each used once per module (the weight limit is per address).
ADDRESSES = (f"127.0.{n // 250}.{n % 250 + 2}" for n in itertools.count())


class Http:
    """httpx clients bound to 127.0.0.N, a new N every ``per_address`` requests."""

    def __init__(self, per_address: int = 150) -> None:
        self.per_address = per_address
        self._client: httpx.Client | None = None
        self._sent = 0

    def client(self) -> httpx.Client:
        if self._client is None or self._sent >= self.per_address:
            if self._client is not None:
                self._client.close()
            transport = httpx.HTTPTransport(local_address=next(ADDRESSES))
            self._client = httpx.Client(transport=transport, timeout=30)
            self._sent = 0
        self._sent += 1
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def encode(items: Items) -> str:
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in items)


def join(*parts: str) -> str:
    return "&".join(p for p in parts if p)


@dataclass(frozen=True)
class Signing:
    """How a request is signed; ``kind`` "ok" is a valid signature of the right key."""

    kind: str = "ok"
    value: str = ""  # the timestamp / recvWindow / key header of the faulty kinds
    in_body: bool = False  # timestamp, recvWindow and signature in the body, not the query

    @property
    def poisoned(self) -> bool:
        return self.kind != "ok"


SIGNING_FAULTS = [
    Signing("unsigned"),  # no key, no timestamp, no signature
    Signing("no_key"),
    Signing("bad_key", "not a key"),
    Signing("bad_key", "é" * 10),
    Signing("bad_key", "k" * 200),
    Signing("unknown_key", "NoSuchKey123"),
    Signing("no_signature"),
    Signing("bad_signature", "0" * 64),
    Signing("bad_signature", "zz"),
    Signing("bad_signature", "é"),
    Signing("dup_signature"),
    Signing("no_timestamp"),
    Signing("timestamp", "abc"),
    Signing("timestamp", "-1"),
    Signing("timestamp", "1.5e12"),
    Signing("timestamp", ""),
    Signing("timestamp", "\uff19" * 13),  # full-width digits
    Signing("timestamp", "9" * 30),
    Signing("stale"),
    Signing("ahead"),
    Signing("recvWindow", "abc"),
    Signing("recvWindow", "60001"),
    Signing("recvWindow", "-5"),
    Signing("recvWindow", "1.2345"),
    Signing("recvWindow", "1e4"),
]


@dataclass
class Client:
    rialto: Rialto
    http: Http

    def send(
        self,
        method: str,
        path: str,
        query: Items = (),
        body: Items = (),
        *,
        who: str | None = None,
        signing: Signing | None = None,
        raw_query: str = "",
        raw_body: bytes = b"",
    ) -> httpx.Response:
        """One request; ``who`` set: signed (``signing`` says how) with that user's key."""
        q = join(encode(query), raw_query)
        b = join(encode(body), raw_body.decode("latin-1")).encode("latin-1")
        headers = {"Content-Type": b"application/x-www-form-urlencoded"}
        if who is not None:
            q, b, key_header = self._sign(who, signing or Signing(), q, b)
            if key_header is not None:
                headers["X-MBX-APIKEY"] = key_header.encode()  # raw UTF-8 when non-ASCII
        url = httpx.URL(self.rialto.url + path, query=q.encode())
        return self.http.client().request(method, url, content=b, headers=headers)

    def _sign(self, who: str, s: Signing, q: str, b: bytes) -> tuple[str, bytes, str | None]:
        key = self.rialto.keys[who]
        header: str | None = key["api_key"]
        now = int(time.time() * 1000)
        extra = {
            "ok": f"timestamp={now}",
            "no_timestamp": "",
            "unsigned": "",
            "timestamp": f"timestamp={quote(s.value, safe='')}",
            "stale": f"timestamp={now - 120_000}",
            "ahead": f"timestamp={now + 30_000}",
            "recvWindow": f"timestamp={now}&recvWindow={quote(s.value, safe='')}",
        }.get(s.kind, f"timestamp={now}")
        if s.in_body:
            b = join(b.decode("latin-1"), extra).encode("latin-1")
        else:
            q = join(q, extra)
        q = httpx.URL("http://x/", query=q.encode()).query.decode()  # as it goes on the wire
        payload = q.encode() + b
        signature = hmac.new(key["secret"].encode(), payload, hashlib.sha256).hexdigest()
        if s.kind == "bad_signature":
            signature = quote(s.value, safe="")
        items = {
            "no_signature": "",
            "unsigned": "",
            "dup_signature": f"signature={signature}&signature={signature}",
        }.get(s.kind, f"signature={signature}")
        if s.in_body:
            b = join(b.decode("latin-1"), items).encode("latin-1")
        else:
            q = join(q, items)
        if s.kind in ("no_key", "unsigned"):
            header = None
        elif s.kind in ("bad_key", "unknown_key"):
            header = s.value
        return q, b, header

    def ok(self, method: str, path: str, who: str, **params: str) -> Any:
        r = self.send(method, path, list(params.items()), who=who)
        assert r.status_code == 200, (path, r.status_code, r.text)
        return r.json()


# --- what a good answer is ------------------------------------------------------------


def check_answer(r: httpx.Response, context: object) -> None:
    where = (context, r.status_code, r.text[:500])
    assert r.status_code < 500, where
    try:
        body = r.json()
    except ValueError:
        raise AssertionError(("not JSON", *where)) from None
    if r.status_code >= 400:
        assert isinstance(body, dict) and set(body) == {"code", "msg"}, where
        assert type(body["code"]) is int and body["code"] < 0, where
        assert isinstance(body["msg"], str) and body["msg"], where
        if r.status_code == 400:
            assert body["code"] != -1000, where  # an unexpected exception in a handler
    else:
        assert r.status_code in (200, 201), where
        assert isinstance(body, dict | list), where
        assert not (isinstance(body, dict) and "code" in body), where


# --- the exchange under test ------------------------------------------------------------


@dataclass
class World:
    rialto: Rialto
    api: Client
    orders: dict[str, tuple[int, str]] = field(default_factory=dict)  # who -> (id, cid)
    listen_keys: dict[str, str] = field(default_factory=dict)

    def state(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for who in (ALICE, BOB):
            account = self.api.ok("GET", "/api/v3/account", who)
            out[who] = {
                "balances": {b["asset"]: (b["free"], b["locked"]) for b in account["balances"]},
                "open": sorted(
                    (o["orderId"], o["status"], o["executedQty"])
                    for o in self.api.ok("GET", "/api/v3/openOrders", who)
                ),
            }
        for symbol in ("BTCUSDT", "ETHUSDT"):
            r = self.api.send("GET", "/api/v3/depth", [("symbol", symbol), ("limit", "5000")])
            book = r.json()
            out[symbol] = (book["lastUpdateId"], book["bids"], book["asks"])
        return out


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    r = start(tmp_path_factory.mktemp("robustness"))
    http = Http()
    try:
        w = World(r, Client(r, http))
        # One resting order each, so that cancels have something to (not) find, and a
        # trade, so that the market data and the history are not empty.
        for who, side, price in ((ALICE, "BUY", "50000"), (BOB, "SELL", "70000")):
            cid = f"rest-{who.split('@')[0]}"
            placed = w.api.ok(
                "POST",
                "/api/v3/order",
                who,
                symbol="BTCUSDT",
                side=side,
                type="LIMIT",
                timeInForce="GTC",
                quantity="0.01",
                price=price,
                newClientOrderId=cid,
            )
            w.orders[who] = (placed["orderId"], cid)
        w.api.ok(
            "POST",
            "/api/v3/order",
            BOB,
            symbol="ETHUSDT",
            side="SELL",
            type="LIMIT",
            timeInForce="GTC",
            quantity="1",
            price="3000",
        )
        w.api.ok(
            "POST",
            "/api/v3/order",
            ALICE,
            symbol="ETHUSDT",
            side="BUY",
            type="MARKET",
            quantity="0.5",
        )
        for who in (ALICE, BOB):
            w.listen_keys[who] = w.api.ok("POST", "/api/v3/userDataStream", who)["listenKey"]
        w.listen_keys[READER] = w.listen_keys[ALICE]  # the read-only key is Alice's too
        yield w
    finally:
        http.close()
        stop(r)


# --- the hand-written table -------------------------------------------------------------

MANDATORY = "Mandatory parameter '%s' was not sent, was empty/null, or malformed."
ILLEGAL = "Illegal characters found in parameter '%s'; legal range is '%s'."
NUMBER = ILLEGAL % ("%s", "^([0-9]{1,20})(\\.[0-9]{1,20})?$")
INTEGER = ILLEGAL % ("%s", "^[0-9]{1,20}$")
CLIENT_ID = ILLEGAL % ("%s", "^[a-zA-Z0-9-_.:/]{1,36}$")
NOT_REQUIRED = "Parameter '%s' sent when not required."
DUPLICATE = "Duplicate values for a parameter detected."
INVALID_SYMBOL = "Invalid symbol."
UNKNOWN_ORDER = "Unknown order sent."
LIMIT_BUY = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=40000"
MARKET_BUY = "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.001"


def edit(query: str, **changes: str | None) -> str:
    """``query`` with parameters replaced (None: removed) or added, percent-encoded."""
    items = [item.split("=", 1) for item in query.split("&")]
    kept = [(k, v) for k, v in items if k not in changes]
    return join(encode(kept), encode([(k, v) for k, v in changes.items() if v is not None]))


@dataclass(frozen=True)
class Case:
    """``request`` is ``"METHOD /path[?raw query]"``; ``body`` a raw form body; ``who`` signs."""

    name: str
    request: str
    code: int | None = None  # None: any negative code
    msg: str | None = None
    status: int = 400
    body: str | bytes = ""
    who: str | None = None
    signing: Signing = Signing()

    def send(self, api: Client) -> httpx.Response:
        method, target = self.request.split(" ", 1)
        path, _, query = target.partition("?")
        body = self.body if isinstance(self.body, bytes) else self.body.encode()
        return api.send(method, path, (), (), who=self.who, signing=self.signing,
                        raw_query=query, raw_body=body)  # fmt: skip


def cases(orders: dict[str, tuple[int, str]], listen_keys: dict[str, str]) -> list[Case]:
    (alice_id, alice_cid), (bob_id, bob_cid) = orders[ALICE], orders[BOB]
    bob_listen_key = listen_keys[BOB]
    a, b, ok = ALICE, BOB, 200
    cancel = "DELETE /api/v3/order"
    return [
        # public, parameters in the query or in the body
        Case("no symbol", "GET /api/v3/depth", -1102, MANDATORY % "symbol"),
        Case("empty symbol", "GET /api/v3/depth?symbol=", -1102, MANDATORY % "symbol"),
        Case("unknown symbol", "GET /api/v3/depth?symbol=NOPE", -1121, INVALID_SYMBOL),
        Case("non-ASCII symbol", "GET /api/v3/depth?symbol=BTC%C3%9CSDT", -1121, INVALID_SYMBOL),
        Case("undecodable symbol", "GET /api/v3/depth?symbol=%FF%FE", -1121, INVALID_SYMBOL),
        Case("symbol twice", "GET /api/v3/depth?symbol=BTCUSDT&symbol=BTCUSDT", -1101, DUPLICATE),
        Case("symbol twice in the body", "GET /api/v3/depth", -1101, DUPLICATE,
             body="symbol=BTCUSDT&symbol=ETHUSDT"),
        Case("symbol in the body", "GET /api/v3/depth", status=ok, body="symbol=BTCUSDT"),
        Case("query wins over the body", "GET /api/v3/depth?symbol=BTCUSDT", status=ok,
             body="symbol=NOPE"),
        Case("limit abc", "GET /api/v3/depth?symbol=BTCUSDT&limit=abc", -1100, INTEGER % "limit"),
        Case("limit -1", "GET /api/v3/trades?symbol=BTCUSDT&limit=-1", -1100, INTEGER % "limit"),
        Case("limit huge", "GET /api/v3/depth?symbol=BTCUSDT&limit=" + "9" * 40, -1100),
        Case("fromId 1.5", "GET /api/v3/historicalTrades?symbol=BTCUSDT&fromId=1.5", -1100,
             INTEGER % "fromId"),
        Case("startTime a date", "GET /api/v3/klines?symbol=BTCUSDT&interval=1m"
             "&startTime=2024-01-01", -1100, INTEGER % "startTime"),
        Case("60 kB query", "GET /api/v3/depth?symbol=BTCUSDT&junk=" + "x" * 60_000, status=ok),
        Case("2 MB body", "GET /api/v3/ping", status=ok, body=b"a" * 2_000_000),
        Case("undecodable body", "GET /api/v3/ping", -1100, body=b"\xff\xfe=\x00"),
        Case("no interval", "GET /api/v3/klines?symbol=BTCUSDT", -1102, MANDATORY % "interval"),
        Case("bad interval", "GET /api/v3/uiKlines?symbol=BTCUSDT&interval=7m", -1120,
             "Invalid interval."),
        Case("klines from the end of time", f"GET /api/v3/klines?symbol=ETHUSDT&interval=1M"
             f"&startTime={2**63 - 1}", status=ok),
        Case("klines up to the end of time", f"GET /api/v3/uiKlines?symbol=ETHUSDT&interval=1M"
             f"&endTime={2**63 - 1}", status=ok),
        Case("aggTrades over an hour", "GET /api/v3/aggTrades?symbol=BTCUSDT&startTime=0"
             "&endTime=7200000", -1127, "More than 1 hours between startTime and endTime."),
        Case("symbols not a list", "GET /api/v3/ticker/24hr?symbols=BTCUSDT", -1100),
        Case("empty symbols list", "GET /api/v3/ticker/price?symbols=%5B%5D"),
        Case("unknown in symbols", 'GET /api/v3/ticker/bookTicker?symbols=["BTCUSDT","NOPE"]',
             -1121, INVALID_SYMBOL),
        Case("avgPrice without symbol", "GET /api/v3/avgPrice", -1102, MANDATORY % "symbol"),
        Case("exchangeInfo of nothing", "GET /api/v3/exchangeInfo?symbol=NOPE", -1121),
        Case("unknown path", "GET /api/v3/nothing", status=404),
        Case("wrong method", "PUT /api/v3/order", status=405),
        # signing and timing
        Case("unsigned", "GET /api/v3/account", who=a, signing=Signing("unsigned")),
        Case("unsigned order", "POST /api/v3/order", who=a, body=LIMIT_BUY,
             signing=Signing("unsigned")),
        Case("no key", "GET /api/v3/account", -2014, "API-key format invalid.", status=401,
             who=a, signing=Signing("no_key")),
        Case("unknown key", "GET /api/v3/account", -2015,
             "Invalid API-key, IP, or permissions for action.", status=401, who=a,
             signing=Signing("unknown_key", "NoSuchKey")),
        Case("no signature", "GET /api/v3/account", -1102, MANDATORY % "signature", who=a,
             signing=Signing("no_signature")),
        Case("signature twice", "GET /api/v3/account", -1101, DUPLICATE, who=a,
             signing=Signing("dup_signature")),
        Case("bad signature", "GET /api/v3/account", -1022,
             "Signature for this request is not valid.", who=a,
             signing=Signing("bad_signature", "0" * 64)),
        Case("no timestamp", "GET /api/v3/account", -1102, MANDATORY % "timestamp", who=a,
             signing=Signing("no_timestamp")),
        Case("stale", "GET /api/v3/account", -1021,
             "Timestamp for this request is outside of the recvWindow.", who=a,
             signing=Signing("stale")),
        Case("recvWindow over 60000", "GET /api/v3/account", -1131,
             "recvWindow must be less than 60000", who=a, signing=Signing("recvWindow", "60001")),
        Case("recvWindow abc", "GET /api/v3/account", -1100, who=a,
             signing=Signing("recvWindow", "abc")),
        Case("signed in the body", "GET /api/v3/account", status=ok, who=a,
             signing=Signing(in_body=True)),
        Case("sapi stub", "GET /sapi/v1/margin/allPairs", status=ok, who=b),
        # new orders (all refused, so nothing changes)
        Case("no side", "POST /api/v3/order", -1102, MANDATORY % "side", who=a,
             body=edit(LIMIT_BUY, side=None)),
        Case("bad side", "POST /api/v3/order", -1117, "Invalid side.", who=a,
             body=edit(LIMIT_BUY, side="BUYY")),
        Case("bad type", "POST /api/v3/order", -1116, "Invalid orderType.", who=a,
             body=edit(LIMIT_BUY, type="OCO")),
        Case("bad timeInForce", "POST /api/v3/order", -1115, "Invalid timeInForce.", who=a,
             body=edit(LIMIT_BUY, timeInForce="GTX")),
        Case("LIMIT without timeInForce", "POST /api/v3/order", -1102, MANDATORY % "timeInForce",
             who=a, body=edit(LIMIT_BUY, timeInForce=None)),
        Case("LIMIT without price", "POST /api/v3/order", -1102, MANDATORY % "price", who=a,
             body=edit(LIMIT_BUY, price=None)),
        Case("MARKET without quantity", "POST /api/v3/order", -1102,
             "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!",
             who=a, body=edit(MARKET_BUY, quantity=None)),
        Case("MARKET with timeInForce", "POST /api/v3/order", -1106, NOT_REQUIRED % "timeInForce",
             who=a, body=edit(MARKET_BUY, timeInForce="GTC")),
        Case("MARKET with price", "POST /api/v3/order", -1106, NOT_REQUIRED % "price", who=a,
             body=edit(MARKET_BUY, price="40000")),
        Case("LIMIT with quoteOrderQty", "POST /api/v3/order", -1106,
             NOT_REQUIRED % "quoteOrderQty", who=a, body=edit(LIMIT_BUY, quoteOrderQty="40")),
        Case("LIMIT with stopPrice", "POST /api/v3/order", -1106, NOT_REQUIRED % "stopPrice",
             who=a, body=edit(LIMIT_BUY, stopPrice="41000")),
        Case("quantity abc", "POST /api/v3/order", -1100, NUMBER % "quantity", who=a,
             body=edit(LIMIT_BUY, quantity="abc")),
        Case("quantity 1e-3", "POST /api/v3/order", -1100, NUMBER % "quantity", who=a,
             body=edit(LIMIT_BUY, quantity="1e-3")),
        Case("quantity off the step", "POST /api/v3/order", -1013, "Filter failure: LOT_SIZE",
             who=a, body=edit(LIMIT_BUY, quantity="0.00001")),
        Case("price off the tick", "POST /api/v3/order", -1013, "Filter failure: PRICE_FILTER",
             who=a, body=edit(LIMIT_BUY, price="40000.001")),
        Case("price twice", "POST /api/v3/order", -1101, DUPLICATE, who=a,
             body=LIMIT_BUY + "&price=40000"),
        Case("client id too long", "POST /api/v3/order", -1100, CLIENT_ID % "newClientOrderId",
             who=a, body=edit(LIMIT_BUY, newClientOrderId="x" * 37)),
        Case("client id non-ASCII", "POST /api/v3/order", -1100, who=a,
             body=edit(LIMIT_BUY, newClientOrderId="ordér")),
        Case("undecodable order body", "POST /api/v3/order", -1100, who=a,
             body=LIMIT_BUY.encode() + b"&junk=\xff\xfe"),
        Case("1 MB quantity", "POST /api/v3/order", -1100, who=a,
             body=edit(LIMIT_BUY, quantity="1" * 1_000_000)),
        Case("read-only key", "POST /api/v3/order", -2015, status=401, who=READER,
             body=LIMIT_BUY),
        Case("test order, bad quantity", "POST /api/v3/order/test", -1100, who=a,
             body=edit(LIMIT_BUY, quantity="-1")),
        # cancels and queries
        Case("cancel without an id", cancel, -1102,
             "Param 'orderId' or 'origClientOrderId' must be sent, but both were empty/null!",
             who=a, body="symbol=BTCUSDT"),
        Case("cancel someone else's order", cancel, -2011, UNKNOWN_ORDER, who=a,
             body=f"symbol=BTCUSDT&orderId={bob_id}"),
        Case("cancel someone else's client id", f"{cancel}?symbol=BTCUSDT"
             f"&origClientOrderId={bob_cid}", -2011, UNKNOWN_ORDER, who=a),
        Case("cancel own id, someone else's client id", f"{cancel}?symbol=BTCUSDT"
             f"&orderId={alice_id}&origClientOrderId={bob_cid}", -2011, UNKNOWN_ORDER, who=a),
        Case("cancel own id, unknown client id", f"{cancel}?symbol=BTCUSDT&orderId={alice_id}"
             "&origClientOrderId=nope", -2011, UNKNOWN_ORDER, who=a),
        Case("cancel on the wrong symbol", f"{cancel}?symbol=ETHUSDT&orderId={alice_id}",
             -2011, UNKNOWN_ORDER, who=a),
        Case("cancel with a bad new client id", cancel, -1100, CLIENT_ID % "newClientOrderId",
             who=a, body=f"symbol=BTCUSDT&orderId={alice_id}&newClientOrderId={'x' * 37}"),
        Case("cancel orderId abc", f"{cancel}?symbol=BTCUSDT&orderId=abc", -1100,
             INTEGER % "orderId", who=a),
        Case("cancel orderId twice", f"{cancel}?symbol=BTCUSDT&orderId={alice_id}"
             f"&orderId={alice_id}", -1101, DUPLICATE, who=a),
        Case("cancel all without symbol", "DELETE /api/v3/openOrders", -1102,
             MANDATORY % "symbol", who=a),
        Case("cancel all, symbol twice", "DELETE /api/v3/openOrders", -1101, DUPLICATE, who=a,
             body="symbol=BTCUSDT&symbol=BTCUSDT"),
        Case("cancel all, nothing open", "DELETE /api/v3/openOrders", -2011, UNKNOWN_ORDER,
             who=a, body="symbol=ETHUSDT"),
        Case("query someone else's order", f"GET /api/v3/order?symbol=BTCUSDT&orderId={bob_id}",
             -2013, "Order does not exist.", who=a),
        Case("query someone else's client id", "GET /api/v3/order?symbol=BTCUSDT"
             f"&origClientOrderId={bob_cid}", -2013, who=a),
        Case("query own order", f"GET /api/v3/order?symbol=BTCUSDT&origClientOrderId={alice_cid}",
             status=ok, who=a),
        Case("allOrders without symbol", "GET /api/v3/allOrders", -1102, who=b),
        Case("myTrades, fromId 1.5", "GET /api/v3/myTrades?symbol=BTCUSDT&fromId=1.5", -1100,
             INTEGER % "fromId", who=b),
        Case("openOrders of nothing", "GET /api/v3/openOrders?symbol=NOPE", -1121, who=b),
        # user data streams (an API key, no signature) and the WebSocket paths over HTTP
        Case("listen key without a key", "POST /api/v3/userDataStream", -2014, status=401,
             who=a, signing=Signing("no_key")),
        Case("listen key, unknown key", "POST /api/v3/userDataStream", -2015, status=401,
             who=a, signing=Signing("unknown_key", "NoSuchKey")),
        Case("listen key, any signature", "POST /api/v3/userDataStream", status=ok, who=a,
             signing=Signing("bad_signature", "zz")),
        Case("keep-alive without listenKey", "PUT /api/v3/userDataStream", -1102,
             MANDATORY % "listenKey", who=a),
        Case("keep-alive of nothing", "PUT /api/v3/userDataStream?listenKey=nope", -1125,
             "This listenKey does not exist.", who=a),
        Case("close someone else's listen key", "DELETE /api/v3/userDataStream?listenKey="
             + bob_listen_key, -1125, who=a),
        Case("listenKey twice", f"PUT /api/v3/userDataStream?listenKey={bob_listen_key}"
             f"&listenKey={bob_listen_key}", -1101, DUPLICATE, who=b),
        Case("raw stream over HTTP", "GET /ws/btcusdt@trade", status=404),
        Case("combined streams over HTTP", "GET /stream?streams=btcusdt@depth", status=404),
        Case("WebSocket API over HTTP", "POST /ws-api/v3", status=404),
        Case("openapi.json with junk", "GET /openapi.json?x=%FF&y=%00", status=ok),
    ]  # fmt: skip


def test_table_of_bad_requests(world: World) -> None:
    before = world.state()
    failures = []
    for case in cases(world.orders, world.listen_keys):
        r = case.send(world.api)
        check_answer(r, case.name)
        code = r.json()["code"] if r.status_code >= 400 else None
        want_code = case.code if case.code is not None else code
        msg = r.json()["msg"] if r.status_code >= 400 else None
        if (r.status_code, code) != (case.status, want_code) or case.msg not in (None, msg):
            failures.append((case.name, r.status_code, r.text[:300]))
    assert not failures, "\n".join(map(str, failures))
    assert world.state() == before
    assert "Traceback" not in world.rialto.log()


# --- the hypothesis barrage ---------------------------------------------------------------

# Junk: wrong-typed, malformed, non-ASCII (full-width digits and letters), huge.
FULL_WIDTH_9, FULL_WIDTH_1, FULL_WIDTH_BUY = "\uff19", "\uff11", "\uff22\uff35\uff39"
JUNK = ("", " ", "abc", "-1", "0", "1.5", "1e3", "NaN", "Infinity", "0x1f", "true", "null",
        "[]", "{}", '["BTCUSDT"]', "[BTCUSDT]", "9" * 40, "1" * 25 + ".5", "é", "日本語",
        "🙂", "\x00", "\n", "a&b=c", "%", "%FF", FULL_WIDTH_9, "x" * 3000)  # fmt: skip
# Values Binance refuses for the parameter whatever the rest of the request.
NEVER_NUMBERS = ("abc", "-1", "1e3", "NaN", "0x10", "1,5", " 1", "1 ", "1.2.3", FULL_WIDTH_1,
                 "9" * 25, "+1", ".5", "1.")  # fmt: skip
NEVER_SYMBOLS = ("NOPE", "btcusdt", "BTC USDT", "BTCUSDT\x00", "ÄBC", "X" * 300, "",
                 '["BTCUSDT"]', "BTCUSDT ")  # fmt: skip
NEVER_CIDS = ("x" * 37, "a b", "ordér", "a\x00", "<script>", "a&b", "🙂")
NEVER_IDS = ("abc", "-1", "1.0", " 1", "9" * 25, "1e3", "0x1")
TYPES = ("LIMIT", "MARKET", "LIMIT_MAKER", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT",
         "TAKE_PROFIT_LIMIT")  # fmt: skip
INTERVALS = ("1s", "1m", "3m", "1h", "1d", "1w", "1M")
TIMES = ("0", "1", str(int(time.time() * 1000)), str(2**63 - 1), "99999999999999999999")
LIMITS = ("1", "5", "100", "1000", "5000", "5001")
SYMBOL_LISTS = ('["BTCUSDT"]', '["BTCUSDT","ETHUSDT"]', '["ETHUSDT","BTCUSDT","BTCUSDT"]')


@dataclass(frozen=True)
class Param:
    """A route's parameter: values it takes (``good``), values Binance always refuses
    (``never``); leaving out a ``required`` one is refused too."""

    good: tuple[str, ...]
    never: tuple[str, ...] = ()
    required: bool = False


SYMBOL = Param(("BTCUSDT", "ETHUSDT"), NEVER_SYMBOLS, required=True)
ANY_SYMBOL = Param(("BTCUSDT", "ETHUSDT"), NEVER_SYMBOLS)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    params: dict[str, Param] = field(default_factory=dict)
    signed: bool = False
    mutates: bool = False
    trade: bool = False  # needs the trade permission (the read-only key is a poison)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    __repr__ = __str__  # hypothesis prints failing examples


ORDER_PARAMS = {
    "symbol": SYMBOL,
    "side": Param(("BUY", "SELL"), ("BUYY", "", "buy ", "0", FULL_WIDTH_BUY, "SELL,BUY"),
                  required=True),
    "type": Param(TYPES, ("LIMITT", "", "OCO", "LIMIT ", "MARKET\x00"), required=True),
    "timeInForce": Param(("GTC", "IOC", "FOK"), ("GTX", "FOO", "1", "GTC ")),
    "quantity": Param(("0.001", "0.01", "0.0001", "1"), (*NEVER_NUMBERS, "0", "0.00001")),
    "price": Param(("40000", "60000.00", "80000.5"), (*NEVER_NUMBERS, "0", "0.001")),
    "quoteOrderQty": Param(("60", "100.5"), (*NEVER_NUMBERS, "0")),
    "stopPrice": Param(("45000", "75000"), (*NEVER_NUMBERS, "0", "0.001")),
    "newClientOrderId": Param(("fuzz-1", "x-HNA2TXFJabc"), NEVER_CIDS),
    "newOrderRespType": Param(("ACK", "RESULT", "FULL"), ("FOO", "FULLL", "1")),
    "selfTradePreventionMode": Param(("NONE", "EXPIRE_MAKER"), ("FOO", "expire", "1")),
}  # fmt: skip
KLINES = {"symbol": SYMBOL, "interval": Param(INTERVALS, required=True),
          "startTime": Param(TIMES), "endTime": Param(TIMES), "limit": Param(LIMITS),
          "timeZone": Param(("0", "+08:00"))}  # fmt: skip
TICKERS = {"symbol": ANY_SYMBOL, "symbols": Param(SYMBOL_LISTS), "type": Param(("FULL", "MINI"))}
HISTORY = {"symbol": SYMBOL, "orderId": Param(("0", "1", "2", "3")), "startTime": Param(TIMES),
           "endTime": Param(TIMES), "limit": Param(LIMITS),
           "fromId": Param(("0", "1", "5"))}  # fmt: skip
ROUTES = [
    Route("GET", "/api/v3/ping"),
    Route("GET", "/api/v3/time"),
    Route("GET", "/api/v3/exchangeInfo", {"symbol": ANY_SYMBOL, "symbols": Param(SYMBOL_LISTS),
                                           "permissions": Param(("SPOT",))}),
    Route("GET", "/api/v3/depth", {"symbol": SYMBOL, "limit": Param(LIMITS)}),
    Route("GET", "/api/v3/trades", {"symbol": SYMBOL, "limit": Param(LIMITS)}),
    Route("GET", "/api/v3/historicalTrades", {"symbol": SYMBOL, "limit": Param(LIMITS),
                                              "fromId": Param(("0", "1", "2", "99"))}),
    Route("GET", "/api/v3/aggTrades", {"symbol": SYMBOL, "fromId": Param(("0", "1")),
                                       "startTime": Param(TIMES), "endTime": Param(TIMES),
                                       "limit": Param(LIMITS)}),
    Route("GET", "/api/v3/klines", KLINES),
    Route("GET", "/api/v3/uiKlines", KLINES),
    Route("GET", "/api/v3/ticker/24hr", TICKERS),
    Route("GET", "/api/v3/ticker/price", TICKERS),
    Route("GET", "/api/v3/ticker/bookTicker", TICKERS),
    Route("GET", "/api/v3/avgPrice", {"symbol": SYMBOL}),
    Route("GET", "/fapi/v1/exchangeInfo"),
    Route("GET", "/dapi/v1/exchangeInfo"),
    Route("GET", "/api/v3/account", {"omitZeroBalances": Param(("true", "false"))}, signed=True),
    Route("POST", "/api/v3/order", ORDER_PARAMS, signed=True, mutates=True, trade=True),
    Route("POST", "/api/v3/order/test", ORDER_PARAMS, signed=True, trade=True),
    # + orderId / origClientOrderId (see well_formed)
    Route("DELETE", "/api/v3/order", {"symbol": SYMBOL, "newClientOrderId":
          Param(("cancel-1",), NEVER_CIDS)}, signed=True, mutates=True, trade=True),
    Route("GET", "/api/v3/order", {"symbol": SYMBOL}, signed=True),
    Route("DELETE", "/api/v3/openOrders", {"symbol": SYMBOL}, signed=True, mutates=True,
          trade=True),
    Route("GET", "/api/v3/openOrders", {"symbol": ANY_SYMBOL}, signed=True),
    Route("GET", "/api/v3/allOrders", HISTORY, signed=True),
    Route("GET", "/api/v3/myTrades", HISTORY, signed=True),
    Route("GET", "/sapi/v1/capital/config/getall", signed=True),
    Route("GET", "/sapi/v1/margin/allPairs", signed=True),
    Route("GET", "/sapi/v1/margin/isolated/allPairs", signed=True),
    Route("GET", "/openapi.json"),
    # USER_STREAM: a key, no signature (the one sent is ignored); "<listenKey>" is the user's
    Route("POST", "/api/v3/userDataStream", signed=True),
    *[Route(method, "/api/v3/userDataStream", {"listenKey": Param(("<listenKey>",),
          ("", "nope", "x" * 500, "é", "<script>"), required=True)}, signed=True)
      for method in ("PUT", "DELETE")],
]  # fmt: skip
IDS = ("orderId", "origClientOrderId")
KNOWN = {"signature", "timestamp", "recvWindow", *IDS} | {n for r in ROUTES for n in r.params}


@dataclass
class Request:
    route: Route
    query: list[tuple[str, str]] = field(default_factory=list)
    body: list[tuple[str, str]] = field(default_factory=list)
    raw_query: str = ""
    raw_body: bytes = b""
    who: str | None = None
    signing: Signing = Signing()
    poison: list[str] = field(default_factory=list)


SIGNINGS = st.one_of(
    st.sampled_from((Signing(), Signing(in_body=True))), st.sampled_from(SIGNING_FAULTS)
)
junk_text = st.one_of(st.sampled_from(JUNK), st.text(max_size=40))
noise_names = st.one_of(
    st.sampled_from(("foo", "Symbol", "SYMBOL", "symbol[]", "é", "", "a" * 500)),
    st.text(min_size=1, max_size=12),
).filter(lambda n: n not in KNOWN)
FAULTS = ("drop", "never", "junk", "dup")
NEEDS_TIF = ("LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")
NEEDS_PRICE = (*NEEDS_TIF, "LIMIT_MAKER")
NEEDS_STOP = ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")


def is_cancel_or_query(route: Route) -> bool:
    return route.path == "/api/v3/order" and route.method in ("DELETE", "GET")


def well_formed(draw: st.DrawFn, route: Route, mine: tuple[int, str]) -> dict[str, str]:
    """A request Binance takes (but for balances and whether the order exists)."""
    good = {name: draw(st.sampled_from(p.good)) for name, p in route.params.items()}
    if route.params is ORDER_PARAMS:
        kind = good["type"]
        out = {k: good[k] for k in ("symbol", "side", "type")}
        if kind in NEEDS_TIF:
            out["timeInForce"] = good["timeInForce"]
        if kind in NEEDS_PRICE:
            out["price"] = good["price"]
        if kind in NEEDS_STOP:
            out["stopPrice"] = good["stopPrice"]
        if kind == "MARKET" and draw(st.booleans()):
            out["quoteOrderQty"] = good["quoteOrderQty"]
        else:
            out["quantity"] = good["quantity"]
        for name in ("newClientOrderId", "newOrderRespType", "selfTradePreventionMode"):
            if draw(st.integers(0, 2)) == 0:
                out[name] = good[name]
        return out
    out = {n: v for n, v in good.items() if route.params[n].required or draw(st.booleans())}
    if is_cancel_or_query(route):
        out["symbol"] = "BTCUSDT"
        which = draw(st.sampled_from(("id", "cid", "both")))
        if which != "cid":
            out["orderId"] = str(mine[0])
        if which != "id":
            out["origClientOrderId"] = mine[1]
    return out


@st.composite
def bad_requests(draw: st.DrawFn, world: World) -> Request:
    """A request to any route; one that would change the exchange carries a poison."""
    route = draw(st.sampled_from(ROUTES))
    req = Request(route)
    names = [*route.params, *(IDS if is_cancel_or_query(route) else ())]
    forced = ""
    if route.mutates:
        menu = [f"never:{n}" for n, p in route.params.items() if p.never] * 3
        menu += [f"never:{n}" for n in names if n in IDS] * 3
        menu += [f"dup:{n}" for n in names] + ["signing"] * 3
        menu += [f"drop:{n}" for n, p in route.params.items() if p.required]
        if is_cancel_or_query(route):
            menu += ["owner", "owner", "drop:ids"]
        if route.trade:
            menu.append("reader")
        forced = draw(st.sampled_from(menu))
    messy = draw(st.booleans())

    if route.signed:
        if forced == "reader":
            req.who = READER
            req.poison.append("read-only key")
        else:
            req.who = draw(st.sampled_from((ALICE, BOB) if route.trade else (ALICE, BOB, READER)))
        if forced == "signing":
            req.signing = draw(st.sampled_from(SIGNING_FAULTS))
        elif messy:
            req.signing = draw(SIGNINGS)
        else:
            req.signing = draw(st.sampled_from((Signing(), Signing(in_body=True))))
        if req.signing.poisoned:
            req.poison.append(f"signing {req.signing}")
    elif draw(st.integers(0, 4)) == 0:  # public routes ignore keys and signatures
        req.who = draw(st.sampled_from((ALICE, BOB)))
        req.signing = draw(st.sampled_from([Signing(), *SIGNING_FAULTS]))

    owner = req.who if req.who in (ALICE, BOB) else ALICE
    other = BOB if owner == ALICE else ALICE
    orders = world.orders
    values = well_formed(draw, route, orders[owner])
    if values.get("listenKey") == "<listenKey>":
        values["listenKey"] = world.listen_keys[req.who or ALICE]
    dups: dict[str, str] = {}
    if forced == "owner":  # someone else's order: their id, their client id, or a mix
        theirs = {"orderId": str(orders[other][0]), "origClientOrderId": orders[other][1]}
        mix = draw(st.sampled_from(("orderId", "origClientOrderId", "both", "cid only")))
        if mix == "cid only":
            values.pop("orderId", None)
            values["origClientOrderId"] = theirs["origClientOrderId"]
        elif mix == "both":
            values.update(theirs)
        else:
            values[mix] = theirs[mix]
        req.poison.append(f"someone else's order ({mix})")
    if forced == "drop:ids":
        values.pop("orderId", None)
        values.pop("origClientOrderId", None)
        req.poison.append("no order id")
    for name in names:
        if forced.endswith(f":{name}"):
            fault = forced.split(":")[0]
        elif name in IDS and forced in ("owner", "drop:ids"):
            continue  # the ids are the poison: leave them be
        elif messy and draw(st.integers(0, 5)) == 0:
            fault = draw(st.sampled_from(FAULTS))
        else:
            continue
        spec = route.params.get(name)
        never = NEVER_IDS if name == "orderId" else NEVER_CIDS if name in IDS else ()
        never = spec.never if spec is not None else never
        if fault == "drop":
            values.pop(name, None)
            if spec is not None and spec.required:
                req.poison.append(f"{name} dropped")
        elif fault == "never" and never:
            values[name] = draw(st.sampled_from(never))
            req.poison.append(f"{name} never")
        elif fault == "dup":
            good = spec.good if spec is not None else (values.get(name, "1"),)
            values.setdefault(name, draw(st.sampled_from(good)))
            dups[name] = draw(st.sampled_from(good + never))
            req.poison.append(f"{name} twice")
        else:
            values[name] = draw(junk_text)
    for name, value in values.items():
        part = req.query if draw(st.booleans()) else req.body
        part.append((name, value))
        if name in dups:
            part.append((name, dups[name]))  # twice in the same part: -1101
    # Noise: unknown parameters, undecodable bytes.
    for name in draw(st.lists(noise_names, max_size=3 if messy else 1, unique=True)):
        (req.query if draw(st.booleans()) else req.body).append((name, draw(junk_text)))
    if messy and draw(st.integers(0, 4)) == 0:
        req.raw_query = draw(st.sampled_from(("%FF%FE=%C3%28", "x=%ZZ", "&&", "=", "y")))
    if messy and draw(st.integers(0, 4)) == 0:
        req.raw_body = draw(st.sampled_from((b"\xff\xfe", b"z=\xc3\x28", b"&&=", b"w")))
    req.query = list(draw(st.permutations(req.query)))
    req.body = list(draw(st.permutations(req.body)))
    if route.mutates:
        assert req.poison, (forced, req)
    return req


def test_barrage_of_bad_requests(world: World) -> None:
    before = world.state()
    barrage_log: dict[str, int] = {}  # "route status code" -> count, to see what was reached

    @settings(
        max_examples=2500,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(req=bad_requests(world))
    def one(req: Request) -> None:
        r = world.api.send(
            req.route.method,
            req.route.path,
            req.query,
            req.body,
            who=req.who,
            signing=req.signing,
            raw_query=req.raw_query,
            raw_body=req.raw_body,
        )
        context = (str(req.route), req.who, req.signing, req.query, req.body, req.poison)
        check_answer(r, context)
        if req.route.mutates:
            assert r.status_code >= 400, ("a poisoned request went through", context, r.text)
        key = f"{req.route} {r.status_code} {r.json().get('code') if r.status_code >= 400 else ''}"
        barrage_log[key] = barrage_log.get(key, 0) + 1

    one()
    after = world.state()
    assert after == before, json.dumps(barrage_log, indent=1)
    assert "Traceback" not in world.rialto.log()
    assert len(barrage_log) > 50  # many routes x outcomes were reached


# --- people: sign-up, login, keys under /api/rialto (JSON bodies) ---------------------------

PEOPLE = [("POST", "/api/rialto/signup"), ("POST", "/api/rialto/login"),
          ("POST", "/api/rialto/logout"), ("GET", "/api/rialto/me"),
          ("GET", "/api/rialto/apikeys"), ("POST", "/api/rialto/apikeys"),
          ("DELETE", "/api/rialto/apikeys")]  # fmt: skip
FUZZ_EMAIL, FUZZ_PASSWORD = "fuzz@people.test", "a long password"
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
field_values = st.one_of(
    st.sampled_from((FUZZ_EMAIL, FUZZ_PASSWORD, "read,trade", "read,fly", "-----BEGIN PUBLIC"
                     " KEY-----\nxx\n-----END PUBLIC KEY-----", "é" * 300, "\x00", "x" * 2000)),
    st.lists(st.sampled_from(("read", "trade", "::1", "10.0.0.0/8", "not-an-ip", 5, None, [])),
             max_size=3),
    json_values,
)  # fmt: skip
FIELDS = ("email", "password", "api_key", "permissions", "ips", "public_key")
people_bodies = st.one_of(
    st.fixed_dictionaries({}, optional=dict.fromkeys(FIELDS, field_values)).map(
        lambda d: json.dumps(d).encode()
    ),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=40),
    st.sampled_from((b"", b"{", b"\xff\xfe", b'{"email": "\\ud800"}', b"[]", b"null")),
)


def test_people_routes_with_junk_bodies(world: World) -> None:
    before = world.state()
    http = Http()
    signup = http.client().post(
        world.rialto.url + "/api/rialto/signup",
        json={"email": FUZZ_EMAIL, "password": FUZZ_PASSWORD},
    )
    assert signup.status_code == 201, signup.text
    cookies = {
        "session": f"rialto_session={signup.cookies['rialto_session']}".encode(),
        "junk": "rialto_session=éjunk;;=; other".encode(),
    }

    # A few by hand (each was a 500), then the fuzzing.
    for body in ({"permissions": ["read", 5]}, {"ips": [5]}, {"permissions": [None]}):
        r = http.client().post(
            world.rialto.url + "/api/rialto/apikeys",
            json=body,
            headers={"Cookie": cookies["session"]},
        )
        check_answer(r, body)
        assert r.json()["code"] == -1102, r.text

    @settings(max_examples=400, deadline=None, database=None)
    @given(
        route=st.sampled_from([*PEOPLE, ("POST", "/api/rialto/apikeys")]),
        body=people_bodies,
        cookie=st.sampled_from(("session", "session", "none", "junk")),
    )
    def one(route: tuple[str, str], body: bytes, cookie: str) -> None:
        client = http.client()
        client.cookies.clear()  # only the cookie header below
        if route[1] == "/api/rialto/logout" and cookie == "session":
            cookie = "junk"  # keep the session for the other routes
        headers = {"Cookie": cookies[cookie]} if cookie in cookies else {}
        r = client.request(route[0], world.rialto.url + route[1], content=body, headers=headers)
        check_answer(r, (route, body[:200], cookie))

    try:
        one()
    finally:
        http.close()
    assert world.state() == before
    assert "Traceback" not in world.rialto.log()


def test_simultaneous_orders_without_client_ids(world: World) -> None:
    """Orders sent at once without ``newClientOrderId`` get distinct ids (none is refused
    as a duplicate), as on Binance."""
    key = world.rialto.keys[ALICE]

    async def place(client: httpx.AsyncClient, i: int) -> httpx.Response:
        body = (
            f"symbol=ETHUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01"
            f"&price={2000 + i}&timestamp={int(time.time() * 1000)}"
        )
        signature = hmac.new(key["secret"].encode(), body.encode(), hashlib.sha256).hexdigest()
        return await client.post(
            world.rialto.url + "/api/v3/order",
            content=f"{body}&signature={signature}".encode(),
            headers={"X-MBX-APIKEY": key["api_key"]},
        )

    async def burst() -> list[httpx.Response]:
        transport = httpx.AsyncHTTPTransport(local_address=next(ADDRESSES))
        async with httpx.AsyncClient(transport=transport, timeout=30) as client:
            return await asyncio.gather(*(place(client, i) for i in range(30)))

    answers = asyncio.run(burst())
    assert [r.status_code for r in answers] == [200] * 30, [r.text for r in answers]
    ids = {r.json()["clientOrderId"] for r in answers}
    assert len(ids) == 30 and all(len(i) <= 36 for i in ids)
    canceled = world.api.ok("DELETE", "/api/v3/openOrders", ALICE, symbol="ETHUSDT")
    assert {o["origClientOrderId"] for o in canceled} == ids
