"""``rialto up``: the whole exchange in one process on the embedded adapters."""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher

from rialto.adapters.nats.connect import connect
from rialto.domain import requests as req
from rialto.domain.instruments import Instrument
from rialto.runtime import admin
from rialto.runtime.api_host import ApiHost
from rialto.runtime.breakers import BreakerClock
from rialto.runtime.keyring import SecretBox
from rialto.runtime.node import Node
from rialto.runtime.projection import SqlFeed
from rialto.runtime.replication import FeedPublisher
from rialto.runtime.shared_state import SharedState

DEMO_ASSETS = (("BTC", 8), ("ETH", 18), ("USDT", 6))
DEMO_MARKETS = (
    (Instrument("BTCUSDT", "BTC", "USDT", "0.01", "0.0001", min_notional="5"), "65000.00"),
    (Instrument("ETHUSDT", "ETH", "USDT", "0.01", "0.0001", min_notional="5"), "3200.00"),
    (Instrument("ETHBTC", "ETH", "BTC", "0.00001", "0.001", min_notional="0.0001"), "0.04900"),
)
DEMO_LOGIN = ("demo@rialto.local", "demo-password")
MAKER_EMAIL = "marketmaker@rialto.local"
TAKER_EMAILS = tuple(f"trader{i}@rialto.local" for i in range(1, 4))


@dataclass(frozen=True)
class Options:
    """``rialto up``'s settings (see ``rialto up --help``)."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8080
    demo: bool = False
    db: str | None = None  # the SQL read model; SQLite in the data directory by default
    bus: str | None = None  # NATS: publish the journal and take requests from gateways
    redis: str | None = None  # share rate-limit counters, listen keys, sessions


async def up(opts: Options) -> int:
    data_dir = opts.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    feed = SqlFeed(opts.db or f"sqlite:///{data_dir.resolve() / 'rialto.db'}")
    try:
        node = await Node.open(data_dir, emit_after=feed.checkpoint, emit=lambda o: feed.add([o]))
    except BaseException:
        await feed.close()
        raise
    node.subscribe(feed.add)
    feed.start()
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(feed.close)
        stack.push_async_callback(node.close)
        shared = await stack.enter_async_context(SharedState.open(opts.redis))
        if opts.bus is not None:
            conn = await connect(opts.bus, name="rialto-core")
            stack.push_async_callback(conn.close)
            publisher = FeedPublisher(conn, node)
            await publisher.start()
            stack.push_async_callback(publisher.close)
        api = ApiHost(node, feed, SecretBox.for_data_dir(data_dir), shared, opts.host, opts.port)
        await api.load_history(feed)
        await api.start()
        stack.push_async_callback(api.stop)
        server = await admin.serve(node, data_dir)

        async def close_admin() -> None:
            server.close()
            await server.wait_closed()
            (data_dir / admin.SOCKET_NAME).unlink(missing_ok=True)

        stack.push_async_callback(close_admin)
        breakers = BreakerClock(node)  # ends circuit-breaker halts on time, through the journal
        breakers.start()
        stack.push_async_callback(breakers.close)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        tasks: list[asyncio.Task[None]] = []
        try:
            print(
                f"rialto: data directory {data_dir.resolve()}, recovered to seq {node.durable_seq}"
            )
            if opts.bus is not None:
                print(
                    f"rialto: journal published on {opts.bus} for gateways (rialto serve gateway)"
                )
            if opts.demo:
                await seed_demo(node)
                local = "127.0.0.1" if opts.host in ("0.0.0.0", "::", "") else opts.host
                url = f"http://{local}:{opts.port}"
                tasks.append(asyncio.create_task(demo_liquidity(node, stop, url)))
                print(f"rialto: demo login {DEMO_LOGIN[0]} / {DEMO_LOGIN[1]}")
            print(
                f"rialto: running; the trading terminal is at http://{opts.host}:{opts.port}/ , "
                f"the Binance-compatible API at http://{opts.host}:{opts.port}/api/v3 . "
                "Operator commands: rialto --help. Ctrl-C stops.",
                flush=True,
            )
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    print(f"rialto: stopped cleanly at seq {node.exchange.last_seq}", flush=True)
    return 0


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


async def demo_liquidity(node: Node, stop: asyncio.Event, url: str) -> None:
    """The market-making service on the demo markets, as the demo maker through this node's
    own API, and a few traders (straight to the node) so that the markets move."""
    from rialto.marketmaker.bot import MarketMaker
    from rialto.marketmaker.demo import demo_config, maker_key, taker_flow

    ex = node.exchange
    takers = [u.user_id for e in TAKER_EMAILS if (u := ex.users.find(e)) is not None]
    prices = {}
    for ins, mid in DEMO_MARKETS:
        last = ex.engines[ins.symbol].last_price
        prices[ins.symbol] = ins.format_price(last) if last else mid
    key, secret = await maker_key(node, MAKER_EMAIL)
    bot = MarketMaker(demo_config(url, key, secret, prices))
    try:
        await bot.start()
    except Exception as exc:  # the demo goes on without liquidity rather than stop
        print(f"rialto: the demo market maker did not start: {exc!r}", flush=True)
        await bot.stop()
        return
    flow = asyncio.create_task(taker_flow(node, takers, list(prices), stop))
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 5.0)
            _summary(node)
    finally:
        flow.cancel()
        await asyncio.gather(flow, return_exceptions=True)
        await bot.stop()


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
