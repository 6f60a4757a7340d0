"""Market streams over WebSocket against a running ``rialto up``."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import random
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import websockets
from test_api_ccxt import client

from rialto.runtime.local_exchange import Rialto, start, stop

SYMBOL = "BTC/USDT"
DEPTH = "/api/v3/depth?symbol=BTCUSDT&limit=5000"


@pytest.fixture(scope="module")
def rialto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rialto]:
    r = start(tmp_path_factory.mktemp("ws"))
    try:
        yield r
    finally:
        stop(r)


def ws_url(r: Rialto, path: str) -> str:
    return r.url.replace("http://", "ws://") + path


def rest(r: Rialto, path: str) -> Any:
    with urllib.request.urlopen(r.url + path) as resp:
        return json.loads(resp.read())


async def recv(ws: Any, timeout: float = 5.0) -> Any:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


def test_control_messages_are_acknowledged_as_binance_does(rialto: Rialto) -> None:
    async def scenario() -> None:
        async with websockets.connect(ws_url(rialto, "/ws")) as ws:
            await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 1}))
            assert await recv(ws) == {"result": None, "id": 1}
            params = ["btcusdt@depth@100ms", "ethusdt@kline_1m", "!miniTicker@arr"]
            await ws.send(json.dumps({"method": "SUBSCRIBE", "params": params, "id": 2}))
            assert await recv(ws) == {"result": None, "id": 2}
            await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 3}))
            listed = await recv(ws)
            assert listed == {"result": sorted(["btcusdt@trade", *params]), "id": 3}
            await ws.send(
                json.dumps({"method": "UNSUBSCRIBE", "params": ["btcusdt@trade"], "id": 4})
            )
            assert await recv(ws) == {"result": None, "id": 4}
            await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["nope@trade"], "id": 5}))
            answer = await recv(ws)
            assert answer["id"] == 5 and answer["error"]["code"] == 2
            await ws.send("not json")
            assert (await recv(ws))["error"]["code"] == 3

    asyncio.run(scenario())


def test_trade_streams_raw_and_combined(rialto: Rialto) -> None:
    alice, bob = client(rialto, "alice@api.test"), client(rialto, "bob@api.test")

    async def scenario() -> None:
        raw_url = ws_url(rialto, "/ws/btcusdt@trade")
        combined_url = ws_url(rialto, "/stream?streams=btcusdt@aggTrade/btcusdt@bookTicker")
        async with websockets.connect(raw_url) as raw, websockets.connect(combined_url) as comb:
            await asyncio.to_thread(alice.load_markets)
            await asyncio.to_thread(bob.load_markets)
            await asyncio.to_thread(alice.create_order, SYMBOL, "limit", "buy", 0.01, 60000)
            await asyncio.to_thread(bob.create_order, SYMBOL, "limit", "sell", 0.01, 60000)
            trade = await recv(raw)
            assert trade["e"] == "trade" and trade["s"] == "BTCUSDT"
            assert trade["p"] == "60000.00000000" and trade["q"] == "0.01000000"
            assert trade["m"] is True  # the buyer was the maker
            seen: dict[str, Any] = {}
            while "btcusdt@aggTrade" not in seen:
                msg = await recv(comb)
                seen[msg["stream"]] = msg["data"]
            assert seen["btcusdt@aggTrade"]["a"] == trade["t"]

    asyncio.run(scenario())


def test_local_book_from_depth_diffs_matches_rest_depth(rialto: Rialto) -> None:
    """Binance's procedure: buffer diffs, take a snapshot, drop what it covers, apply."""
    alice, bob = client(rialto, "alice@api.test"), client(rialto, "bob@api.test")
    alice.load_markets()
    bob.load_markets()
    rng = random.Random(5)

    def trade_a_while(n: int) -> None:
        for _ in range(n):
            who = rng.choice((alice, bob))
            side = rng.choice(("buy", "sell"))
            price = 60000 + rng.randint(-20, 20) * 10
            amount = rng.randint(1, 30) / 1000
            try:
                who.create_order(SYMBOL, "limit", side, amount, price)
            except Exception as exc:
                assert "insufficient" in str(exc).lower(), exc
            if rng.random() < 0.2:
                for o in who.fetch_open_orders(SYMBOL)[:2]:
                    who.cancel_order(o["id"], SYMBOL)

    async def scenario() -> None:
        async with websockets.connect(ws_url(rialto, "/ws/btcusdt@depth@100ms")) as ws:
            busy = asyncio.create_task(asyncio.to_thread(trade_a_while, 150))
            await asyncio.sleep(0.5)
            snapshot = await asyncio.to_thread(
                rest, rialto, "/api/v3/depth?symbol=BTCUSDT&limit=5000"
            )
            book = {
                "bids": {Decimal(p): q for p, q in snapshot["bids"]},
                "asks": {Decimal(p): q for p, q in snapshot["asks"]},
            }
            local_id = snapshot["lastUpdateId"]
            first = True
            while True:
                try:
                    event = await recv(ws, timeout=3.0 if busy.done() else 10.0)
                except TimeoutError:
                    if busy.done():
                        break
                    raise
                if event["u"] <= local_id:
                    continue
                if first:
                    assert event["U"] <= local_id + 1 <= event["u"], (event["U"], local_id)
                    first = False
                else:
                    assert event["U"] == local_id + 1, "a gap in the depth stream"
                for side, key in (("bids", "b"), ("asks", "a")):
                    for p, q in event[key]:
                        if Decimal(q) == 0:
                            book[side].pop(Decimal(p), None)
                        else:
                            book[side][Decimal(p)] = q
                local_id = event["u"]
            await busy
            final = await asyncio.to_thread(rest, rialto, DEPTH)
            assert final["lastUpdateId"] == local_id
            assert sorted(book["bids"].items(), reverse=True) == [
                (Decimal(p), q) for p, q in final["bids"]
            ]
            assert sorted(book["asks"].items()) == [(Decimal(p), q) for p, q in final["asks"]]
            assert final["bids"] or final["asks"]

    asyncio.run(scenario())


def _signed_subscribe(key: dict[str, Any], rid: str, secret: str | None = None) -> str:
    params: dict[str, Any] = {"apiKey": key["api_key"], "timestamp": int(time.time() * 1000)}
    payload = "&".join(f"{k}={params[k]}" for k in sorted(params))
    params["signature"] = hmac.new(
        (secret or key["secret"]).encode(), payload.encode(), hashlib.sha256
    ).hexdigest()
    return json.dumps({"id": rid, "method": "userDataStream.subscribe.signature", "params": params})


def test_user_data_over_the_websocket_api(rialto: Rialto) -> None:
    """ccxt.pro's and python-binance's way: /ws-api/v3, userDataStream.subscribe.signature."""
    alice, bob = client(rialto, "alice@api.test"), client(rialto, "bob@api.test")
    alice.load_markets()
    bob.load_markets()

    async def next_event(ws: Any, kind: str) -> dict[str, Any]:
        while True:
            msg = await recv(ws)
            if msg.get("event", {}).get("e") == kind:
                assert msg["subscriptionId"] == 0
                return dict(msg["event"])

    async def scenario() -> None:
        async with websockets.connect(ws_url(rialto, "/ws-api/v3")) as ws:
            await ws.send(_signed_subscribe(rialto.keys["alice@api.test"], "x", secret="bad"))
            refused = await recv(ws)
            assert refused["id"] == "x" and refused["error"]["code"] == -1022
            await ws.send(_signed_subscribe(rialto.keys["alice@api.test"], "s1"))
            assert await recv(ws) == {"id": "s1", "status": 200, "result": {"subscriptionId": 0}}
            order = await asyncio.to_thread(
                alice.create_order, SYMBOL, "limit", "buy", 0.02, 55000, {"clientOrderId": "u1"}
            )
            new = await next_event(ws, "executionReport")
            assert (new["x"], new["X"], new["c"], new["i"]) == (
                "NEW",
                "NEW",
                "u1",
                int(order["id"]),
            )
            assert new["p"] == "55000.00000000" and new["q"] == "0.02000000"
            position = await next_event(ws, "outboundAccountPosition")
            assert {b["a"] for b in position["B"]} == {"USDT"}
            await asyncio.to_thread(bob.create_order, SYMBOL, "limit", "sell", 0.005, 55000)
            fill = await next_event(ws, "executionReport")
            assert (fill["x"], fill["X"], fill["l"], fill["z"]) == (
                "TRADE",
                "PARTIALLY_FILLED",
                "0.00500000",
                "0.00500000",
            )
            assert fill["m"] is True and fill["N"] == "BTC" and fill["t"] > 0
            await asyncio.to_thread(alice.cancel_order, order["id"], SYMBOL)
            canceled = await next_event(ws, "executionReport")
            assert (canceled["x"], canceled["X"], canceled["C"]) == ("CANCELED", "CANCELED", "u1")
            unsubscribe = {"id": "u", "method": "userDataStream.unsubscribe"}
            await ws.send(json.dumps({**unsubscribe, "params": {"subscriptionId": 0}}))
            while (answer := await recv(ws)).get("id") != "u":
                pass
            assert answer == {"id": "u", "status": 200, "result": {}}

    asyncio.run(scenario())


def test_legacy_listen_key_stream(rialto: Rialto) -> None:
    key = rialto.keys["bob@api.test"]
    bob = client(rialto, "bob@api.test")
    bob.load_markets()

    def call(method: str, query: str = "") -> Any:
        req = urllib.request.Request(
            f"{rialto.url}/api/v3/userDataStream{query}",
            method=method,
            headers={"X-MBX-APIKEY": key["api_key"]},
        )
        with urllib.request.urlopen(req) as resp:
            return json.loads(resp.read())

    listen_key = call("POST")["listenKey"]
    assert call("POST")["listenKey"] == listen_key  # one per user, extended
    assert call("PUT", f"?listenKey={listen_key}") == {}

    async def scenario() -> None:
        async with websockets.connect(ws_url(rialto, f"/ws/{listen_key}")) as ws:
            await asyncio.to_thread(bob.create_order, SYMBOL, "limit", "sell", 0.001, 90000)
            while (event := await recv(ws))["e"] != "executionReport":
                pass
            assert event["X"] == "NEW" and event["S"] == "SELL"

    asyncio.run(scenario())
    assert call("DELETE", f"?listenKey={listen_key}") == {}
    try:
        call("PUT", f"?listenKey={listen_key}")
        raise AssertionError("a closed listenKey was kept alive")
    except urllib.error.HTTPError as exc:
        assert json.loads(exc.read())["code"] == -1125
    bob.cancel_all_orders(SYMBOL)


def test_a_slow_consumer_is_dropped_and_the_others_get_everything(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A subscriber that stops reading is disconnected (1008) once 16 KiB wait for it; a
    subscriber that reads gets every trade meanwhile."""
    os.environ["RIALTO_WS_MAX_BUFFER"] = "16384"
    try:
        r = start(tmp_path_factory.mktemp("slow"))
    finally:
        del os.environ["RIALTO_WS_MAX_BUFFER"]
    trades = 400
    heavy = "/".join(
        [f"btcusdt@kline_{i}" for i in ("1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h")]
        + ["btcusdt@trade", "btcusdt@aggTrade", "btcusdt@depth@100ms", "btcusdt@ticker"]
    )
    try:
        alice, bob = client(r, "alice@api.test"), client(r, "bob@api.test")
        alice.load_markets()
        bob.load_markets()

        def cross() -> None:
            alice.create_order(SYMBOL, "limit", "sell", trades / 1000, 60000)
            for _ in range(trades):
                bob.create_order(SYMBOL, "limit", "buy", 0.001, 60000, {"timeInForce": "IOC"})

        async def scenario() -> tuple[int, int | None, str | None]:
            # websockets stops reading the socket once 16 messages wait unread, and the
            # kernel holds little for it: a slow reader.
            host, port = r.url.removeprefix("http://").split(":")
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect((host, int(port)))
            slow = await websockets.connect(ws_url(r, "/ws/" + heavy), max_queue=16, sock=sock)
            async with websockets.connect(ws_url(r, "/ws/btcusdt@trade")) as fast:
                driver = asyncio.create_task(asyncio.to_thread(cross))
                seen = 0
                while seen < trades:
                    if (await recv(fast, 20))["e"] == "trade":
                        seen += 1
                await driver
            # Read again: what the server had sent before it gave up, then its close frame.
            with contextlib.suppress(websockets.ConnectionClosed):
                while True:
                    await asyncio.wait_for(slow.recv(), 20)
            return seen, slow.close_code, slow.close_reason

        seen, code, reason = asyncio.run(scenario())
        assert seen == trades
        assert (code, reason) == (1008, "slow consumer")
    finally:
        stop(r)
