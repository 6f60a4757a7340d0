"""The market maker on the demo markets: how fast it re-quotes after a fill, how tight and
how deep its books are.

A ``rialto up`` process on a fresh data directory holds the demo markets (BTCUSDT, ETHUSDT,
ETHBTC, as ``rialto up --demo`` lists them) and two funded users with HMAC keys: the maker and
a taker. The market maker runs in this process exactly as the demo runs it (its
configuration from ``rialto.marketmaker.demo``), as an API client through ccxt's async
binance class and the user data stream. The taker, a second ccxt client here, sends a small
market order every ``1 / --rate`` seconds (5/s), rotating over the markets and sides.

* ``requote_ms_p50`` / ``requote_ms_p99``: from a fill (the trade's time ``T`` on the
  exchange, in the execution report) to the bot's new quotes being live (every order of the
  re-quote answered by the exchange), for each re-quote a fill caused; same machine, so the
  same clock (``T`` is in whole ms).
* ``quoted_spread_bps``: per market, the median over the run of the best bid/ask spread of
  the public book, sampled every 100 ms.
* ``depth_within_1pct``: per market, the median over the same samples of the bid and ask
  quantity within 1% of the mid, valued in USDT (both sides together).

    .venv/bin/python bench/marketmaker.py [--quick] [--seconds S] [--rate R] [--dir DIR]

prints one JSON line. It works in a temporary directory under the current directory (or
``--dir``), removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from rialto.marketmaker.bot import MarketMaker
from rialto.marketmaker.demo import demo_config
from rialto.marketmaker.venue import binance_client
from rialto.runtime.admin import execute
from rialto.runtime.local_exchange import halt, launch
from rialto.runtime.node import Node
from rialto.runtime.up import DEMO_ASSETS, DEMO_MARKETS

FUNDS = {"BTC": "1000", "ETH": "20000", "USDT": "100000000"}
SPEC_KEYS = ("symbol", "base_asset", "quote_asset", "tick_size", "step_size", "min_notional")


async def prepare(data_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    node = await Node.open(data_dir)
    try:
        for symbol, decimals in DEMO_ASSETS:
            await execute(node, {"op": "assets.add", "symbol": symbol, "decimals": decimals})
        for ins, _ in DEMO_MARKETS:
            spec = {k: getattr(ins, k) for k in SPEC_KEYS}
            await execute(node, {"op": "markets.add", "spec": spec})
        hashed = PasswordHasher().hash("a long password")
        keys = []
        for email in ("maker@bench.test", "taker@bench.test"):
            await execute(node, {"op": "users.create", "email": email, "password_hash": hashed})
            for asset, amount in FUNDS.items():
                await execute(
                    node, {"op": "deposit", "email": email, "asset": asset, "amount": amount}
                )
            op = {"op": "apikeys.create", "email": email, "permissions": "read,trade"}
            keys.append(await execute(node, op))
    finally:
        await node.close()
    return keys[0], keys[1]


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return round(s[min(len(s) - 1, int(p * len(s)))], 2)


async def measure(url: str, maker: dict[str, Any], taker: dict[str, Any], args: Any) -> Any:
    prices = {ins.symbol: mid for ins, mid in DEMO_MARKETS}
    bot = MarketMaker(demo_config(url, maker["api_key"], maker["secret"], prices))
    await bot.start()
    client = binance_client(url, taker["api_key"], taker["secret"])
    pub = binance_client(url)
    await client.load_markets()
    symbols = list(prices)
    spreads: dict[str, list[float]] = {s: [] for s in symbols}
    depth: dict[str, list[float]] = {s: [] for s in symbols}
    stop = asyncio.Event()
    refused = 0

    async def trade() -> None:
        nonlocal refused
        i = 0
        while not stop.is_set():
            symbol = symbols[i % len(symbols)]
            m = client.markets_by_id[symbol][0]
            side = "buy" if (i // len(symbols)) % 2 == 0 else "sell"
            amount = {"BTCUSDT": 0.002, "ETHUSDT": 0.05, "ETHBTC": 0.05}[symbol]
            try:
                await client.create_order(m["symbol"], "market", side, amount)
            except Exception:
                refused += 1
            i += 1
            await asyncio.sleep(1 / args.rate)

    async def sample() -> None:
        while not stop.is_set():
            usdt = {p: Decimal(str(v)) for p, v in bot.prices().items()}
            for symbol in symbols:
                book = await pub.publicGetDepth({"symbol": symbol, "limit": 100})
                if not book["bids"] or not book["asks"]:
                    continue
                bid, ask = Decimal(book["bids"][0][0]), Decimal(book["asks"][0][0])
                mid = (bid + ask) / 2
                spreads[symbol].append(float((ask - bid) / mid * 10_000))
                lo, hi = mid * Decimal("0.99"), mid * Decimal("1.01")
                qty = sum(Decimal(q) for p, q in book["bids"] if Decimal(p) >= lo)
                qty += sum(Decimal(q) for p, q in book["asks"] if Decimal(p) <= hi)
                base = bot.rialto.specs[symbol].base
                depth[symbol].append(float(qty * usdt.get(base, Decimal(0))))
            await asyncio.sleep(0.1)

    await asyncio.sleep(1.0)  # warm-up: the first ladders go up
    bot.requote_ms.clear()
    cpu0 = _cpu()
    load0 = os.getloadavg()[0]  # the machine is shared: how busy it was
    t0 = time.monotonic()
    tasks = [asyncio.create_task(trade()), asyncio.create_task(sample())]
    await asyncio.sleep(args.seconds)
    stop.set()
    await asyncio.gather(*tasks)
    elapsed = time.monotonic() - t0
    cpu = round((_cpu() - cpu0) / elapsed * 100, 1)
    lat = list(bot.requote_ms)
    fills = bot.ledger.fills
    quotes = sum(r.quotes for r in bot.markets.values())
    rejects = sum(r.rejects for r in bot.markets.values())
    await client.close()
    await pub.close()
    await bot.stop()
    return {
        "requote_ms_p50": pct(lat, 0.5),
        "requote_ms_p99": pct(lat, 0.99),
        "requote_ms_max": pct(lat, 1.0),
        "requotes_after_fills": len(lat),
        "quoted_spread_bps": {
            s: round(statistics.median(v), 2) if v else None for s, v in spreads.items()
        },
        "depth_within_1pct": {
            s: round(statistics.median(v)) if v else None for s, v in depth.items()
        },
        "depth_unit": "USDT, bids and asks within 1% of the mid",
        "fills": fills,
        "orders_placed": quotes,
        "orders_refused": rejects,
        "taker_refused": refused,
        "seconds": round(elapsed, 1),
        "taker_rate_per_s": args.rate,
        "client_cpu_pct": cpu,
        "loadavg_1m": [round(load0, 2), round(os.getloadavg()[0], 2)],  # before, after
    }


def _run(coro: Any) -> Any:
    """On uvloop when it is there, as ``rialto serve marketmaker`` runs."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="a short run (8 s)")
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--rate", type=float, default=5.0, help="taker orders per second")
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()
    args.seconds = args.seconds or (8.0 if args.quick else 30.0)
    work = Path(tempfile.mkdtemp(prefix="bench-mm-", dir=args.dir or Path.cwd()))
    proc = None
    try:
        maker, taker = asyncio.run(prepare(work))
        proc, url = launch(work, env={"RIALTO_IP_WEIGHT_PER_MINUTE": "10000000"})
        result = _run(measure(url, maker, taker, args))
        result |= {"bench": "marketmaker", "python": platform.python_version(),
                   "cpus": os.cpu_count()}  # fmt: skip
        print(json.dumps(result), flush=True)
    finally:
        if proc is not None:
            halt(proc)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
