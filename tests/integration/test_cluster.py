"""The distributed deployment on real processes and a private NATS JetStream server.

Members are ``rialto serve accounts matching`` processes. The failover test kills the
owner of the busiest shard; the crash test kills members at random moments. Both then
check that every answered request was applied exactly once, that each owner's state
hash equals a clean replay of its journal, and that funds are conserved.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_load import DEPOSITS, Ledger, setup, worker
from nats_server import VERSIONS, private_server, run

from rialto.adapters.nats import connect
from rialto.adapters.nats.local_server import LocalNatsServer
from rialto.domain import requests as req
from rialto.domain.postings import AccountKind
from rialto.domain.shards import AccountsShard
from rialto.runtime.cluster import ClusterClient, fixed_shards
from rialto.runtime.local_cluster import LocalCluster, audit, owner_of, wait_owned, wait_quiet

USERS = 24


@pytest.fixture(params=VERSIONS)
def nats_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LocalNatsServer]:
    """A server of each version per test: each test starts from empty streams."""
    server = private_server(str(request.param), tmp_path)
    try:
        yield server
    finally:
        server.stop()


async def _check(client: ClusterClient, ledger: Ledger, users: list[int]) -> None:
    conn = client.conn
    states = await wait_quiet(client)
    shards = sorted(states)
    replayed = await audit(conn, shards)
    for name in shards:
        assert replayed.shards[name].state_hash() == states[name]["hash"], name
    counts = replayed.caller_rids
    assert max(counts.values()) == 1, [r for r, n in counts.items() if n > 1][:5]
    missing = [rid for rid in ledger.acked if counts[rid] != 1]
    assert not missing, f"{len(missing)} acknowledged requests not in any journal"
    assert not [rid for rid in ledger.refused if counts[rid]], "a refused request was journaled"
    # Conservation: across shards every asset's books balance (clearing nets to zero).
    totals: dict[str, int] = {}
    for shard in replayed.shards.values():
        if isinstance(shard, AccountsShard):
            for asset, v in shard.accounts.totals().items():
                totals[asset] = totals.get(asset, 0) + v
    assert totals and all(v == 0 for v in totals.values()), totals
    # Cancel everything: no funds stay locked, and every deposit is still there.
    for u in users:
        for symbol in ("BTCUSDT", "ETHUSDT"):
            await client.submit(req.CancelAllOrders(u, symbol))
    await wait_quiet(client)
    held = {a: 0 for a in DEPOSITS}
    for u in users:
        shard = f"acct-{u % client.user_shards}"
        balances = (await client.query(shard, "balances", user_id=u))["balances"]
        for asset, (free, locked) in balances.items():
            assert int(locked) == 0, (u, asset, locked)
            held[asset] += int(free)
    for name in shards:
        shard = replayed.shards[name]
        if isinstance(shard, AccountsShard):
            for asset in DEPOSITS:
                held[asset] += shard.accounts.system_balance(AccountKind.FEES, asset)
    for asset, amount in DEPOSITS.items():
        clearing = sum(
            sh.accounts.system_balance(AccountKind.CLEARING, asset)
            for sh in replayed.shards.values()
            if isinstance(sh, AccountsShard)
        )
        assert held[asset] == amount * len(users), (
            asset,
            held[asset] - amount * len(users),
            clearing,
        )


async def _start(
    server: LocalNatsServer, tmp: Path, members: list[str]
) -> tuple[LocalCluster, ClusterClient]:
    cluster = LocalCluster(server.url, tmp / "cluster", user_shards=4, ttl=1.5)
    for m in members:
        cluster.start(m)
    conn = await connect(server.url)
    client = await ClusterClient.open(conn)
    await wait_owned(client, fixed_shards(4))
    return cluster, client


def _print_logs(cluster: LocalCluster) -> None:
    for log in sorted(cluster.data_dir.glob("*.log")):
        print(f"--- {log.name}\n{log.read_text(errors='replace')[-6000:]}")


def test_failover_of_a_busy_shard(nats_server: LocalNatsServer, tmp_path: Path) -> None:
    async def scenario() -> None:
        cluster, client = await _start(nats_server, tmp_path, ["m1", "m2", "m3"])
        try:
            users = await setup(client, USERS)
            await wait_owned(client, ["mkt-BTCUSDT", "mkt-ETHUSDT"])
            ledger, stop = Ledger(), asyncio.Event()
            workers = [
                asyncio.create_task(worker(client, users, ledger, stop, seed=k)) for k in range(16)
            ]
            await asyncio.sleep(3.0)
            victim = await owner_of(client.conn, "mkt-BTCUSDT")
            assert victim in cluster.procs
            before = len(ledger.acked)
            cluster.kill(victim)
            killed = time.monotonic()
            # A request sent after the kill can only be answered by the new owner.
            probe = req.CancelOrder(users[0], "BTCUSDT", 10**9)
            answer = await client.submit(probe, timeout=30.0, retry_after=0.25)
            takeover = time.monotonic() - killed
            assert answer["reject"]["code"] == -2011  # unknown order, from the shard itself
            await asyncio.sleep(3.0)
            stop.set()
            await asyncio.gather(*workers)
            new_owner = await owner_of(client.conn, "mkt-BTCUSDT")
            assert new_owner not in (None, victim)
            print(f"\ntakeover of mkt-BTCUSDT: {takeover:.2f} s; {len(ledger.acked)} acked")
            assert len(ledger.acked) > before
            await _check(client, ledger, users)
        except BaseException:
            _print_logs(cluster)
            raise
        finally:
            cluster.stop_all()  # first: the members must not outlive the test
            await client.close()
            await client.conn.close()

    run(scenario(), timeout=240)


def test_random_kills_lose_nothing(nats_server: LocalNatsServer, tmp_path: Path) -> None:
    async def scenario() -> None:
        names = ["m1", "m2", "m3"]
        cluster, client = await _start(nats_server, tmp_path, names)
        rng = random.Random(7)
        try:
            users = await setup(client, USERS)
            await wait_owned(client, ["mkt-BTCUSDT", "mkt-ETHUSDT"])
            ledger, stop = Ledger(), asyncio.Event()
            workers = [
                asyncio.create_task(worker(client, users, ledger, stop, seed=100 + k))
                for k in range(16)
            ]
            for _ in range(4):
                await asyncio.sleep(rng.uniform(0.5, 2.0))
                victim = rng.choice(sorted(cluster.procs))
                cluster.kill(victim)
                await asyncio.sleep(rng.uniform(0.2, 1.5))
                cluster.start(victim)  # restarts from its own snapshots and the journals
            await asyncio.sleep(4.0)
            stop.set()
            await asyncio.gather(*workers)
            await wait_owned(client, await client.all_shards())
            assert ledger.acked
            await _check(client, ledger, users)
        except BaseException:
            _print_logs(cluster)
            raise
        finally:
            cluster.stop_all()  # first: the members must not outlive the test
            await client.close()
            await client.conn.close()

    run(scenario(), timeout=300)
