"""``rialto serve SERVICE ...``: one member of a distributed deployment on NATS JetStream."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from pathlib import Path

from rialto.adapters.nats.connect import connect
from rialto.runtime.member import Member

log = logging.getLogger("rialto.serve")
STOP_TIMEOUT_S = 15.0


async def serve(
    services: tuple[str, ...],
    nats_url: str,
    data_dir: Path,
    member: str | None = None,
    user_shards: int | None = None,
    ttl: float = 2.0,
) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    name = member or f"{socket.gethostname()}-{os.getpid()}"
    conn = await connect(nats_url, name=f"rialto-{name}")
    m = Member(conn, name, services, data_dir / name, user_shards=user_shards, ttl=ttl)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await m.start()
    print(f"rialto serve {' '.join(services)}: member {name} on {nats_url}", flush=True)
    await stop.wait()
    try:  # hand the shards over; without the bus that cannot finish: leave anyway
        await asyncio.wait_for(m.stop(), STOP_TIMEOUT_S)
    except (TimeoutError, OSError) as exc:
        log.warning("member %s: stopped without handing over: %r", name, exc)
    with contextlib.suppress(TimeoutError, OSError):
        await asyncio.wait_for(conn.close(), 2.0)
    return 0
