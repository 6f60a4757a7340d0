"""The whole embedded pipeline: hold -> match -> settle -> durable, and recovery of its journal.

An embedded :class:`~rialto.runtime.node.Node` on a data directory: set-up (two assets, the market
BTCUSDT, 1,000 users each depositing BTC and USDT), then ``--clients`` concurrent asyncio clients
(256) each awaiting ``node.submit`` for one request at a time, until the journal holds
``--requests`` requests (1,000,000; ``--quick`` 100,000). Each client trades for its own users
(user ``u`` belongs to client ``(u - 1) % clients``):

- 60% limit GTC on the client's side of the mid, 1..20 ticks away (a resting order);
- 15% limit IOC crossing the mid by 0..10 ticks (a taker: trades, settles both sides, releases);
- 25% cancel of one of the client's own open orders (a GTC instead when it has none); a client
  with more than 8 open orders cancels instead of placing.

A client learns which of its orders are still open from the node's book (``engine.orders``), the
embedded shortcut for what a real client reads from its order events.

``orders_per_s`` is requests per second over the measured run (every request is an order or a
cancel); ``p50_ms``/``p99_ms``/``p999_ms`` are the latency of one ``submit``, from the call to the
durable outcome (journal fsynced: the node's group commit). Then ``recovery_s``: the node is closed
(a clean close snapshots) and ``Node.open`` is timed on the journal (the journal scan, the newest
snapshot checked by replay from the one before it, and the tail); ``recovery_full_replay_s``: the
same after deleting every snapshot, a full replay from genesis. Both must end on the state hash the
node had at close.

    .venv/bin/python bench/pipeline.py [--quick] [--requests N] [--clients C] [--dir DIR]
                                       [--no-jetstream]

prints one JSON line. ``jetstream`` holds the same path on NATS JetStream, from
``bench/_cluster.py`` (three ``rialto serve`` members on a private NATS 2.15, failovers
measured; see its docstring), and ``failover_s`` its slowest takeover.

Without ``--dir`` it works in a temporary directory under the current
directory (not /tmp, which may be a RAM disk where fsync costs nothing), removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from rialto.domain import requests as req
from rialto.domain.events import Trade
from rialto.domain.instruments import Instrument
from rialto.domain.orders import OrderType, Side, TimeInForce
from rialto.runtime.node import Node

SYMBOL = "BTCUSDT"
INSTRUMENT = Instrument(SYMBOL, "BTC", "USDT", "0.01", "0.0001")
MID = 6_500_000  # 65,000.00 in ticks
USERS = 1_000
MAX_OPEN = 8  # per client
FUNDS = {"BTC": 1_000 * 10**8, "USDT": 100_000_000 * 10**6}  # minor units per user


def percentile(sorted_values: Sequence[float], p: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(p * len(sorted_values)))]


async def set_up(node: Node) -> int:
    """Assets, the market and every user's deposits; returns the number of requests."""
    setup: list[req.Request] = [
        req.AddAsset("BTC", 8),
        req.AddAsset("USDT", 6),
        req.AddMarket.of(INSTRUMENT),
    ]
    for r in setup:
        await node.submit(r)
    deposits = [req.Deposit(u, a, n) for u in range(1, USERS + 1) for a, n in FUNDS.items()]
    for out in await asyncio.gather(*(node.submit(d) for d in deposits)):
        assert out.reject is None, out
    return len(setup) + len(deposits)


class Drive:
    """``clients`` concurrent clients sending the mix until ``total`` requests are issued."""

    def __init__(self, node: Node, clients: int, total: int, seed: int) -> None:
        self.node = node
        self.clients = clients
        self.total = total
        self.seed = seed
        self.issued = 0
        self.latencies_ns: list[int] = []
        self.kinds: Counter[str] = Counter()
        self.rejects: Counter[str] = Counter()
        self.trades = 0

    async def client(self, c: int) -> None:
        rng = random.Random(f"{self.seed}:{c}")
        users = list(range(c + 1, USERS + 1, self.clients))
        engine = self.node.exchange.engines[SYMBOL]
        mine: list[tuple[int, int]] = []  # (user, order id) of GTC orders placed
        submit = self.node.submit
        latencies = self.latencies_ns
        clock = time.perf_counter_ns
        while self.issued < self.total:
            self.issued += 1
            mine = [m for m in mine if m[1] in engine.orders]
            x = rng.random()
            if mine and (x < 0.25 or len(mine) > MAX_OPEN):
                user, oid = mine.pop(rng.randrange(len(mine)))
                r: req.Request = req.CancelOrder(user, SYMBOL, oid)
                kind = "cancel"
            else:
                user = rng.choice(users)
                side = Side.BUY if rng.random() < 0.5 else Side.SELL
                away = -1 if side is Side.BUY else 1
                qty = rng.randint(1, 100)
                if x < 0.85:
                    price = MID + away * rng.randint(1, 20)
                    r = req.NewOrder(user, SYMBOL, side, OrderType.LIMIT, qty, price)
                    kind = "limit_gtc"
                else:
                    price = MID - away * rng.randint(0, 10)
                    r = req.NewOrder(
                        user, SYMBOL, side, OrderType.LIMIT, qty, price, TimeInForce.IOC
                    )
                    kind = "limit_ioc"
            t0 = clock()
            out = await submit(r)
            latencies.append(clock() - t0)
            self.kinds[kind] += 1
            if out.reject is not None:
                self.rejects[out.reject.value] += 1
            elif kind == "limit_gtc" and out.order_id in engine.orders:
                mine.append((user, out.order_id))
            if kind == "limit_ioc":
                self.trades += sum(1 for e in out.events if type(e) is Trade)

    async def run(self) -> float:
        t0 = time.perf_counter()
        await asyncio.gather(*(self.client(c) for c in range(self.clients)))
        return time.perf_counter() - t0


async def load_phase(data_dir: Path, requests: int, clients: int) -> dict[str, Any]:
    node = await Node.open(data_dir)
    setup = await set_up(node)
    drive = Drive(node, clients, requests - setup, seed=1)
    gc.collect()
    elapsed = await drive.run()
    commits0 = node.journal.commit_count
    await node.close()
    lat = sorted(drive.latencies_ns)
    n = len(lat)
    return {
        "orders": n,
        "elapsed_s": round(elapsed, 3),
        "orders_per_s": round(n / elapsed),
        "p50_ms": round(percentile(lat, 0.50) / 1e6, 3),
        "p99_ms": round(percentile(lat, 0.99) / 1e6, 3),
        "p999_ms": round(percentile(lat, 0.999) / 1e6, 3),
        "max_ms": round(lat[-1] / 1e6, 3),
        "mix": dict(drive.kinds),
        "rejects": dict(drive.rejects),
        "trades": drive.trades,
        "open_orders_at_end": len(node.exchange.engines[SYMBOL].orders),
        "setup_requests": setup,
        "journal_commits": commits0,
        "requests_per_commit": round(node.exchange.last_seq / max(commits0, 1), 1),
        "last_seq": node.exchange.last_seq,
        "state_hash": node.exchange.state_hash(),
    }


def fdatasync_ms(directory: Path, n: int = 100) -> float:
    """The disk's median latency of appending 16 KiB and ``fdatasync`` (what a commit waits for)."""
    path = directory / "fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    times: list[float] = []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            os.write(fd, b"x" * 16384)
            os.fdatasync(fd)
            times.append(time.perf_counter() - t0)
    finally:
        os.close(fd)
        path.unlink()
    return round(percentile(sorted(times), 0.5) * 1000, 3)


async def time_open(data_dir: Path) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    node = await Node.open(data_dir)
    elapsed = time.perf_counter() - t0
    last, state = node.exchange.last_seq, node.exchange.state_hash()
    await node.close()
    return elapsed, last, state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a journal of 100,000 requests")
    parser.add_argument("--requests", type=int, default=None, help="journal size (1,000,000)")
    parser.add_argument("--clients", type=int, default=256)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument(
        "--no-jetstream", action="store_true", help="skip the JetStream run (bench/_cluster.py)"
    )
    args = parser.parse_args()
    if not 1 <= args.clients <= USERS:
        parser.error(f"--clients must be between 1 and {USERS} (each client trades for its users)")
    requests = args.requests or (100_000 if args.quick else 1_000_000)
    base = Path(tempfile.mkdtemp(prefix=".bench-pipeline-", dir=args.dir or Path.cwd()))
    data_dir = base / "data"
    try:
        fsync_before = fdatasync_ms(base)
        load = asyncio.run(load_phase(data_dir, requests, args.clients))
        fsync_after = fdatasync_ms(base)
        snaps = sorted(p.name for p in (data_dir / "snapshots").rglob("*.snap"))
        journal_bytes = sum(p.stat().st_size for p in (data_dir / "journal").glob("*.seg"))
        recovery_s, last, state = asyncio.run(time_open(data_dir))
        if (last, state) != (load["last_seq"], load["state_hash"]):
            raise AssertionError(f"recovered {last} {state}, closed at {load['last_seq']}")
        shutil.rmtree(data_dir / "snapshots")
        full_s, last, state = asyncio.run(time_open(data_dir))
        if (last, state) != (load["last_seq"], load["state_hash"]):
            raise AssertionError(f"full replay gave {last} {state}, closed at {load['last_seq']}")
    finally:
        shutil.rmtree(base)
    jetstream = None if args.no_jetstream else jetstream_figures(args.quick)
    result: dict[str, Any] = {
        "bench": "pipeline",
        "mode": "embedded",
        "quick": args.quick,
        "clients": args.clients,
        "users": USERS,
        **{k: v for k, v in load.items() if k not in ("last_seq", "state_hash")},
        "recovery_s": round(recovery_s, 3),
        "recovery_full_replay_s": round(full_s, 3),
        "recovery_commands": last,
        "recovery_replay_per_s": round(last / full_s),
        "recovery_note": (
            f"journal of {last:,} requests"
            + (" (--quick: 100,000, not 1,000,000)" if args.quick else "")
            + f"; snapshots at close: {len(snaps)} (snapshot_every 100,000); "
            "recovery_s checks the newest by replay from the one before it"
        ),
        "journal_bytes": journal_bytes,
        "disk_fdatasync_p50_ms": [fsync_before, fsync_after],  # before and after the load
        "state_hash": load["state_hash"][:16],
        "jetstream": jetstream,
        "failover_s": None if jetstream is None else jetstream.get("failover_max_s"),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    print(json.dumps(result))


def jetstream_figures(quick: bool) -> dict[str, Any] | None:
    """The same path on NATS JetStream (bench/_cluster.py: three members, failovers)."""
    script = Path(__file__).resolve().parent / "_cluster.py"
    proc = subprocess.run(
        [sys.executable, str(script), *(["--quick"] if quick else [])],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)
        return {"error": f"bench/_cluster.py exited {proc.returncode}"}
    figures: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return figures


if __name__ == "__main__":
    main()
