"""Feeding durable outcomes to the SQL read model, in batches, off the event loop."""

from __future__ import annotations

import asyncio
import logging

from rialto.adapters.sql.projector import Projector, StreamItem
from rialto.adapters.sql.store import SqlStore
from rialto.domain.exchange import Outcome

log = logging.getLogger(__name__)
STREAM = "exchange"  # embedded mode has one sequence for the whole exchange


class SqlFeed:
    def __init__(self, url: str, name: str = "sql") -> None:
        self.store = SqlStore(url)
        self.store.migrate()
        self.projector = Projector(self.store, name)
        self._pending: list[StreamItem] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def checkpoint(self) -> int:
        """The last seq already in the read model."""
        return self.projector.checkpoint(STREAM)

    def add(self, outcomes: list[Outcome]) -> None:
        """Queue durable outcomes, in seq order (a node subscriber)."""
        self._pending.extend(StreamItem(STREAM, o.seq, o.symbol, o.events) for o in outcomes)
        self._wake.set()

    async def drain(self) -> None:
        """Project what is queued now (e.g. what recovery emitted), before reading the model."""
        await self._flush()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="sql-projection")

    async def close(self) -> None:
        """Project what is queued, then stop."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._flush()
        self.store.close()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._flush()

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:5000], self._pending[5000:]
            await asyncio.to_thread(self.projector.project, batch)
