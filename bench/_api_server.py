"""A ``rialto up`` process for bench/api.py: BTCUSDT, funded users with HMAC keys, a maker.

The same steps as the tests' harness (``rialto.runtime.local_exchange``, which has two fixed
users; this one makes as many as asked, and a maker). The data directory is prepared on an
opened :class:`Node` through ``admin.execute``: assets BTC and USDT, the market BTCUSDT (tick
0.01, step 0.0001), ``users`` traders and one maker, their deposits, one ``read,trade`` key each.
Then ``rialto up`` is started as a process and waited for on ``/api/v3/ping``. Its output goes to
``up.log`` in the data directory.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from rialto.adapters.nats.local_server import LocalNatsServer, free_port, wheel_binary
from rialto.runtime.admin import execute
from rialto.runtime.local_exchange import RIALTO, halt, launch
from rialto.runtime.node import Node

MARKET = {"symbol": "BTCUSDT", "base_asset": "BTC", "quote_asset": "USDT", "tick_size": "0.01",
          "step_size": "0.0001", "min_notional": "5"}  # fmt: skip
TRADER_FUNDS = {"BTC": "100", "USDT": "10000000"}
MAKER_FUNDS = {"BTC": "10000", "USDT": "1000000000"}
REDIS = "redis://127.0.0.1:6379/0"


@dataclass
class Server:
    url: str
    data_dir: Path
    proc: subprocess.Popen[bytes]
    keys: list[dict[str, Any]] = field(default_factory=list)  # one per trader: api_key, secret
    maker: dict[str, Any] = field(default_factory=dict)
    gateways: list[subprocess.Popen[bytes]] = field(default_factory=list)
    nats: LocalNatsServer | None = None

    def pids(self) -> dict[str, int]:
        """The server side's processes: the core, then each gateway."""
        return {"server": self.proc.pid} | {
            f"gateway{i}": g.pid for i, g in enumerate(self.gateways)
        }

    def log(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.data_dir.glob("*.log")))


async def _user(node: Node, email: str, funds: dict[str, str], hashed: str) -> dict[str, Any]:
    await execute(node, {"op": "users.create", "email": email, "password_hash": hashed})
    for asset, amount in funds.items():
        await execute(node, {"op": "deposit", "email": email, "asset": asset, "amount": amount})
    key = {"op": "apikeys.create", "email": email, "permissions": "read,trade"}
    return await execute(node, key)


async def _prepare(data_dir: Path, users: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    node = await Node.open(data_dir)
    try:
        for asset, decimals in (("BTC", 8), ("USDT", 6)):
            await execute(node, {"op": "assets.add", "symbol": asset, "decimals": decimals})
        await execute(node, {"op": "markets.add", "spec": MARKET})
        hashed = PasswordHasher().hash("a long password")  # one hash for all: argon2 is slow
        maker = await _user(node, "maker@bench.test", MAKER_FUNDS, hashed)
        keys = await asyncio.gather(
            *(_user(node, f"u{i}@bench.test", TRADER_FUNDS, hashed) for i in range(users))
        )
    finally:
        await node.close()
    return list(keys), maker


def start(data_dir: Path, users: int, cmd: list[str] | None = None, gateways: int = 0) -> Server:
    """Prepare ``data_dir`` and run ``rialto up`` on it (``cmd``: another command line, the
    data directory and port appended as for ``rialto up``). With ``gateways``, the core
    runs with ``--bus`` (a private NATS 2.15) and ``--redis``, and that many
    ``rialto serve gateway`` processes share one port (``--reuse-port``): the URL returned."""
    data_dir.mkdir(parents=True, exist_ok=True)
    keys, maker = asyncio.run(_prepare(data_dir, users))
    if not gateways:
        proc, url = launch(data_dir, cmd)
        return Server(url, data_dir, proc, keys, maker)
    nats = LocalNatsServer(wheel_binary(), data_dir / "nats").start()
    db = f"sqlite:///{data_dir.resolve() / 'rialto.db'}"
    env = {"RIALTO_REDIS_PREFIX": f"bench-{uuid.uuid4().hex}:"}
    up = [*RIALTO, "up", "--bus", nats.url, "--db", db, "--redis", REDIS]
    proc, _ = launch(data_dir, up, env)
    server = Server("", data_dir, proc, keys, maker, nats=nats)
    port = free_port()
    gateway = [*RIALTO, "serve", "gateway", "--nats", nats.url, "--db", db, "--redis", REDIS,
               "--reuse-port"]  # fmt: skip
    for i in range(gateways):
        g, server.url = launch(data_dir, gateway, env, port, f"gateway-{i}.log")
        server.gateways.append(g)
        # The port may have answered from an earlier gateway: wait for this one's own word.
        deadline = time.monotonic() + 60
        while "rialto serve gateway: at seq" not in (data_dir / f"gateway-{i}.log").read_text():
            if g.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((data_dir / f"gateway-{i}.log").read_text())
            time.sleep(0.05)
    return server


def stop(s: Server) -> None:
    for g in s.gateways:
        halt(g)
    halt(s.proc)
    if s.nats is not None:
        s.nats.stop()
