"""Child process: a Node whose journal fails for real (the file size limit), then a snapshot.

    python node_fail.py DATA_DIR LIMIT_BYTES

Sets ``RLIMIT_FSIZE`` to ``LIMIT_BYTES`` (with ``SIGXFSZ`` ignored, so a write past it fails with
``EFBIG`` like a full disk), opens a Node on ``DATA_DIR`` and runs the node_load mix until the
journal write fails and the node stops. Then it asks for a snapshot, closes the node and prints
one JSON line: ``durable_seq`` (the node's last durable seq), ``applied_seq`` (applied in memory),
``acked`` (the highest seq a caller got an outcome for), ``snapshot`` (what ``node.snapshot()``
returned, or the name of the exception it raised) and ``close`` (the same for ``node.close()``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import signal
import sys

from node_load import Load

from rialto.runtime.node import Node, NodeStopped


async def main() -> None:
    data_dir, limit = sys.argv[1], int(sys.argv[2])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    node = await Node.open(data_dir, snapshot_every=10**9)
    load = Load(node, "fail", users=40, tasks=8, echo=False)
    with contextlib.suppress(NodeStopped):  # the journal failed: the node stops
        await load.run()
    result: dict[str, object] = {
        "durable_seq": node.durable_seq,
        "applied_seq": node.exchange.last_seq,
        "acked": max(load.acked, default=0),
    }
    try:
        result["snapshot"] = await asyncio.wait_for(node.snapshot(), 10)
    except Exception as exc:
        result["snapshot"] = type(exc).__name__
    try:
        await asyncio.wait_for(node.close(), 10)
        result["close"] = "ok"
    except Exception as exc:
        result["close"] = type(exc).__name__
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
