"""The circuit breaker in the distributed deployment: the market shard's owner resumes the
market when the cooling period is over, through its own journal."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from cluster_load import MID, setup
from nats_server import private_server

from rialto.adapters.nats import connect
from rialto.domain import requests as req
from rialto.domain.orders import OrderType, Side
from rialto.runtime.cluster import ClusterClient, fixed_shards
from rialto.runtime.local_cluster import LocalCluster, audit, wait_owned, wait_quiet

SHARD = "mkt-BTCUSDT"


def test_a_tripped_market_resumes_after_cooling_and_replays_alike(tmp_path: Path) -> None:
    server = private_server("2.15", tmp_path)
    cluster = LocalCluster(server.url, tmp_path / "cluster", user_shards=4, ttl=1.5)

    async def scenario() -> None:
        cluster.start("m1")
        conn = await connect(server.url)
        client = await ClusterClient.open(conn)
        try:
            await wait_owned(client, fixed_shards(4))
            seller, buyer = await setup(client, 2)
            await wait_owned(client, [SHARD])
            # 5% within a minute halts BTCUSDT for 1.5 s.
            await client.submit(req.SetMarketRisk("BTCUSDT", 0, 500, 60_000, 1_500))
            for price in (MID["BTCUSDT"], MID["BTCUSDT"] * 110 // 100):  # +10%
                sell = req.NewOrder(seller, "BTCUSDT", Side.SELL, OrderType.LIMIT, 100, price)
                buy = req.NewOrder(buyer, "BTCUSDT", Side.BUY, OrderType.LIMIT, 100, price)
                await client.submit(sell)
                await client.submit(buy)
            halted = await client.query(SHARD, "market")
            assert halted["status"] == "BREAK", halted
            tripped = time.monotonic()
            while (await client.query(SHARD, "market"))["status"] == "BREAK":
                assert time.monotonic() - tripped < 10, "the market never resumed"
                await asyncio.sleep(0.1)
            assert time.monotonic() - tripped >= 1.0  # not before the cooling period
            states = await wait_quiet(client)
            replayed = await audit(conn, sorted(states))
            assert replayed.shards[SHARD].state_hash() == states[SHARD]["hash"]
        finally:
            await conn.close()

    try:
        asyncio.run(scenario())
    finally:
        cluster.stop_all()
        server.stop()
