"""Unmodified ccxt (its ``binance`` class, every API URL pointed at Rialto) on ``rialto up``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import ccxt
import pytest

from rialto.marketmaker.venue import point_at
from rialto.runtime.local_exchange import Rialto, halt, launch, start, stop

SYMBOL = "BTC/USDT"


@pytest.fixture(scope="module")
def rialto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rialto]:
    r = start(tmp_path_factory.mktemp("ccxt"))
    try:
        yield r
    finally:
        stop(r)


def client(r: Rialto, who: str, **config: Any) -> Any:
    key = r.keys[who]
    ex = ccxt.binance({"apiKey": key["api_key"], "secret": key["secret"], **config})
    return point_at(ex, r.url)


@pytest.fixture(scope="module")
def alice(rialto: Rialto) -> Any:
    ex = client(rialto, "alice@api.test")
    ex.load_markets()
    return ex


@pytest.fixture(scope="module")
def bob(rialto: Rialto) -> Any:
    ex = client(rialto, "bob@api.test")
    ex.load_markets()
    return ex


def test_markets_and_public_data(alice: Any) -> None:
    assert {"BTC/USDT", "ETH/USDT"} <= set(alice.markets)
    m = alice.market(SYMBOL)
    assert m["precision"]["price"] == 0.01 and m["precision"]["amount"] == 0.0001
    assert m["limits"]["cost"]["min"] == 5
    assert abs(alice.fetch_time() - alice.milliseconds()) < 5000
    book = alice.fetch_order_book(SYMBOL)
    assert book["symbol"] == SYMBOL and isinstance(book["nonce"], int)


def test_orders_trades_and_history(alice: Any, bob: Any) -> None:
    before_a = alice.fetch_balance()["total"]
    bid = alice.create_order(SYMBOL, "limit", "buy", 0.01, 60000)
    assert bid["status"] == "open" and bid["amount"] == 0.01
    book = bob.fetch_order_book(SYMBOL)
    assert book["bids"][0] == [60000.0, 0.01]
    ask = bob.create_order(SYMBOL, "limit", "sell", 0.004, 59000)
    assert ask["status"] == "closed" and ask["filled"] == 0.004
    assert ask["trades"][0]["price"] == 60000.0  # at the maker's price
    assert alice.fetch_order(bid["id"], SYMBOL)["filled"] == 0.004
    assert [o["id"] for o in alice.fetch_open_orders(SYMBOL)] == [bid["id"]]
    mine = alice.fetch_my_trades(SYMBOL)
    assert mine[-1]["side"] == "buy" and mine[-1]["takerOrMaker"] == "maker"
    assert mine[-1]["fee"]["currency"] == "BTC" and mine[-1]["fee"]["cost"] > 0
    after_a = alice.fetch_balance()["total"]
    assert after_a["BTC"] > before_a["BTC"] and after_a["USDT"] == before_a["USDT"] - 240
    ticker = bob.fetch_ticker(SYMBOL)
    assert ticker["last"] == 60000.0 and ticker["baseVolume"] >= 0.004
    assert SYMBOL in bob.fetch_tickers()
    assert bob.fetch_trades(SYMBOL)[-1]["price"] == 60000.0
    candle = bob.fetch_ohlcv(SYMBOL, "1m")[-1]
    assert candle[4] == 60000.0 and candle[5] >= 0.004
    assert alice.cancel_order(bid["id"], SYMBOL)["status"] == "canceled"
    assert alice.fetch_open_orders(SYMBOL) == []
    closed = bob.fetch_closed_orders(SYMBOL)
    assert ask["id"] in [o["id"] for o in closed]


def test_order_kinds(alice: Any, bob: Any) -> None:
    bob.create_order(SYMBOL, "limit", "sell", 0.01, 61000)
    ioc = alice.create_order(SYMBOL, "limit", "buy", 0.002, 61000, {"timeInForce": "IOC"})
    assert ioc["status"] == "closed" and ioc["filled"] == 0.002
    fok = alice.create_order(SYMBOL, "limit", "buy", 1, 61000, {"timeInForce": "FOK"})
    assert fok["status"] == "expired" and fok["filled"] == 0
    by_amount = alice.create_order(SYMBOL, "market", "buy", 0.001)
    assert by_amount["status"] == "closed" and by_amount["filled"] == 0.001
    by_cost = alice.create_market_buy_order_with_cost(SYMBOL, 61)
    assert by_cost["status"] == "closed" and by_cost["cost"] == pytest.approx(61)
    post = alice.create_order(SYMBOL, "limit", "buy", 0.001, 50000, {"postOnly": True})
    assert post["status"] == "open"
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        alice.create_order(SYMBOL, "limit", "buy", 0.001, 62000, {"postOnly": True})
    alice.cancel_all_orders(SYMBOL)
    bob.cancel_all_orders(SYMBOL)
    assert alice.fetch_open_orders(SYMBOL) == [] and bob.fetch_open_orders(SYMBOL) == []


def test_errors_map_to_ccxt_exceptions(rialto: Rialto, alice: Any) -> None:
    with pytest.raises(ccxt.InsufficientFunds):
        alice.create_order(SYMBOL, "limit", "buy", 1000, 60000)
    with pytest.raises(ccxt.OrderNotFound):
        alice.cancel_order("999999", SYMBOL)
    with pytest.raises(ccxt.OrderNotFound):
        alice.fetch_order("999999", SYMBOL)
    with pytest.raises(ccxt.InvalidOrder):
        alice.create_order(SYMBOL, "limit", "buy", 0.01, 0.001, {"timeInForce": "GTC"})
    forged = client(rialto, "alice@api.test")
    forged.secret = "x" * 64
    with pytest.raises(ccxt.AuthenticationError):
        forged.fetch_balance()
    stale = client(rialto, "alice@api.test", options={"timeDifference": 120_000})
    stale.markets = alice.markets
    stale.markets_by_id = alice.markets_by_id
    with pytest.raises(ccxt.InvalidNonce):
        stale.fetch_balance()
    # A read-only key may not trade (-2015; ccxt calls it AuthenticationError until the key
    # has once worked, DDoSProtection after: Binance sends -2015 for temporary bans too).
    reader = client(rialto, "reader")
    reader.markets, reader.markets_by_id = alice.markets, alice.markets_by_id
    with pytest.raises(ccxt.AuthenticationError):
        reader.create_order(SYMBOL, "limit", "buy", 0.001, 50000)
    assert reader.fetch_balance()["total"]["USDT"] > 0


def test_nothing_leaks_a_server_error(rialto: Rialto, alice: Any) -> None:
    """Bad requests get Binance's error body, never a 500."""
    import urllib.error
    import urllib.request

    for path in (
        "/api/v3/depth",
        "/api/v3/depth?symbol=NOPE",
        "/api/v3/depth?symbol=BTCUSDT&limit=abc",
        "/api/v3/klines?symbol=BTCUSDT&interval=7m",
        "/api/v3/ticker/24hr?symbols=BTCUSDT",
        "/api/v3/order?symbol=BTCUSDT",
        "/api/v3/nothing",
    ):
        try:
            with urllib.request.urlopen(rialto.url + path) as resp:
                status, body = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read()
        assert 400 <= status < 500, (path, status, body)
        assert b'"code":-' in body, (path, body)
    assert "Traceback" not in rialto.log()


def test_edit_order_is_cancel_replace(alice: Any) -> None:
    first = alice.create_order(SYMBOL, "limit", "buy", 0.002, 50000)
    edited = alice.edit_order(first["id"], SYMBOL, "limit", "buy", 0.003, 50100)
    assert edited["id"] != first["id"] and edited["amount"] == 0.003 and edited["price"] == 50100
    assert alice.fetch_order(first["id"], SYMBOL)["status"] == "canceled"
    assert [o["id"] for o in alice.fetch_open_orders(SYMBOL)] == [edited["id"]]
    with pytest.raises(ccxt.BaseError) as failed:
        alice.edit_order(first["id"], SYMBOL, "limit", "buy", 0.003, 50100)  # already canceled
    assert "-2022" in str(failed.value) and "Unknown order sent." in str(failed.value)
    assert [o["id"] for o in alice.fetch_open_orders(SYMBOL)] == [edited["id"]]
    alice.cancel_all_orders(SYMBOL)


def test_trades_and_candles_survive_a_restart(tmp_path_factory: pytest.TempPathFactory) -> None:
    r = start(tmp_path_factory.mktemp("restart"))
    try:
        alice, bob = client(r, "alice@api.test"), client(r, "bob@api.test")
        alice.load_markets()
        bob.load_markets()
        for price in (60000, 60100, 59900):
            alice.create_order(SYMBOL, "limit", "sell", 0.01, price)
            bob.create_order(SYMBOL, "limit", "buy", 0.01, price)
        before = (bob.fetch_trades(SYMBOL), bob.fetch_ohlcv(SYMBOL, "1m"), bob.fetch_ticker(SYMBOL))
        halt(r.proc)
        r.proc, r.url = launch(r.data_dir)
        again = client(r, "bob@api.test")
        again.load_markets()
        after = (again.fetch_trades(SYMBOL), again.fetch_ohlcv(SYMBOL, "1m"))
        assert after == before[:2] and len(after[0]) == 3
        ticker = again.fetch_ticker(SYMBOL)
        assert (ticker["last"], ticker["baseVolume"]) == (before[2]["last"], 0.03)
    finally:
        stop(r)
