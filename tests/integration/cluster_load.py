"""Load for a distributed cluster: many users placing, amending and cancelling orders."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any

from rialto.domain import requests as req
from rialto.domain.instruments import Instrument
from rialto.domain.orders import OrderType, Side, TimeInForce
from rialto.runtime.cluster import ClusterClient, ClusterError

MARKETS = (
    Instrument("BTCUSDT", "BTC", "USDT", "0.01", "0.0001", min_notional="5"),
    Instrument("ETHUSDT", "ETH", "USDT", "0.01", "0.0001", min_notional="5"),
)
MID = {"BTCUSDT": 6_500_000, "ETHUSDT": 320_000}  # ticks
DEPOSITS = {"BTC": 10 * 10**8, "ETH": 100 * 10**18, "USDT": 10_000_000 * 10**6}


@dataclass
class Ledger:
    """What the load saw: answered request ids, and when each shard answered."""

    acked: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)
    unknown: int = 0
    answers: list[tuple[float, str]] = field(default_factory=list)  # (monotonic, shard)
    open_orders: dict[tuple[int, str], list[int]] = field(default_factory=dict)


async def setup(client: ClusterClient, users: int) -> list[int]:
    for asset, decimals in (("BTC", 8), ("ETH", 18), ("USDT", 6)):
        await client.submit(req.AddAsset(asset, decimals))
    for ins in MARKETS:
        await client.submit(req.AddMarket.of(ins))
    ids = []
    for k in range(users):
        answer = await client.submit(req.CreateUser(f"u{k}@load.test", "x"))
        ids.append(int(answer["user_id"]))
    await asyncio.gather(
        *(
            client.submit(req.Deposit(u, asset, amount))
            for u in ids
            for asset, amount in DEPOSITS.items()
        )
    )
    return ids


def _request(rng: random.Random, user: int, ledger: Ledger) -> req.Request:
    symbol = rng.choice(MARKETS).symbol
    mine = ledger.open_orders.get((user, symbol), [])
    roll = rng.random()
    if mine and roll < 0.25:
        return req.CancelOrder(user, symbol, mine.pop(rng.randrange(len(mine))))
    if mine and roll < 0.35:
        return req.AmendOrder(user, symbol, rng.choice(mine), 0, rng.randint(1, 50))
    side = rng.choice((Side.BUY, Side.SELL))
    offset = rng.randint(-40, 40) * (1 if side is Side.SELL else -1)
    tif = TimeInForce.IOC if rng.random() < 0.2 else TimeInForce.GTC
    return req.NewOrder(
        user, symbol, side, OrderType.LIMIT, rng.randint(10, 200), MID[symbol] + offset, tif
    )


async def worker(
    client: ClusterClient,
    users: list[int],
    ledger: Ledger,
    stop: asyncio.Event,
    seed: int,
) -> None:
    rng = random.Random(seed)
    while not stop.is_set():
        user = rng.choice(users)
        r = _request(rng, user, ledger)
        shard = client.route(r)[0]
        try:
            answer: dict[str, Any] = await client.submit(r, timeout=30.0, retry_after=2.0)
        except ClusterError:
            ledger.unknown += 1
            continue
        ledger.answers.append((time.monotonic(), answer.get("shard", shard)))
        if "error" in answer:
            ledger.refused.add(str(answer["rid"]))
            continue
        ledger.acked.add(str(answer["rid"]))
        if isinstance(r, req.NewOrder) and answer.get("order_id") and "reject" not in answer:
            final = any(
                e.get("type") == "OrderUpdate"
                and e.get("order_id") == answer["order_id"]
                and e.get("status") in ("FILLED", "CANCELED", "EXPIRED", "EXPIRED_IN_MATCH")
                for e in answer["events"]
            )
            if not final:
                ledger.open_orders.setdefault((user, r.symbol), []).append(answer["order_id"])
