"""``rialto up``: the whole exchange in one process on the embedded adapters."""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import sys
from pathlib import Path

from argon2 import PasswordHasher

from rialto.api.gateway import Gateway, now_ms
from rialto.api.rest import create_app
from rialto.api.server import HttpServer
from rialto.api.userdata import UserData
from rialto.api.ws import Hub
from rialto.domain import requests as req
from rialto.domain.instruments import Instrument
from rialto.domain.orders import OrderType, SelfTradePrevention, Side, TimeInForce
from rialto.domain.users import User
from rialto.marketdata import MarketData
from rialto.runtime import admin
from rialto.runtime.keyring import SecretBox
from rialto.runtime.node import Node, NodeStopped
from rialto.runtime.projection import SqlFeed

DEMO_ASSETS = (("BTC", 8), ("ETH", 18), ("USDT", 6))
DEMO_MARKETS = (
    (Instrument("BTCUSDT", "BTC", "USDT", "0.01", "0.0001", min_notional="5"), "65000.00"),
    (Instrument("ETHUSDT", "ETH", "USDT", "0.01", "0.0001", min_notional="5"), "3200.00"),
    (Instrument("ETHBTC", "ETH", "BTC", "0.00001", "0.001", min_notional="0.0001"), "0.04900"),
)
DEMO_LOGIN = ("demo@rialto.local", "demo-password")
MAKER_EMAIL = "marketmaker@rialto.local"
TAKER_EMAILS = tuple(f"trader{i}@rialto.local" for i in range(1, 4))


async def up(data_dir: Path, host: str, port: int, demo: bool) -> int:
    data_dir.mkdir(parents=True, exist_ok=True)
    feed = SqlFeed(f"sqlite:///{data_dir.resolve() / 'rialto.db'}")
    try:
        node = await Node.open(data_dir, emit_after=feed.checkpoint, emit=lambda o: feed.add([o]))
    except BaseException:
        await feed.close()
        raise
    node.subscribe(feed.add)
    feed.start()
    market = seed_market_data(node)
    gateway = Gateway(node, feed, market, SecretBox.for_data_dir(data_dir))
    userdata = UserData(node.exchange, gateway.instrument, now_ms)
    hub = Hub(
        market, gateway.instrument, lambda: set(node.exchange.engines), userdata, gateway.keys
    )
    node.subscribe(hub.on_outcomes)
    http = HttpServer(create_app(gateway, hub), host, port)
    try:
        await http.start()
    except BaseException:
        await node.close()
        await feed.close()
        raise
    server = await admin.serve(node, data_dir)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks: list[asyncio.Task[None]] = [asyncio.create_task(hub.run(), name="streams")]
    try:
        print(f"rialto: data directory {data_dir.resolve()}, recovered to seq {node.durable_seq}")
        if demo:
            await seed_demo(node)
            tasks.append(asyncio.create_task(demo_liquidity(node, stop)))
            print(f"rialto: demo login {DEMO_LOGIN[0]} / {DEMO_LOGIN[1]}")
        print(
            f"rialto: running; the Binance-compatible API is at http://{host}:{port}/api/v3 . "
            "Operator commands: rialto --help. Ctrl-C stops.",
            flush=True,
        )
        await stop.wait()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await http.stop()
        server.close()
        await server.wait_closed()
        (data_dir / admin.SOCKET_NAME).unlink(missing_ok=True)
        await node.close()
        await feed.close()
        print(f"rialto: stopped cleanly at seq {node.exchange.last_seq}", flush=True)
    return 0


def seed_market_data(node: Node) -> MarketData:
    """The market-data read model, seeded with the books as recovered."""
    market = MarketData()
    for symbol, engine in node.exchange.engines.items():
        update_id, bids, asks = engine.depth(None)
        market.add_market(symbol, update_id, bids, asks, engine.last_price or 0, engine.status)
    market.last_seq = node.durable_seq
    return market


async def seed_demo(node: Node) -> None:
    """Demo assets, markets and users with funds; does nothing that already exists."""
    ex = node.exchange
    for symbol, decimals in DEMO_ASSETS:
        if symbol not in ex.accounts[0].assets:
            await node.submit(req.AddAsset(symbol, decimals))
    for instrument, _ in DEMO_MARKETS:
        if instrument.symbol not in ex.engines:
            await node.submit(req.AddMarket.of(instrument))
    hasher = PasswordHasher()
    funds = {"BTC": "50", "ETH": "1000", "USDT": "5000000"}
    for email, password in (
        DEMO_LOGIN,
        (MAKER_EMAIL, None),
        *((e, None) for e in TAKER_EMAILS),
    ):
        if ex.users.find(email) is not None:
            continue
        secret = password or f"{random.getrandbits(128):032x}"
        out = await node.submit(req.CreateUser(email, hasher.hash(secret)))
        scale = 20 if email == MAKER_EMAIL else 1
        for asset, amount in funds.items():
            units = ex.accounts[0].assets[asset].parse(amount) * scale
            await node.submit(req.Deposit(out.user_id, asset, units))


async def demo_liquidity(node: Node, stop: asyncio.Event) -> None:
    """A simple quoting bot and a few traders so the demo markets move.

    The market-making service replaces this with its own strategies.
    """
    rng = random.Random()
    ex = node.exchange
    maker = ex.users.find(MAKER_EMAIL)
    takers = [u for e in TAKER_EMAILS if (u := ex.users.find(e)) is not None]
    if maker is None or not takers:
        return
    mids = {ins.symbol: ins.price_ticks(mid) for ins, mid in DEMO_MARKETS}
    for symbol in mids:
        last = ex.engines[symbol].last_price
        if last:
            mids[symbol] = last
    rounds = 0
    try:
        while not stop.is_set():
            for instrument, _ in DEMO_MARKETS:
                await _quote(node, rng, instrument, mids, maker.user_id, takers)
            rounds += 1
            if rounds % 10 == 0:
                _summary(node)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
    except NodeStopped:
        return


async def _quote(
    node: Node,
    rng: random.Random,
    ins: Instrument,
    mids: dict[str, int],
    maker: int,
    takers: list[User],
) -> None:
    symbol = ins.symbol
    mid = max(100, mids[symbol] + round(rng.gauss(0, mids[symbol] * 0.0005)))
    mids[symbol] = mid
    step = max(1, mid // 4000)
    lots = max(ins.min_lots, (ins.min_notional_units * 2) // mid + 1)
    if node.exchange.engines[symbol].open_orders(maker):
        await node.submit(req.CancelAllOrders(maker, symbol))
    for i in range(1, 6):
        for side, price in ((Side.BUY, mid - i * step), (Side.SELL, mid + i * step)):
            await node.submit(
                req.NewOrder(
                    maker,
                    symbol,
                    side,
                    OrderType.LIMIT,
                    qty=lots * rng.randint(1, 4) * i,
                    price=price,
                    stp=SelfTradePrevention.EXPIRE_MAKER,
                )
            )
    for _ in range(rng.randint(0, 2)):
        taker = rng.choice(takers)
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        await node.submit(
            req.NewOrder(
                taker.user_id,
                symbol,
                side,
                OrderType.LIMIT,
                qty=lots * rng.randint(1, 3),
                price=mid + 2 * step if side is Side.BUY else mid - 2 * step,
                tif=TimeInForce.IOC,
            )
        )


def _summary(node: Node) -> None:
    parts = []
    for symbol, engine in sorted(node.exchange.engines.items()):
        ins = engine.instrument
        bid, ask = engine.bids.best(), engine.asks.best()
        parts.append(
            f"{symbol} {ins.format_price(bid) if bid else '-'}/"
            f"{ins.format_price(ask) if ask else '-'}"
        )
    print(f"rialto: seq {node.durable_seq}  " + "  ".join(parts), file=sys.stdout, flush=True)
