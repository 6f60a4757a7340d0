"""The embedded runtime: a sequencer in front of the exchange state machine and its journal.

Requests are queued; the sequencer takes what is queued as one batch, stamps each
request with its seq and time, applies it to the :class:`Exchange` in memory, and
hands the batch's records to the journal, whose group commit fsyncs them. The next
batch is applied while that one is written. Nothing leaves the node -- no reply to a
caller, no event to a subscriber -- before the journal says the batch is durable, so
every acknowledged request survives a ``kill -9`` and nothing unacknowledged is seen.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

from rialto.adapters.journal.file import FileJournal
from rialto.domain.exchange import Exchange, Outcome
from rialto.domain.requests import Request
from rialto.runtime.codec import decode, encode
from rialto.runtime.keyring import SecretBox
from rialto.runtime.recovery import SHARD, recover
from rialto.runtime.snapshots import SnapshotStore

log = logging.getLogger(__name__)

Subscriber = Callable[[list[Outcome]], None]
RecordSubscriber = Callable[[int, list[bytes]], None]  # (seq of the last record, records)
# A journal write in flight: its future, the replies it carries, its journal records, or a
# snapshot to save after it.
_Inflight = tuple[
    asyncio.Future[int],
    list[tuple[asyncio.Future[Outcome], Outcome]],
    list[bytes],
    bytes | None,
]


class RequestError(ValueError):
    """A request the exchange cannot carry out at all (not journaled, nothing changed)."""


class NodeStopped(RuntimeError):
    """The node is closed, or its journal failed: nothing more is accepted."""


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class Node:
    def __init__(
        self,
        journal: FileJournal,
        snapshots: SnapshotStore,
        exchange: Exchange,
        clock: Callable[[], int] = wall_clock_ms,
        snapshot_every: int = 100_000,
    ) -> None:
        self.journal = journal
        self.snapshots = snapshots
        self.exchange = exchange
        self.clock = clock
        self.snapshot_every = snapshot_every
        self.data_dir = snapshots.directory.parent
        self.durable_seq = exchange.last_seq
        self._last_ts = exchange.last_ts  # time never goes back, also across restarts
        self._queue: list[tuple[Request, asyncio.Future[Outcome]]] = []
        self._wake = asyncio.Event()
        self._inflight: asyncio.Queue[_Inflight | None] = asyncio.Queue()
        self._snapshot_waiters: list[asyncio.Future[int]] = []
        self._subscribers: list[Subscriber] = []
        self._record_subscribers: list[RecordSubscriber] = []
        self._snapshot_seq = exchange.last_seq
        self._failure: BaseException | None = None
        self._closing = False
        self._tasks = [
            asyncio.create_task(self._sequence(), name="sequencer"),
            asyncio.create_task(self._release(), name="releaser"),
        ]

    @classmethod
    async def open(
        cls,
        data_dir: str | Path,
        *,
        shards: int = 1,
        clock: Callable[[], int] = wall_clock_ms,
        snapshot_every: int = 100_000,
        emit_after: int | None = None,
        emit: Callable[[Outcome], None] | None = None,
    ) -> Node:
        """Open (or create) the exchange in ``data_dir``: recover, then accept requests.

        With ``emit``, recovery passes it the outcome of every request after ``emit_after``
        (to catch up a read model that is behind the journal).
        """
        root = Path(data_dir)
        root.mkdir(parents=True, exist_ok=True)
        journal = await FileJournal.open(root / "journal")
        snapshots = SnapshotStore(root / "snapshots")
        try:
            started = time.perf_counter()
            exchange = await asyncio.to_thread(
                recover, journal, snapshots, shards, emit_after, emit
            )
            log.info(
                "recovered to seq %d in %.2f s", exchange.last_seq, time.perf_counter() - started
            )
        except BaseException:
            await journal.close()
            raise
        return cls(journal, snapshots, exchange, clock, snapshot_every)

    def secret_box(self) -> SecretBox:
        """Seals API key secrets at rest (the master key lives in the data directory)."""
        return SecretBox.for_data_dir(self.data_dir)

    def subscribe(self, subscriber: Subscriber) -> None:
        """Call ``subscriber`` with every batch of outcomes once it is durable, in order."""
        self._subscribers.append(subscriber)

    def subscribe_records(self, subscriber: RecordSubscriber) -> None:
        """Call ``subscriber`` with every batch of journal records once durable, in order
        (before the outcomes' subscribers), to replicate the exchange elsewhere."""
        self._record_subscribers.append(subscriber)

    async def submit(self, request: Request) -> Outcome:
        """Carry out ``request``; return its outcome once it is durable."""
        if self._closing or self._failure is not None:
            raise NodeStopped("the exchange is not accepting requests") from self._failure
        fut: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queue.append((request, fut))
        self._wake.set()
        return await fut

    async def snapshot(self) -> int:
        """Take a snapshot at the current position once it is durable; return its seq."""
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._snapshot_waiters.append(done)
        self._wake.set()
        return await done

    async def close(self) -> None:
        """Finish what was accepted, then stop (a clean shutdown also snapshots)."""
        if self._closing:
            return
        self._closing = True
        self._wake.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._failure is None and self.exchange.last_seq > self._snapshot_seq:
            await self._save_snapshot(self.exchange.last_seq, self.exchange.snapshot())
        await self.journal.close()

    # --- internals --------------------------------------------------------

    async def _sequence(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                batch, self._queue = self._queue, []
                if batch:
                    self._apply_batch(batch)
                if self._snapshot_waiters or (
                    self.exchange.last_seq - self._snapshot_seq >= self.snapshot_every
                ):
                    self._queue_snapshot()
                if self._closing and not self._queue:
                    break
        except BaseException as exc:  # a bug in the state machine: stop accepting
            self._fail(exc)
            raise
        finally:
            self._inflight.put_nowait(None)

    def _apply_batch(self, batch: list[tuple[Request, asyncio.Future[Outcome]]]) -> None:
        ex = self.exchange
        payloads: list[bytes] = []
        done: list[tuple[asyncio.Future[Outcome], Outcome]] = []
        for request, fut in batch:
            seq = ex.last_seq + 1
            ts = max(self._last_ts, self.clock())
            try:
                # Apply exactly what a replay will read back: the decoded record.
                payload = encode(seq, ts, request)
                _, _, decoded = decode(payload)
                outcome = ex.apply(seq, ts, decoded)
            except (ValueError, TypeError, KeyError) as exc:  # refused; nothing changed
                if not fut.done():
                    fut.set_exception(RequestError(f"request refused: {exc}"))
                continue
            except Exception as exc:  # a bug: the state may be half-changed, stop at once
                for f in [fut, *(f for f, _ in done), *(f for _, f in batch)]:
                    if not f.done():
                        f.set_exception(NodeStopped(f"the exchange stopped: {exc!r}"))
                raise
            self._last_ts = ts
            payloads.append(payload)
            done.append((fut, outcome))
        if payloads:
            written = asyncio.ensure_future(self.journal.append(payloads))
            self._inflight.put_nowait((written, done, payloads, None))

    def _queue_snapshot(self) -> None:
        seq = self.exchange.last_seq
        self._snapshot_seq = seq
        state = self.exchange.snapshot()  # a copy taken between batches; written later
        marker: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        marker.set_result(seq)
        self._inflight.put_nowait((marker, [], [], state))

    async def _release(self) -> None:
        while True:
            item = await self._inflight.get()
            if item is None:
                return
            written, done, records, state = item
            try:
                last = await written
            except BaseException as exc:
                self._fail(exc)
                for fut, _ in done:
                    if not fut.done():
                        fut.set_exception(NodeStopped(f"journal write failed: {exc}"))
                continue
            if state is not None:
                waiters, self._snapshot_waiters = self._snapshot_waiters, []
                if self._failure is not None:  # the state is ahead of the journal: never save it
                    for w in waiters:
                        if not w.done():
                            w.set_exception(NodeStopped(f"no snapshot: {self._failure}"))
                    continue
                await self._save_snapshot(last, state)
                for w in waiters:
                    if not w.done():
                        w.set_result(last)
                continue
            self.durable_seq = last
            for record_sub in self._record_subscribers:
                try:
                    record_sub(last, records)
                except Exception:
                    log.exception("record subscriber failed")
            outcomes = [o for _, o in done]
            for sub in self._subscribers:
                try:
                    sub(outcomes)
                except Exception:  # a subscriber's bug must not stop the exchange
                    log.exception("subscriber failed")
            for fut, outcome in done:
                if not fut.done():
                    fut.set_result(outcome)

    async def _save_snapshot(self, seq: int, state: bytes) -> None:
        await self.snapshots.save_async(SHARD, seq, state, hashlib.sha256(state).hexdigest())

    def _fail(self, exc: BaseException) -> None:
        if self._failure is None:
            self._failure = exc
            log.error("exchange stopped: %r", exc)
        for _, fut in self._queue:
            if not fut.done():
                fut.set_exception(NodeStopped(str(exc)))
        self._queue = []
