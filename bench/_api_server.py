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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from rialto.runtime.admin import execute
from rialto.runtime.local_exchange import halt, launch
from rialto.runtime.node import Node

MARKET = {"symbol": "BTCUSDT", "base_asset": "BTC", "quote_asset": "USDT", "tick_size": "0.01",
          "step_size": "0.0001", "min_notional": "5"}  # fmt: skip
TRADER_FUNDS = {"BTC": "100", "USDT": "10000000"}
MAKER_FUNDS = {"BTC": "10000", "USDT": "1000000000"}


@dataclass
class Server:
    url: str
    data_dir: Path
    proc: subprocess.Popen[bytes]
    keys: list[dict[str, Any]] = field(default_factory=list)  # one per trader: api_key, secret
    maker: dict[str, Any] = field(default_factory=dict)

    def log(self) -> str:
        return (self.data_dir / "up.log").read_text(errors="replace")


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


def start(data_dir: Path, users: int, cmd: list[str] | None = None) -> Server:
    """Prepare ``data_dir`` and run ``rialto up`` on it (``cmd``: another command line, the
    data directory and port appended as for ``rialto up``)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    keys, maker = asyncio.run(_prepare(data_dir, users))
    proc, url = launch(data_dir, cmd)
    return Server(url, data_dir, proc, keys, maker)


def stop(s: Server) -> None:
    halt(s.proc)
