"""Unmodified python-binance (``Client`` and ``AsyncClient``) on ``rialto up``.

Pointing python-binance at another host: it has no base-URL parameter (``base_endpoint``
only picks ``api1``..``api4`` of binance.com, ``tld`` the ``binance.<tld>`` domain). Its URL
templates are class attributes that ``BaseClient.__init__`` runs through
``str.format(base_endpoint, tld)``, and a string without ``{}`` passes through unchanged.
So the clients here are subclasses with ``API_URL`` set to Rialto's ``/api`` (python-binance
appends ``/v3/<path>``), defined before construction so that the ``GET /api/v3/ping`` that
every ``Client()`` and ``AsyncClient.create()`` sends already goes to Rialto::

    class RialtoClient(Client):
        API_URL = "http://127.0.0.1:8000/api"

    client = RialtoClient(API_KEY, SECRET)          # pings Rialto

(The same works for ``AsyncClient``. ``Client(..., ping=False)`` followed by
``client.API_URL = url + "/api"`` works too. Nothing in the library is modified.)

What python-binance does on the wire, and Rialto must take: ``X-MBX-APIKEY`` on every
request, signed parameters sorted by name with ``recvWindow=10000``, POST *and DELETE*
parameters in a form body, ``newClientOrderId=x-HNA2TXFJ...`` on every order,
``get_historical_klines`` probing ``klines?startTime=0&limit=1`` for the first candle,
and any non-2xx answer raised as ``BinanceAPIException`` carrying the body's ``code``.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
from binance.async_client import AsyncClient
from binance.client import Client
from binance.exceptions import BinanceAPIException

from rialto.runtime.local_exchange import RIALTO, Rialto, start, stop

SYMBOL = "BTCUSDT"


@pytest.fixture(scope="module")
def rialto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rialto]:
    r = start(tmp_path_factory.mktemp("python-binance"))
    try:
        yield r
    finally:
        stop(r)


def client_class(r: Rialto) -> type[Client]:
    return type("RialtoClient", (Client,), {"API_URL": r.url + "/api"})


def async_client_class(r: Rialto) -> type[AsyncClient]:
    return type("RialtoAsyncClient", (AsyncClient,), {"API_URL": r.url + "/api"})


def client(r: Rialto, who: str, secret: str | None = None) -> Client:
    key = r.keys[who]
    return client_class(r)(key["api_key"], secret or key["secret"])


@pytest.fixture(scope="module")
def alice(rialto: Rialto) -> Client:
    return client(rialto, "alice@api.test")


@pytest.fixture(scope="module")
def bob(rialto: Rialto) -> Client:
    return client(rialto, "bob@api.test")


def d(value: str) -> Decimal:
    return Decimal(value)


def balances(c: Client) -> dict[str, tuple[Decimal, Decimal]]:
    return {b["asset"]: (d(b["free"]), d(b["locked"])) for b in c.get_account()["balances"]}


def api_error(excinfo: pytest.ExceptionInfo[BinanceAPIException]) -> tuple[int, int, str]:
    e = excinfo.value
    return e.status_code, e.code, e.message


# --- the sync Client ----------------------------------------------------------------


def test_public_data(rialto: Rialto, alice: Client) -> None:
    assert alice.ping() == {}
    server = alice.get_server_time()["serverTime"]
    assert abs(server - time.time() * 1000) < 5000
    info = alice.get_exchange_info()
    assert {s["symbol"] for s in info["symbols"]} == {"BTCUSDT", "ETHUSDT"}
    sym = alice.get_symbol_info(SYMBOL)
    assert sym is not None and sym["status"] == "TRADING"
    assert sym["baseAsset"] == "BTC" and sym["quoteAsset"] == "USDT"
    filters = {f["filterType"]: f for f in sym["filters"]}
    assert d(filters["PRICE_FILTER"]["tickSize"]) == d("0.01")
    assert d(filters["LOT_SIZE"]["stepSize"]) == d("0.0001")
    assert d(filters["NOTIONAL"]["minNotional"]) == d("5")
    assert {"LIMIT", "MARKET", "LIMIT_MAKER"} <= set(sym["orderTypes"])
    assert alice.get_symbol_info("NOPE") is None
    book = alice.get_order_book(symbol=SYMBOL)
    assert isinstance(book["lastUpdateId"], int) and book["bids"] == book["asks"] == []
    # An unauthenticated client works on the public endpoints.
    anonymous = client_class(rialto)()
    assert anonymous.get_symbol_ticker(symbol=SYMBOL)["symbol"] == SYMBOL


def test_orders_trades_and_history(alice: Client, bob: Client) -> None:
    before = balances(alice)
    bid = alice.order_limit_buy(symbol=SYMBOL, quantity="0.01", price="60000")
    assert bid["status"] == "NEW" and bid["fills"] == []
    assert bid["clientOrderId"].startswith("x-HNA2TXFJ")  # python-binance's own id
    assert d(bid["origQty"]) == d("0.01") and d(bid["price"]) == d("60000")
    book = bob.get_order_book(symbol=SYMBOL, limit=5)
    assert [[d(p), d(q)] for p, q in book["bids"]] == [[d("60000"), d("0.01")]]
    assert balances(alice)["USDT"][1] == d("600")  # locked for the bid

    ask = bob.order_limit_sell(symbol=SYMBOL, quantity="0.004", price="59000")
    assert ask["status"] == "FILLED" and d(ask["executedQty"]) == d("0.004")
    assert [d(f["price"]) for f in ask["fills"]] == [d("60000")]  # at the maker's price
    assert ask["fills"][0]["commissionAsset"] == "USDT"
    assert d(ask["cummulativeQuoteQty"]) == d("240")

    got = alice.get_order(symbol=SYMBOL, orderId=bid["orderId"])
    assert got["status"] == "PARTIALLY_FILLED" and d(got["executedQty"]) == d("0.004")
    by_cid = alice.get_order(symbol=SYMBOL, origClientOrderId=bid["clientOrderId"])
    assert by_cid["orderId"] == bid["orderId"]
    assert [o["orderId"] for o in alice.get_open_orders(symbol=SYMBOL)] == [bid["orderId"]]
    assert [o["orderId"] for o in alice.get_open_orders()] == [bid["orderId"]]
    mine = alice.get_my_trades(symbol=SYMBOL)
    assert len(mine) == 1 and mine[0]["orderId"] == bid["orderId"]
    assert mine[0]["isBuyer"] is True and mine[0]["isMaker"] is True
    assert mine[0]["commissionAsset"] == "BTC" and d(mine[0]["commission"]) > 0
    assert [t["orderId"] for t in bob.get_my_trades(symbol=SYMBOL)] == [ask["orderId"]]
    after = balances(alice)
    assert after["BTC"][0] > before["BTC"][0]
    assert after["USDT"][0] + after["USDT"][1] == before["USDT"][0] - d("240")
    btc = alice.get_asset_balance(asset="BTC")
    assert btc is not None and d(btc["free"]) == after["BTC"][0]

    ticker = bob.get_ticker(symbol=SYMBOL)
    assert d(ticker["lastPrice"]) == d("60000") and d(ticker["volume"]) >= d("0.004")
    assert d(ticker["bidPrice"]) == d("60000") and d(ticker["bidQty"]) == d("0.006")
    assert SYMBOL in {t["symbol"] for t in bob.get_ticker()}
    assert d(bob.get_symbol_ticker(symbol=SYMBOL)["price"]) == d("60000")
    assert {t["symbol"] for t in bob.get_all_tickers()} == {"BTCUSDT", "ETHUSDT"}
    assert d(bob.get_orderbook_ticker(symbol=SYMBOL)["bidPrice"]) == d("60000")
    assert len(bob.get_orderbook_tickers()) == 2
    assert d(bob.get_avg_price(symbol=SYMBOL)["price"]) == d("60000")
    recent = bob.get_recent_trades(symbol=SYMBOL)
    assert d(recent[-1]["price"]) == d("60000") and recent[-1]["isBuyerMaker"] is True
    assert bob.get_historical_trades(symbol=SYMBOL)[-1]["id"] == recent[-1]["id"]
    assert bob.get_aggregate_trades(symbol=SYMBOL)[-1]["a"] == recent[-1]["id"]
    candle = bob.get_klines(symbol=SYMBOL, interval=Client.KLINE_INTERVAL_1MINUTE)[-1]
    assert d(candle[4]) == d("60000") and d(candle[5]) >= d("0.004")
    # get_historical_klines first probes klines?startTime=0&limit=1 for the oldest candle.
    history = bob.get_historical_klines(SYMBOL, Client.KLINE_INTERVAL_1MINUTE, "1 day ago UTC")
    assert history and history[-1][0] == candle[0]

    canceled = alice.cancel_order(symbol=SYMBOL, orderId=bid["orderId"])
    assert canceled["status"] == "CANCELED" and canceled["orderId"] == bid["orderId"]
    assert canceled["origClientOrderId"] == bid["clientOrderId"]
    assert alice.get_open_orders(symbol=SYMBOL) == []
    assert balances(alice)["USDT"][1] == 0
    history_ids = [o["orderId"] for o in alice.get_all_orders(symbol=SYMBOL)]
    assert bid["orderId"] in history_ids
    assert alice.get_order(symbol=SYMBOL, orderId=bid["orderId"])["status"] == "CANCELED"


def test_order_kinds(alice: Client, bob: Client) -> None:
    bob.order_limit_sell(symbol=SYMBOL, quantity="0.01", price="61000")
    ioc = alice.order_limit_buy(
        symbol=SYMBOL, quantity="0.002", price="61000", timeInForce=Client.TIME_IN_FORCE_IOC
    )
    assert ioc["status"] == "FILLED" and d(ioc["executedQty"]) == d("0.002")
    assert ioc["timeInForce"] == "IOC"
    fok = alice.order_limit_buy(
        symbol=SYMBOL, quantity="1", price="61000", timeInForce=Client.TIME_IN_FORCE_FOK
    )
    assert fok["status"] == "EXPIRED" and d(fok["executedQty"]) == 0
    by_qty = alice.order_market_buy(symbol=SYMBOL, quantity="0.001")
    assert by_qty["status"] == "FILLED" and d(by_qty["executedQty"]) == d("0.001")
    assert d(by_qty["fills"][0]["price"]) == d("61000")
    by_quote = alice.order_market_buy(symbol=SYMBOL, quoteOrderQty="61")
    assert by_quote["status"] == "FILLED" and d(by_quote["cummulativeQuoteQty"]) == d("61")
    assert d(by_quote["origQuoteOrderQty"]) == d("61")
    sold = alice.order_market_sell(symbol=SYMBOL, quantity="0.001")
    assert sold["status"] == "EXPIRED" and d(sold["executedQty"]) == 0  # no bids
    maker = alice.create_order(
        symbol=SYMBOL, side="BUY", type="LIMIT_MAKER", quantity="0.001", price="50000"
    )
    resting = alice.get_order(symbol=SYMBOL, orderId=maker["orderId"])
    assert resting["type"] == "LIMIT_MAKER" and resting["status"] == "NEW"
    with pytest.raises(BinanceAPIException) as crossing:
        alice.create_order(
            symbol=SYMBOL, side="BUY", type="LIMIT_MAKER", quantity="0.001", price="62000"
        )
    assert api_error(crossing) == (400, -2010, "Order would immediately match and take.")
    test = {"symbol": SYMBOL, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}
    assert alice.create_test_order(**test, quantity="0.001", price="50000") == {}
    by_cid = alice.cancel_order(symbol=SYMBOL, origClientOrderId=maker["clientOrderId"])
    assert by_cid["status"] == "CANCELED" and by_cid["orderId"] == maker["orderId"]
    for field in ("type", "timeInForce", "selfTradePreventionMode", "price", "origQty"):
        assert by_cid[field] == resting[field], field  # the canceled order, as it was
    rest = bob.get_open_orders(symbol=SYMBOL)
    assert len(rest) == 1
    # DELETE openOrders (cancel all on a symbol), parameters in the form body.
    all_canceled = bob._delete("openOrders", True, data={"symbol": SYMBOL})
    assert [o["status"] for o in all_canceled] == ["CANCELED"]
    assert alice.get_open_orders() == [] and bob.get_open_orders() == []
    statuses = {o["orderId"]: o["status"] for o in alice.get_all_orders(symbol=SYMBOL)}
    assert statuses[fok["orderId"]] == "EXPIRED" and statuses[ioc["orderId"]] == "FILLED"
    assert statuses[maker["orderId"]] == "CANCELED"


def test_errors_are_binance_api_exceptions(rialto: Rialto, alice: Client) -> None:
    with pytest.raises(BinanceAPIException) as poor:
        alice.order_limit_buy(symbol=SYMBOL, quantity="1000", price="60000")
    assert api_error(poor) == (
        400,
        -2010,
        "Account has insufficient balance for requested action.",
    )
    with pytest.raises(BinanceAPIException) as unknown:
        alice.cancel_order(symbol=SYMBOL, orderId=999999)
    assert api_error(unknown) == (400, -2011, "Unknown order sent.")
    with pytest.raises(BinanceAPIException) as missing:
        alice.get_order(symbol=SYMBOL, orderId=999999)
    assert api_error(missing) == (400, -2013, "Order does not exist.")
    with pytest.raises(BinanceAPIException) as missing_cid:
        alice.get_order(symbol=SYMBOL, origClientOrderId="never-sent")
    assert missing_cid.value.code == -2013
    with pytest.raises(BinanceAPIException) as filtered:
        alice.order_limit_buy(symbol=SYMBOL, quantity="0.001", price="60000.001")
    assert api_error(filtered) == (400, -1013, "Filter failure: PRICE_FILTER")
    with pytest.raises(BinanceAPIException) as bad_symbol:
        alice.get_order_book(symbol="NOPE")
    assert api_error(bad_symbol) == (400, -1121, "Invalid symbol.")

    forged = client(rialto, "alice@api.test", secret="x" * 64)
    with pytest.raises(BinanceAPIException) as bad_signature:
        forged.get_account()
    assert api_error(bad_signature) == (400, -1022, "Signature for this request is not valid.")
    with pytest.raises(BinanceAPIException) as bad_signature_post:
        forged.order_limit_buy(symbol=SYMBOL, quantity="0.001", price="50000")
    assert bad_signature_post.value.code == -1022

    stale = client(rialto, "alice@api.test")
    stale.timestamp_offset = -60_000  # python-binance sends recvWindow=10000
    with pytest.raises(BinanceAPIException) as old:
        stale.get_account()
    assert api_error(old) == (
        400,
        -1021,
        "Timestamp for this request is outside of the recvWindow.",
    )
    stale.timestamp_offset = 5_000
    with pytest.raises(BinanceAPIException) as ahead:
        stale.get_account()
    assert api_error(ahead) == (
        400,
        -1021,
        "Timestamp for this request was 1000ms ahead of the server's time.",
    )

    reader = client(rialto, "reader")
    assert reader.get_account()["canTrade"] is False
    with pytest.raises(BinanceAPIException) as read_only:
        reader.order_limit_buy(symbol=SYMBOL, quantity="0.001", price="50000")
    assert api_error(read_only) == (401, -2015, "Invalid API-key, IP, or permissions for action.")
    nobody = client_class(rialto)("NoSuchKey", "x" * 64)
    with pytest.raises(BinanceAPIException) as unknown_key:
        nobody.get_account()
    assert unknown_key.value.code == -2015
    assert alice.get_open_orders() == []  # nothing was placed by any of these
    assert "Traceback" not in rialto.log()


# --- the AsyncClient ------------------------------------------------------------------


async def _async_flow(r: Rialto) -> None:
    cls = async_client_class(r)
    a_key, b_key = r.keys["alice@api.test"], r.keys["bob@api.test"]
    # create() pings, then sets timestamp_offset from GET /api/v3/time.
    alice = await cls.create(a_key["api_key"], a_key["secret"])
    bob = await cls.create(b_key["api_key"], b_key["secret"])
    try:
        assert abs(alice.timestamp_offset) < 5000
        assert await alice.ping() == {}
        info = await alice.get_exchange_info()
        assert "ETHUSDT" in {s["symbol"] for s in info["symbols"]}
        sym = "ETHUSDT"
        usdt_before = d((await alice.get_asset_balance(asset="USDT"))["free"])

        bid = await alice.order_limit_buy(symbol=sym, quantity="1", price="3000")
        assert bid["status"] == "NEW"
        book = await bob.get_order_book(symbol=sym)
        assert [[d(p), d(q)] for p, q in book["bids"]] == [[d("3000"), d("1")]]
        ask = await bob.order_limit_sell(
            symbol=sym, quantity="0.4", price="2900", timeInForce="IOC"
        )
        assert ask["status"] == "FILLED" and d(ask["fills"][0]["price"]) == d("3000")
        fok = await bob.order_limit_sell(symbol=sym, quantity="5", price="3000", timeInForce="FOK")
        assert fok["status"] == "EXPIRED"
        market = await bob.order_market_sell(symbol=sym, quantity="0.1")
        assert market["status"] == "FILLED" and d(market["executedQty"]) == d("0.1")
        by_quote = await bob.order_market_sell(symbol=sym, quoteOrderQty="300")
        assert by_quote["status"] == "FILLED" and d(by_quote["executedQty"]) == d("0.1")
        maker = await bob.create_order(
            symbol=sym, side="SELL", type="LIMIT_MAKER", quantity="0.5", price="3100"
        )
        with pytest.raises(BinanceAPIException) as crossing:
            await bob.create_order(
                symbol=sym, side="SELL", type="LIMIT_MAKER", quantity="0.5", price="3000"
            )
        assert crossing.value.code == -2010

        assert d((await alice.get_ticker(symbol=sym))["lastPrice"]) == d("3000")
        assert d((await alice.get_symbol_ticker(symbol=sym))["price"]) == d("3000")
        assert d((await alice.get_orderbook_ticker(symbol=sym))["askPrice"]) == d("3100")
        trades = await alice.get_recent_trades(symbol=sym)
        assert len(trades) == 3 and all(d(t["price"]) == d("3000") for t in trades)
        candles = await alice.get_klines(symbol=sym, interval="1m")
        assert d(candles[-1][5]) == d("0.6") and candles[-1][8] == 3
        history = await alice.get_historical_klines(sym, "1m", "1 hour ago UTC")
        assert history[-1][0] == candles[-1][0]

        got = await alice.get_order(symbol=sym, orderId=bid["orderId"])
        assert got["status"] == "PARTIALLY_FILLED" and d(got["executedQty"]) == d("0.6")
        assert [o["orderId"] for o in await alice.get_open_orders(symbol=sym)] == [bid["orderId"]]
        mine = await alice.get_my_trades(symbol=sym)
        assert len(mine) == 3 and all(t["isMaker"] and t["isBuyer"] for t in mine)
        canceled = await alice.cancel_order(symbol=sym, orderId=bid["orderId"])
        assert canceled["status"] == "CANCELED"
        canceled = await bob.cancel_order(symbol=sym, orderId=maker["orderId"])
        assert canceled["status"] == "CANCELED"
        assert await alice.get_open_orders() == [] and await bob.get_open_orders() == []
        all_orders = await bob.get_all_orders(symbol=sym)
        assert [o["status"] for o in all_orders] == [
            "FILLED",
            "EXPIRED",
            "FILLED",
            "FILLED",
            "CANCELED",
        ]
        usdt_after = d((await alice.get_asset_balance(asset="USDT"))["free"])
        assert usdt_after == usdt_before - d("1800")

        with pytest.raises(BinanceAPIException) as poor:
            await alice.order_limit_buy(symbol=sym, quantity="100000", price="3000")
        assert poor.value.code == -2010
        with pytest.raises(BinanceAPIException) as unknown:
            await alice.cancel_order(symbol=sym, orderId=bid["orderId"])
        assert unknown.value.code == -2011
        with pytest.raises(BinanceAPIException) as missing:
            await alice.get_order(symbol=sym, orderId=10**9)
        assert missing.value.code == -2013
        alice.timestamp_offset = -60_000
        with pytest.raises(BinanceAPIException) as stale:
            await alice.get_account()
        assert stale.value.code == -1021
        alice.timestamp_offset = 0
    finally:
        await alice.close_connection()
        await bob.close_connection()
    forged = await cls.create(a_key["api_key"], "x" * 64)
    try:
        with pytest.raises(BinanceAPIException) as bad_signature:
            await forged.get_account()
        assert bad_signature.value.code == -1022
        with pytest.raises(BinanceAPIException) as bad_signature_delete:
            await forged.cancel_order(symbol=sym, orderId=1)
        assert bad_signature_delete.value.code == -1022
    finally:
        await forged.close_connection()


def test_async_client(rialto: Rialto) -> None:
    asyncio.run(_async_flow(rialto))
    assert "Traceback" not in rialto.log()


def test_fee_tiers_set_by_the_operator_show_in_the_account_and_the_fills(
    rialto: Rialto, alice: Client, bob: Client
) -> None:
    def cli(*args: str) -> None:
        cmd = [*RIALTO, *args, "--data-dir", str(rialto.data_dir)]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)

    cli("fees", "tier", "vip", "--maker", "-0.0001", "--taker", "0.0005")
    cli("fees", "assign", "--email", "bob@api.test", "--tier", "vip")
    try:
        rates = bob.get_account()["commissionRates"]
        assert (rates["maker"], rates["taker"]) == ("-0.00010000", "0.00050000")
        assert bob.get_account()["takerCommission"] == 5
        assert alice.get_account()["commissionRates"]["taker"] == "0.00100000"
        alice.order_limit_sell(symbol="ETHUSDT", quantity="1", price="2000")
        fill = bob.order_limit_buy(symbol="ETHUSDT", quantity="1", price="2000")["fills"][0]
        assert (fill["commissionAsset"], d(fill["commission"])) == ("ETH", d("0.0005"))
    finally:
        cli("fees", "assign", "--email", "bob@api.test", "--tier", "")
    assert bob.get_account()["commissionRates"]["taker"] == "0.00100000"
