"""Child process for the crash test: projects the feed and dies between writes and checkpoint.

    python crash_child.py URL CRASH_AT BATCH_SIZE

Projects batches 0 .. CRASH_AT-1 normally; during batch CRASH_AT the failure hook SIGKILLs
this process after every row is written and before the checkpoint moves.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence

from sql_feed import batches, feed
from sqlalchemy import Connection, func, select

from rialto.adapters.sql import Projector, SqlStore, StreamItem
from rialto.adapters.sql.schema import ledger_postings


def main() -> None:
    url, crash_at, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    projector = Projector(SqlStore(url), "crash-test")

    def die(conn: Connection, fresh: Sequence[StreamItem]) -> None:
        legs = conn.execute(select(func.count()).select_from(ledger_postings)).scalar()
        print(f"dying with {len(fresh)} items written, {legs} ledger rows in the transaction")
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    for i, batch in enumerate(batches(feed(), size)):
        if i == crash_at:
            projector.before_checkpoint = die
        written = projector.project(batch)
        print(f"batch {i}: {written.items} items", flush=True)
    raise SystemExit("the failure hook did not fire")


if __name__ == "__main__":
    main()
