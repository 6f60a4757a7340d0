"""``rialto serve gateway``: one more API process in front of a ``rialto up --bus`` core.

The gateway keeps a replica of the exchange from the journal feed, so its reads and its
market data are local and equal to every other gateway's; writes go to the core over
NATS. Rate limits, listen keys and sessions live in Redis; order and trade history come
from the core's SQL read model (``--db``). Start as many as the machine has cores, on
one port with ``--reuse-port`` or behind any load balancer.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from dataclasses import dataclass
from pathlib import Path

from rialto.adapters.nats.connect import connect
from rialto.runtime.api_host import ApiHost
from rialto.runtime.keyring import SecretBox
from rialto.runtime.projection import SqlFeed
from rialto.runtime.replication import Replica
from rialto.runtime.shared_state import SharedState


@dataclass(frozen=True)
class GatewayOptions:
    bus: str
    db: str
    redis: str
    key_dir: Path
    host: str = "127.0.0.1"
    port: int = 8000
    reuse_port: bool = False
    trusted_proxies: str | None = None


async def serve_gateway(opts: GatewayOptions) -> int:
    box = SecretBox.existing(opts.key_dir)
    async with contextlib.AsyncExitStack() as stack:
        history = SqlFeed(opts.db)  # read only: the core projects
        stack.callback(history.store.close)
        shared = await stack.enter_async_context(SharedState.open(opts.redis))
        conn = await connect(opts.bus, name="rialto-gateway")
        stack.push_async_callback(conn.close)
        replica = Replica(conn, box)
        api = ApiHost(
            replica, history, box, shared, opts.host, opts.port, opts.trusted_proxies,
            opts.reuse_port,
        )  # fmt: skip
        await replica.start()  # market data and user data see the whole feed
        stack.push_async_callback(replica.close)
        await api.start()
        stack.push_async_callback(api.stop)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print(
            f"rialto serve gateway: at seq {replica.durable_seq}; the API is at "
            f"http://{opts.host}:{opts.port}/api/v3",
            flush=True,
        )
        await stop.wait()
    return 0
