"""The projector: writes journal items into the SQL read model, exactly once per (stream, seq).

One ``project(batch)`` call is one transaction on the primary:

1. make sure a checkpoint row exists for every stream of the batch, then read them all
   ``FOR UPDATE`` (MariaDB/PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serialises writers);
2. drop the items whose ``seq`` is not above their stream's checkpoint (already projected);
3. fold the rest into rows -- orders (inserted in their latest state when accepted in the same
   batch), order changes (the last OrderUpdate/OrderAmended of each order wins), trades,
   ledger legs and per-account balance deltas -- and write them with multi-row statements;
4. balances: lock the touched rows ``FOR UPDATE`` (absent ones stay absent: see
   ``balances.add_to_balances``), add the deltas in Python (exact ints; SQLite keeps amounts
   as TEXT), write them back in one multi-row upsert;
5. call ``before_checkpoint`` (a failure-injection hook for tests), then move the checkpoints.

A crash anywhere before the commit leaves nothing behind, so a new projector re-projects the
same items. The primary keys of orders, trades and ledger legs are a second guard: a row
written twice is an IntegrityError, never a duplicate. Folding is in ``plan.py``, the balance
arithmetic in ``balances.py``, the per-engine multi-row statements in ``bulk.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.exc import DBAPIError

from rialto.adapters.sql import schema
from rialto.adapters.sql.bulk import insert_missing
from rialto.adapters.sql.plan import Plan
from rialto.adapters.sql.store import SqlStore
from rialto.adapters.sql.stream import Projected, ProjectionError, StreamItem

__all__ = ["Projected", "ProjectionError", "Projector", "StreamItem", "is_transient"]


class Projector:
    """Projects batches of stream items into the store's primary database."""

    def __init__(self, store: SqlStore, name: str) -> None:
        if not name or len(name) > 64:
            raise ValueError("a projector name is 1 to 64 characters")
        self.store = store
        self.name = name
        # Failure injection: called inside the transaction (with its connection and the items
        # being applied) after every write and before the checkpoints move. Tests use it to
        # crash the projector at the worst moment.
        self.before_checkpoint: Callable[[Connection, Sequence[StreamItem]], None] | None = None
        self.retries = 5

    def project(self, batch: Sequence[StreamItem]) -> Projected:
        """Apply the items not yet projected, in one transaction; return what was written.

        A deadlock or lock timeout against another writer rolls the whole transaction back;
        it is retried up to ``retries`` times (nothing of it was kept, so this is safe).
        """
        if not batch:
            return Projected()
        for attempt in range(self.retries + 1):
            try:
                return self._project(batch)
            except DBAPIError as exc:
                if attempt == self.retries or not is_transient(exc):
                    raise
        raise AssertionError("unreachable")

    def _project(self, batch: Sequence[StreamItem]) -> Projected:
        with self.store.engine.begin() as conn:
            checkpoints = self._lock_checkpoints(conn, sorted({item.stream for item in batch}))
            fresh, tops = _fresh(batch, checkpoints)
            if not fresh:
                return Projected()
            plan = Plan()
            for item in fresh:
                plan.add(item)
            written = plan.write(conn)
            if self.before_checkpoint is not None:
                self.before_checkpoint(conn, fresh)
            t = schema.projector_checkpoints
            conn.execute(
                update(t)
                .where(t.c.projector == self.name, t.c.stream == bindparam("k_stream"))
                .values(seq=bindparam("k_seq")),
                [{"k_stream": stream, "k_seq": seq} for stream, seq in sorted(tops.items())],
            )
        return written._replace(items=len(fresh))

    def checkpoint(self, stream: str) -> int:
        """The last seq projected on ``stream`` (0 when none)."""
        return self.store.checkpoint(self.name, stream)

    def _lock_checkpoints(self, conn: Connection, streams: list[str]) -> dict[str, int]:
        t = schema.projector_checkpoints
        insert_missing(conn, t, [{"projector": self.name, "stream": s, "seq": 0} for s in streams])
        query = (
            select(t.c.stream, t.c.seq)
            .where(t.c.projector == self.name, t.c.stream.in_(streams))
            .order_by(t.c.stream)
            .with_for_update()
        )
        return {stream: int(seq) for stream, seq in conn.execute(query)}


def is_transient(exc: DBAPIError) -> bool:
    """A deadlock, lock-wait timeout or serialization failure: the transaction may be retried."""
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)  # psycopg
    if sqlstate in ("40001", "40P01", "55P03"):
        return True
    args = getattr(orig, "args", ())
    if args and args[0] in (1205, 1213):  # PyMySQL: lock wait timeout, deadlock
        return True
    return "database is locked" in str(orig)  # SQLite busy beyond busy_timeout


def _fresh(
    batch: Sequence[StreamItem], checkpoints: dict[str, int]
) -> tuple[list[StreamItem], dict[str, int]]:
    """The items above their stream's checkpoint, and each stream's new checkpoint."""
    fresh: list[StreamItem] = []
    tops: dict[str, int] = {}
    for item in batch:
        if item.seq < 1:
            raise ProjectionError(f"{item.stream}: seq must be at least 1, got {item.seq}")
        done = checkpoints[item.stream]
        top = tops.get(item.stream, done)
        if item.seq <= done or item.seq == top:
            continue  # projected before, or delivered twice in this batch
        if item.seq < top:
            raise ProjectionError(f"{item.stream}: seq {item.seq} arrived after {top}")
        fresh.append(item)
        tops[item.stream] = item.seq
    return fresh, tops
