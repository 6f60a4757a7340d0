"""Scale-out: `rialto up --bus` with two `rialto serve gateway` processes in front of it.

Real NATS (a private 2.15 server), real PostgreSQL for the read model, real Redis for
what the gateways share. Any gateway must answer any client as the others do.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from nats_server import private_server
from sql_dbs import Databases
from test_api_ccxt import client

from rialto.runtime.local_exchange import Rialto, halt, launch_gateway, start, stop

REDIS = "redis://127.0.0.1:6379/0"


class Deployment:
    def __init__(self, tmp: Path) -> None:
        self.dbs = Databases(tmp)
        self.nats = private_server("2.15", tmp)
        self.db = self.dbs.new("postgresql")
        self.env = {"RIALTO_REDIS_PREFIX": f"rialto-it:{uuid.uuid4().hex}:"}
        os.environ.update(self.env)  # the core reads it too
        self.core: Rialto = start(
            tmp / "core", ["--bus", self.nats.url, "--db", self.db, "--redis", REDIS]
        )
        self.gateways: list[tuple[subprocess.Popen[bytes], str]] = []
        for _ in range(2):
            self.gateways.append(launch_gateway(self.core, self.nats.url, self.db, REDIS, self.env))

    @property
    def urls(self) -> list[str]:
        return [url for _, url in self.gateways]

    def close(self) -> None:
        for proc, _ in self.gateways:
            halt(proc)
        stop(self.core)
        self.nats.stop()
        self.dbs.drop_all()
        for key in self.env:
            os.environ.pop(key, None)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    (tmp := tmp_path_factory.mktemp("gateways")).joinpath("core").mkdir()
    d = Deployment(tmp)
    try:
        yield d
    finally:
        d.close()


def at(r: Rialto, url: str) -> Rialto:
    return Rialto(url, r.data_dir, r.proc, r.keys)


def get(url: str, path: str) -> tuple[int, dict[str, str], Any]:
    try:
        with urllib.request.urlopen(url + path, timeout=10) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


def eventually(check: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_an_order_through_one_gateway_is_seen_by_every_gateway(deployment: Deployment) -> None:
    a_url, b_url = deployment.urls
    alice_a = client(at(deployment.core, a_url), "alice@api.test")
    alice_b = client(at(deployment.core, b_url), "alice@api.test")
    bob_core = client(deployment.core, "bob@api.test")
    alice_a.load_markets()
    alice_b.load_markets()
    bob_core.load_markets()

    order = alice_a.create_order("BTC/USDT", "limit", "buy", 0.5, 30000)
    assert order["status"] == "open"
    # Read-your-writes through the other gateway and through the core.
    seen = alice_b.fetch_order(order["id"], "BTC/USDT")
    assert (seen["id"], seen["status"], seen["amount"]) == (order["id"], "open", 0.5)
    assert [o["id"] for o in alice_b.fetch_open_orders("BTC/USDT")] == [order["id"]]
    assert alice_b.fetch_balance()["USDT"]["used"] == pytest.approx(15000)

    # Bob (through the core) sells into it; both gateways show the trade and the same book.
    bob_core.create_order("BTC/USDT", "limit", "sell", 0.2, 30000)
    trades = alice_b.fetch_my_trades("BTC/USDT")
    assert [(t["side"], t["amount"], t["price"]) for t in trades] == [("buy", 0.2, 30000)]

    def same_everywhere() -> list[Any]:
        answers = [
            get(url, path)[2]
            for path in ("/api/v3/depth?symbol=BTCUSDT", "/api/v3/trades?symbol=BTCUSDT")
            for url in (*deployment.urls, deployment.core.url)
        ]
        depths, trades = answers[:3], answers[3:]
        assert depths[0] == depths[1] == depths[2], depths
        assert trades[0] == trades[1] == trades[2], trades
        return depths

    depth = eventually(same_everywhere)[0]
    assert depth["bids"] == [["30000.00000000", "0.30000000"]]

    alice_b.cancel_order(order["id"], "BTC/USDT")
    assert alice_a.fetch_order(order["id"], "BTC/USDT")["status"] == "canceled"


def test_rejections_and_bad_signatures_come_back_in_binance_form(deployment: Deployment) -> None:
    import ccxt

    alice = client(at(deployment.core, deployment.urls[0]), "alice@api.test")
    alice.load_markets()
    with pytest.raises(ccxt.InsufficientFunds):
        alice.create_order("BTC/USDT", "limit", "buy", 100, 30000)
    with pytest.raises(ccxt.OrderNotFound):
        alice.fetch_order("999999", "BTC/USDT")
    forged = client(at(deployment.core, deployment.urls[1]), "alice@api.test")
    forged.load_markets()
    forged.secret = "x" * 64
    with pytest.raises(ccxt.AuthenticationError):
        forged.fetch_balance()


def test_rate_limit_counters_are_shared_by_the_gateways(deployment: Deployment) -> None:
    a, b = deployment.urls
    _, headers_a, _ = get(a, "/api/v3/depth?symbol=ETHUSDT")  # weight 5
    _, headers_b, _ = get(b, "/api/v3/depth?symbol=ETHUSDT")
    used_a, used_b = int(headers_a["x-mbx-used-weight-1m"]), int(headers_b["x-mbx-used-weight-1m"])
    # Same client address, same minute (unless the minute turned in between): b counts a's.
    assert used_b == used_a + 5 or used_b == 5


def test_a_listen_key_made_on_one_gateway_streams_on_another(deployment: Deployment) -> None:
    a, b = deployment.urls
    key = deployment.core.keys["bob@api.test"]
    req = urllib.request.Request(
        f"{a}/api/v3/userDataStream", method="POST", headers={"X-MBX-APIKEY": key["api_key"]}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        listen_key = json.loads(resp.read())["listenKey"]
    bob = client(at(deployment.core, a), "bob@api.test")
    bob.load_markets()

    alice = client(at(deployment.core, b), "alice@api.test")
    alice.load_markets()

    async def scenario() -> list[dict[str, Any]]:
        ws_url = b.replace("http://", "ws://") + f"/ws/{listen_key}"
        reports = []
        async with websockets.connect(ws_url) as ws:
            await asyncio.to_thread(bob.create_order, "ETH/USDT", "limit", "buy", 1, 1000)
            await asyncio.to_thread(alice.create_order, "ETH/USDT", "limit", "sell", 0.5, 1000)
            while len(reports) < 2:
                event = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if event["e"] == "executionReport":
                    reports.append(event)
        return reports

    new, trade = asyncio.run(scenario())
    assert (new["s"], new["S"], new["X"]) == ("ETHUSDT", "BUY", "NEW")
    # The replica began with no assets at all: the fee is still in the asset's own format.
    assert (trade["x"], trade["X"], trade["l"]) == ("TRADE", "PARTIALLY_FILLED", "0.50000000")
    assert (trade["N"], trade["n"]) == ("ETH", "0.000500000000000000")


def test_a_login_on_one_gateway_is_a_session_on_all(deployment: Deployment) -> None:
    import httpx

    a, b = deployment.urls
    creds = {"email": "carol@gw.test", "password": "a long password"}
    with httpx.Client(base_url=a) as on_a, httpx.Client(base_url=b) as on_b:
        assert on_a.post("/api/rialto/signup", json=creds).status_code == 201
        on_b.cookies = on_a.cookies
        assert on_b.get("/api/rialto/session").json()["user"]["email"] == "carol@gw.test"
        assert on_b.post("/api/rialto/logout", json={}).status_code == 200
        assert on_a.get("/api/rialto/session").json() == {"user": None}
        # Failed logins count on every gateway: the sixth is refused wherever it goes.
        wrong = {"email": "carol@gw.test", "password": "not the password"}
        codes = [(on_a if i % 2 else on_b).post("/api/rialto/login", json=wrong).status_code
                 for i in range(6)]  # fmt: skip
        assert codes == [401] * 5 + [429]
        assert on_a.post("/api/rialto/login", json=creds).status_code == 429


def test_a_gateway_that_starts_later_catches_up_and_the_core_restarts_under_it(
    deployment: Deployment,
) -> None:
    proc, url = launch_gateway(deployment.core, deployment.nats.url, deployment.db, REDIS,
                               deployment.env)  # fmt: skip
    try:
        assert (
            get(url, "/api/v3/depth?symbol=BTCUSDT")[2]
            == get(deployment.urls[0], "/api/v3/depth?symbol=BTCUSDT")[2]
        )
        # kill -9 the core: the gateways answer writes with Binance's "unknown" error (503)...
        deployment.core.proc.send_signal(signal.SIGKILL)
        deployment.core.proc.wait(10)
        alice = client(at(deployment.core, url), "alice@api.test", timeout=30_000)
        alice.load_markets()
        import ccxt

        with pytest.raises(ccxt.OperationFailed, match="-1000"):
            alice.create_order("ETH/USDT", "limit", "sell", 1, 9000)
        # ...and once it is back (same data directory), they carry on.
        restarted = start_again(deployment)
        order = alice.create_order("ETH/USDT", "limit", "sell", 1, 9000)
        assert alice.fetch_order(order["id"], "ETH/USDT")["status"] == "open"
        assert restarted.proc.poll() is None
    finally:
        halt(proc)


def start_again(d: Deployment) -> Rialto:
    from rialto.runtime.local_exchange import RIALTO, launch

    up = [*RIALTO, "up", "--bus", d.nats.url, "--db", d.db, "--redis", REDIS]
    proc, url = launch(d.core.data_dir, up, d.env)
    d.core = Rialto(url, d.core.data_dir, proc, d.core.keys)
    return d.core
