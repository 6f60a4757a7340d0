"""The session-authenticated endpoints the terminal trades with (``/api/rialto``), over HTTP.

Binance's parameters and answers, the session's user in place of an API key's; state changes
need the ``X-Rialto-CSRF`` header and refuse a foreign ``Origin``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from e2e_support import DEMO, Exchange

CSRF = {"X-Rialto-CSRF": "1"}


@pytest.fixture
def web(exchange: Exchange) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=exchange.url) as client:
        r = client.post("/api/rialto/login", json={"email": DEMO[0], "password": DEMO[1]})
        assert r.status_code == 200
        yield client


def far_bid(client: httpx.Client) -> dict[str, str]:
    bids: list[list[str]] = []
    for _ in range(100):  # the demo's quoting bot replaces its orders: wait for a bid
        bids = client.get("/api/v3/depth", params={"symbol": "BTCUSDT"}).json()["bids"]
        if bids:
            break
        time.sleep(0.05)
    price = f"{Decimal(bids[-1][0]) * Decimal('0.9'):.2f}"
    return {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
            "quantity": "0.0010", "price": price}  # fmt: skip


def test_session_without_login(exchange: Exchange) -> None:
    with httpx.Client(base_url=exchange.url) as anon:
        assert anon.get("/api/rialto/session").json() == {"user": None}
        r = anon.post("/api/rialto/order", data=far_bid(anon), headers=CSRF)
        assert r.status_code == 401 and r.json()["code"] == -1002
        assert anon.get("/api/rialto/account").status_code == 401


def test_order_lifecycle_with_the_session(web: httpx.Client) -> None:
    assert web.get("/api/rialto/session").json()["user"]["email"] == DEMO[0]
    placed = web.post("/api/rialto/order", data=far_bid(web), headers=CSRF)
    assert placed.status_code == 200, placed.text
    order = placed.json()
    assert order["status"] == "NEW" and order["symbol"] == "BTCUSDT"
    open_ids = [o["orderId"] for o in web.get("/api/rialto/openOrders").json()]
    assert order["orderId"] in open_ids
    got = web.get("/api/rialto/order", params={"symbol": "BTCUSDT", "orderId": order["orderId"]})
    assert got.json()["orderId"] == order["orderId"]
    gone = web.request(
        "DELETE",
        "/api/rialto/order",
        params={"symbol": "BTCUSDT", "orderId": order["orderId"]},
        headers=CSRF,
    )
    assert gone.status_code == 200 and gone.json()["status"] == "CANCELED"
    history = web.get("/api/rialto/allOrders", params={"symbol": "BTCUSDT"}).json()
    assert any(o["orderId"] == order["orderId"] for o in history)
    assert isinstance(web.get("/api/rialto/myTrades", params={"symbol": "BTCUSDT"}).json(), list)
    account = web.get("/api/rialto/account").json()
    assert {b["asset"] for b in account["balances"]} >= {"BTC", "USDT"}
    assert account["fees"]["BTCUSDT"] == {"maker": "0.001", "taker": "0.001"}


def test_binance_errors(web: httpx.Client) -> None:
    too_big = far_bid(web) | {"quantity": "1000"}
    r = web.post("/api/rialto/order", data=too_big, headers=CSRF)
    assert r.status_code == 400
    assert r.json() == {
        "code": -2010,
        "msg": "Account has insufficient balance for requested action.",
    }
    r = web.request("DELETE", "/api/rialto/openOrders", params={"symbol": "NOPE"}, headers=CSRF)
    assert r.json()["code"] == -1121


def test_csrf(web: httpx.Client) -> None:
    order = far_bid(web)
    r = web.post("/api/rialto/order", data=order)  # no header: a cross-site form could do this
    assert r.status_code == 403 and r.json()["code"] == -1002
    evil = CSRF | {"Origin": "https://evil.example"}
    assert web.post("/api/rialto/order", data=order, headers=evil).status_code == 403
    assert web.post("/api/rialto/apikeys", json={}, headers={"Origin": "null"}).status_code == 403
    same = CSRF | {"Origin": str(web.base_url).rstrip("/")}
    r = web.post("/api/rialto/order", data=order, headers=same)
    assert r.status_code == 200
    web.request("DELETE", "/api/rialto/openOrders", params={"symbol": "BTCUSDT"}, headers=CSRF)


def test_listen_key_by_session(web: httpx.Client) -> None:
    r = web.post("/api/rialto/listenKey", headers=CSRF)
    key = r.json()["listenKey"]
    assert len(key) >= 32
    assert web.put("/api/rialto/listenKey", params={"listenKey": key}, headers=CSRF).json() == {}
    assert web.post("/api/rialto/listenKey", headers={}).status_code == 403
