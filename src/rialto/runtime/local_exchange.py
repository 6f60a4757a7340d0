"""A running ``rialto up`` as a real process, with two funded users and API keys.

For the API tests and benchmarks, as :mod:`rialto.runtime.local_cluster` is for the
distributed deployment.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher

from rialto.adapters.nats.local_server import free_port
from rialto.runtime.admin import execute
from rialto.runtime.node import Node

RIALTO = [sys.executable, "-m", "rialto.cli"]
USERS = {
    "alice@api.test": {"USDT": "1000000", "BTC": "10", "ETH": "100"},
    "bob@api.test": {"USDT": "1000000", "BTC": "10", "ETH": "100"},
}
MARKETS = [
    {"symbol": "BTCUSDT", "base_asset": "BTC", "quote_asset": "USDT", "tick_size": "0.01",
     "step_size": "0.0001", "min_notional": "5"},
    {"symbol": "ETHUSDT", "base_asset": "ETH", "quote_asset": "USDT", "tick_size": "0.01",
     "step_size": "0.0001", "min_notional": "5"},
]  # fmt: skip


@dataclass
class Rialto:
    url: str
    data_dir: Path
    proc: subprocess.Popen[bytes]
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)

    def log(self) -> str:
        return (self.data_dir / "up.log").read_text(errors="replace")


async def _prepare(data_dir: Path) -> dict[str, dict[str, Any]]:
    node = await Node.open(data_dir)
    keys: dict[str, dict[str, Any]] = {}
    try:
        for asset, decimals in (("BTC", 8), ("ETH", 18), ("USDT", 6)):
            await execute(node, {"op": "assets.add", "symbol": asset, "decimals": decimals})
        for spec in MARKETS:
            await execute(node, {"op": "markets.add", "spec": spec})
        for email, funds in USERS.items():
            hashed = PasswordHasher().hash("a long password")
            await execute(node, {"op": "users.create", "email": email, "password_hash": hashed})
            for asset, amount in funds.items():
                await execute(
                    node, {"op": "deposit", "email": email, "asset": asset, "amount": amount}
                )
            keys[email] = await execute(
                node, {"op": "apikeys.create", "email": email, "permissions": "read,trade"}
            )
        keys["reader"] = await execute(
            node, {"op": "apikeys.create", "email": "alice@api.test", "permissions": "read"}
        )
    finally:
        await node.close()
    return keys


def launch(
    data_dir: Path,
    cmd: list[str] | None = None,
    env: dict[str, str] | None = None,
    port: int | None = None,
    log_name: str = "up.log",
) -> tuple[subprocess.Popen[bytes], str]:
    """Run ``rialto up`` (or ``cmd``) on ``data_dir`` on a free port; wait until it answers."""
    port = port or free_port()
    log_path = data_dir / log_name
    log = log_path.open("ab")
    base = cmd or [*RIALTO, "up"]
    proc = subprocess.Popen(
        [*base, "--data-dir", str(data_dir), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/v3/ping", timeout=1) as r:
                if json.loads(r.read()) == {}:
                    return proc, url
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"{' '.join(base[2:])} did not start:\n" + log_path.read_text())
        time.sleep(0.1)


def halt(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """SIGTERM (a clean stop), SIGKILL if that takes longer than ``timeout``."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def start(data_dir: Path, up_args: list[str] | None = None) -> Rialto:
    keys = asyncio.run(_prepare(data_dir))
    proc, url = launch(data_dir, [*RIALTO, "up", *(up_args or [])])
    return Rialto(url, data_dir, proc, keys)


def launch_gateway(
    core: Rialto,
    bus: str,
    db: str,
    redis: str,
    env: dict[str, str] | None = None,
    port: int | None = None,
    extra: list[str] | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """A ``rialto serve gateway`` in front of ``core`` (its data directory has the master
    key); it logs to ``gateway-<port>.log`` there."""
    port = port or free_port()
    cmd = [*RIALTO, "serve", "gateway", "--nats", bus, "--db", db, "--redis", redis, *(extra or [])]
    return launch(core.data_dir, cmd, env, port, f"gateway-{port}.log")


def stop(r: Rialto) -> None:
    halt(r.proc)
