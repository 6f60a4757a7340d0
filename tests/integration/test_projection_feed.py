"""The running node feeds the SQL read model, and a read model that is behind catches up."""

from __future__ import annotations

import asyncio
from pathlib import Path

from rialto.domain import requests as req
from rialto.domain.instruments import Instrument
from rialto.domain.orders import OrderType, Side, TimeInForce
from rialto.runtime.node import Node
from rialto.runtime.projection import SqlFeed

MARKET = Instrument("BTCUSDT", "BTC", "USDT", "0.01", "0.0001")


async def _trade(node: Node, rounds: int) -> None:
    for i in range(rounds):
        await node.submit(req.NewOrder(1, "BTCUSDT", Side.SELL, OrderType.LIMIT, 2, 100_000 + i))
        await node.submit(
            req.NewOrder(2, "BTCUSDT", Side.BUY, OrderType.LIMIT, 2, 100_000 + i, TimeInForce.IOC)
        )


async def _run(data_dir: Path, db: Path, rounds: int, setup: bool) -> tuple[int, int]:
    feed = SqlFeed(f"sqlite:///{db}")
    node = await Node.open(data_dir, emit_after=feed.checkpoint, emit=lambda o: feed.add([o]))
    node.subscribe(feed.add)
    feed.start()
    if setup:
        for r in (
            req.AddAsset("BTC", 8),
            req.AddAsset("USDT", 6),
            req.AddMarket.of(MARKET),
            req.Deposit(1, "BTC", 10**10),
            req.Deposit(2, "USDT", 10**12),
        ):
            await node.submit(r)
    await _trade(node, rounds)
    await node.close()
    await feed.close()
    trades = node.exchange.engines["BTCUSDT"].next_trade_id - 1
    return trades, node.exchange.last_seq


def _rows(db: Path) -> tuple[int, int, int]:
    feed = SqlFeed(f"sqlite:///{db}")
    try:
        store = feed.store
        return store.count("trades"), store.count("orders"), feed.checkpoint
    finally:
        feed.store.close()


def test_outcomes_reach_the_read_model_and_a_lost_one_is_rebuilt(tmp_path: Path) -> None:
    db = tmp_path / "read.db"
    trades, last = asyncio.run(_run(tmp_path / "data", db, 40, setup=True))
    assert trades == 40
    assert _rows(db) == (40, 80, last)
    # Lose the read model entirely: the next start replays the journal into a new one.
    db.unlink()
    trades, last = asyncio.run(_run(tmp_path / "data", db, 5, setup=False))
    assert trades == 45
    assert _rows(db) == (45, 90, last)


def test_balances_in_the_read_model_match_the_accounts(tmp_path: Path) -> None:
    db = tmp_path / "read.db"
    asyncio.run(_run(tmp_path / "data", db, 10, setup=True))

    async def state() -> dict[tuple[int, str], tuple[int, int]]:
        node = await Node.open(tmp_path / "data")
        try:
            acc = node.exchange.shard(1)
            return {(u, a): acc.balance(u, a) for u in (1, 2) for a in ("BTC", "USDT")}
        finally:
            await node.close()

    want = asyncio.run(state())
    feed = SqlFeed(f"sqlite:///{db}")
    try:
        for (user, asset), (free, locked) in want.items():
            rows = {(b.account, b.asset): b.amount for b in feed.store.balances(user)}
            assert rows.get(("free", asset), 0) == free
            assert rows.get(("locked", asset), 0) == locked
    finally:
        feed.store.close()
