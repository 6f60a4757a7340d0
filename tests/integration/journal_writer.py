"""Child process for the kill -9 test: appends to a FileJournal until it is killed.

    python journal_writer.py DIRECTORY SEGMENT_BYTES RUN_ID

Prints ``ready LAST_SEQ`` once the journal is open. Then several asyncio tasks append batches of
records concurrently; after ``append`` has returned (the records are durable) a task prints one
line per record, ``SEQ PREFIX``, and flushes stdout: a printed line is an acknowledged record.
A payload is its ASCII prefix ``RUN:TASK:N:K:`` followed by 0..3000 bytes of ``x``, so the parent
can check that the record at SEQ is the one that was acknowledged.
"""

from __future__ import annotations

import asyncio
import random
import sys

from rialto.adapters.journal import FileJournal

TASKS = 16


async def writer(journal: FileJournal, run: str, task: int) -> None:
    rng = random.Random(f"{run}:{task}")
    n = 0
    while True:
        prefixes = [f"{run}:{task}:{n}:{k}:" for k in range(rng.randint(1, 8))]
        last = await journal.append([p.encode() + b"x" * rng.randint(0, 3000) for p in prefixes])
        first = last - len(prefixes) + 1
        sys.stdout.write("".join(f"{first + k} {p}\n" for k, p in enumerate(prefixes)))
        sys.stdout.flush()
        n += 1


async def main() -> None:
    directory, segment_bytes, run = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    journal = await FileJournal.open(directory, segment_bytes=segment_bytes)
    sys.stdout.write(f"ready {journal.last_seq}\n")
    sys.stdout.flush()
    await asyncio.gather(*(writer(journal, run, t) for t in range(TASKS)))


if __name__ == "__main__":
    asyncio.run(main())
