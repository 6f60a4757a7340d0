"""File journal throughput: group-committed appends and replay.

``measure_append(directory, n, concurrency)`` runs ``concurrency`` asyncio tasks that each append
one ~60-byte record at a time (awaiting durability, as a shard acknowledging commands does) until
``n`` records are written, and returns records/s with the p50/p99 latency of one ``append`` in ms
(and the number of commits and fsyncs they shared).

``measure_replay(directory, n)`` writes ``n`` ~60-byte records (untimed), reopens the journal and
returns the seconds ``async for record in journal.read()`` takes to yield all of them;
``measure_open`` is the open (recovery scan, which checks every record's checksum) of the same
journal.

    .venv/bin/python bench/_journal.py [--quick] [--records N] [--concurrency C] [--replay N]
        [--dir DIR]

prints one JSON line. Without ``--dir`` it works in a temporary directory under the current
directory (not /tmp, which may be a RAM disk where fsync costs nothing), removed at the end.
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
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from rialto.adapters.journal import FileJournal

RECORD = 60  # bytes of payload, about a small command


def payload(i: int) -> bytes:
    return f"{i:012d}".encode().ljust(RECORD, b".")


def percentile(sorted_values: list[float], p: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(p * len(sorted_values)))]


async def _append(directory: Path, n: int, concurrency: int) -> dict[str, Any]:
    journal = await FileJournal.open(directory)
    latencies: list[float] = []
    issued = 0

    async def appender() -> None:
        nonlocal issued
        while issued < n:
            issued += 1
            data = [payload(issued)]
            t0 = time.perf_counter_ns()
            await journal.append(data)
            latencies.append((time.perf_counter_ns() - t0) / 1e6)

    t0 = time.perf_counter()
    await asyncio.gather(*(appender() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    fsyncs, commits = journal.fsync_count, journal.commit_count
    await journal.close()
    latencies.sort()
    return {
        "records": n,
        "concurrency": concurrency,
        "records_per_s": round(n / elapsed),
        "p50_ms": round(percentile(latencies, 0.50), 3),
        "p99_ms": round(percentile(latencies, 0.99), 3),
        "commits": commits,
        "fsyncs": fsyncs,
        "records_per_fsync": round(n / max(fsyncs, 1), 1),
    }


def measure_append(directory: str | Path, n: int, concurrency: int) -> dict[str, Any]:
    """Group-committed appends of one record each from ``concurrency`` tasks."""
    return asyncio.run(_append(Path(directory), n, concurrency))


async def _fill(directory: Path, n: int) -> None:
    journal = await FileJournal.open(directory)
    batch = 10_000
    for start in range(journal.last_seq, n, batch):
        await journal.append([payload(i) for i in range(start + 1, min(n, start + batch) + 1)])
    await journal.close()


async def _replay(directory: Path, n: int) -> tuple[float, float]:
    await _fill(directory, n)
    t0 = time.perf_counter()
    journal = await FileJournal.open(directory)
    opened = time.perf_counter() - t0
    count = size = 0
    t0 = time.perf_counter()
    async for record in journal.read():
        count += 1
        size += len(record.payload)
    replayed = time.perf_counter() - t0
    await journal.close()
    if count != n or size != n * RECORD:
        raise AssertionError(f"replayed {count} records of {size} bytes, expected {n}")
    return opened, replayed


def measure_replay(directory: str | Path, n: int) -> float:
    """Seconds to replay ``n`` records with ``read()`` (the journal is written first)."""
    return asyncio.run(_replay(Path(directory), n))[1]


def measure_open(directory: str | Path, n: int) -> float:
    """Seconds to open (recover, checking every checksum) a journal of ``n`` records."""
    return asyncio.run(_replay(Path(directory), n))[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="20k appends, 200k replayed")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--replay", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    if args.quick:
        args.records, args.replay = 20_000, 200_000
    base = Path(tempfile.mkdtemp(prefix=".bench-journal-", dir=args.dir or Path.cwd()))
    try:
        append = measure_append(base / "append", args.records, args.concurrency)
        serial = measure_append(base / "serial", min(args.records, 2_000), 1)
        opened, replayed = asyncio.run(_replay(base / "replay", args.replay))
    finally:
        shutil.rmtree(base)
    result = {
        "bench": "journal",
        "append": append,
        "append_one_at_a_time": {
            k: serial[k] for k in ("records", "records_per_s", "p50_ms", "p99_ms")
        },
        "replay": {
            "records": args.replay,
            "record_bytes": RECORD,
            "open_s": round(opened, 3),
            "replay_s": round(replayed, 3),
            "records_per_s": round(args.replay / replayed),
        },
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
