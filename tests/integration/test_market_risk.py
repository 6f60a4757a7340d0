"""A market's price band and circuit breaker on a running ``rialto up``, set by the operator CLI.

A band violation is Binance's -1013 PERCENT_PRICE_BY_SIDE; a big move halts the market
(``exchangeInfo`` status BREAK, orders refused as on a halted market, ``<symbol>@status``
says so), and once the cooling period is over the runtime's journaled ResumeMarket
brings it back to TRADING, which a replay of the journal reproduces.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from test_cli import rialto as cli_run
from test_cli import setup_market

from rialto.domain.orders import MarketStatus
from rialto.runtime.local_exchange import Rialto, start, stop
from rialto.runtime.node import Node

RIALTO = [sys.executable, "-m", "rialto.cli"]
ALICE, BOB = "alice@api.test", "bob@api.test"
COOL_S = 1.5


@pytest.fixture(scope="module")
def rialto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rialto]:
    r = start(tmp_path_factory.mktemp("risk"))
    try:
        yield r
    finally:
        stop(r)


def cli(r: Rialto, *args: str) -> Any:
    proc = subprocess.run(
        [*RIALTO, *args, "--data-dir", str(r.data_dir)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def symbol_info(r: Rialto) -> Any:
    with urllib.request.urlopen(f"{r.url}/api/v3/exchangeInfo?symbol=BTCUSDT") as resp:
        return json.loads(resp.read())["symbols"][0]


def order(r: Rialto, who: str, side: str, price: str, qty: str = "0.01") -> tuple[int, Any]:
    """A signed LIMIT GTC order: ``(HTTP status, body)``."""
    key = r.keys[who]
    params = {
        "symbol": "BTCUSDT",
        "side": side,
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": qty,
        "price": price,
        "timestamp": str(int(time.time() * 1000)),
    }
    query = urllib.parse.urlencode(params)
    signature = hmac.new(key["secret"].encode(), query.encode(), hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        f"{r.url}/api/v3/order?{query}&signature={signature}",
        method="POST",
        headers={"X-MBX-APIKEY": key["api_key"]},
    )
    try:
        with urllib.request.urlopen(request) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def trade(r: Rialto, price: str) -> None:
    assert order(r, ALICE, "SELL", price)[0] == 200
    status, body = order(r, BOB, "BUY", price)
    assert (status, body["status"]) == (200, "FILLED"), body


def test_band_breaker_and_resume_on_a_running_exchange(rialto: Rialto) -> None:
    # No risk settings: no PERCENT_PRICE_BY_SIDE filter.
    filters = {f["filterType"] for f in symbol_info(rialto)["filters"]}
    assert "PERCENT_PRICE_BY_SIDE" not in filters
    shown = cli(
        rialto,
        *("markets", "risk", "BTCUSDT", "--band-pct", "5", "--breaker-pct", "8"),
        *("--window-s", "60", "--cool-s", str(COOL_S)),
    )
    assert shown == {
        "symbol": "BTCUSDT",
        "band_pct": "5",
        "breaker_pct": "8",
        "window_s": "60",
        "cool_s": "1.5",
    }
    info = symbol_info(rialto)
    assert info["status"] == "TRADING"
    band = [f for f in info["filters"] if f["filterType"] == "PERCENT_PRICE_BY_SIDE"]
    assert band == [
        {
            "filterType": "PERCENT_PRICE_BY_SIDE",
            "bidMultiplierUp": "1.05",
            "bidMultiplierDown": "0.95",
            "askMultiplierUp": "1.05",
            "askMultiplierDown": "0.95",
            "avgPriceMins": 0,
        }
    ]

    trade(rialto, "1000.00")  # the reference
    status, body = order(rialto, BOB, "BUY", "1050.01")
    assert (status, body) == (400, {"code": -1013, "msg": "Filter failure: PERCENT_PRICE_BY_SIDE"})
    assert order(rialto, BOB, "SELL", "949.99")[1]["code"] == -1013

    async def watch() -> list[Any]:
        """The btcusdt@status stream while the market moves 9% and cools down."""
        url = rialto.url.replace("http://", "ws://") + "/ws/btcusdt@status"
        got: list[Any] = []
        async with websockets.connect(url) as ws:
            await asyncio.sleep(0.2)  # subscribed before the move
            await asyncio.to_thread(trade, rialto, "1050.00")  # 5%: trading on
            assert symbol_info(rialto)["status"] == "TRADING"
            await asyncio.to_thread(trade, rialto, "1090.00")  # 9% within the window: BREAK
            info = await asyncio.to_thread(symbol_info, rialto)
            assert info["status"] == "BREAK"
            status, body = await asyncio.to_thread(order, rialto, BOB, "BUY", "1090.00")
            assert (status, body) == (400, {"code": -1013, "msg": "Market is closed."})
            while len(got) < 2:
                got.append(json.loads(await asyncio.wait_for(ws.recv(), COOL_S + 5)))
        return got

    halted = time.monotonic()
    messages = asyncio.run(watch())
    assert [(m["e"], m["s"], m["status"]) for m in messages] == [
        ("marketStatus", "BTCUSDT", "BREAK"),
        ("marketStatus", "BTCUSDT", "TRADING"),
    ]
    assert time.monotonic() - halted >= COOL_S - 0.3
    assert symbol_info(rialto)["status"] == "TRADING"
    trade(rialto, "1100.00")  # moves count from the halt's price: trading on
    assert symbol_info(rialto)["status"] == "TRADING"


def test_the_halt_and_the_resume_are_in_the_journal(rialto: Rialto) -> None:
    """Replaying the whole journal (no snapshot) rebuilds the same market: the halt and
    the resume included."""
    stop(rialto)
    shutil.rmtree(rialto.data_dir / "snapshots")

    async def reopen() -> tuple[MarketStatus, int, int]:
        node = await Node.open(rialto.data_dir)
        try:
            engine = node.exchange.engines["BTCUSDT"]
            return engine.status, engine.risk.breaker_bps, engine.last_price
        finally:
            await node.close()

    assert asyncio.run(reopen()) == (MarketStatus.TRADING, 800, 110_000)


def test_the_cli_on_a_stopped_data_directory(tmp_path: Path) -> None:
    setup_market(tmp_path)
    out = cli_run(tmp_path, "markets", "risk", "BTCUSDT", "--band-pct", "2.5")
    assert json.loads(out.stdout) == {
        "symbol": "BTCUSDT",
        "band_pct": "2.5",
        "breaker_pct": "0",
        "window_s": "0",
        "cool_s": "0",
    }
    bad = cli_run(tmp_path, "markets", "risk", "BTCUSDT", "--breaker-pct", "10", ok=False)
    assert bad.returncode != 0
    assert "a circuit breaker needs a window and a cooling period" in bad.stderr
    out = cli_run(
        tmp_path, "markets", "risk", "BTCUSDT", "--breaker-pct", "10", "--window-s", "30",
        "--cool-s", "0.25",
    )  # fmt: skip
    shown = json.loads(out.stdout)
    assert (shown["band_pct"], shown["breaker_pct"], shown["cool_s"]) == ("2.5", "10", "0.25")
