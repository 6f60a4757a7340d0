"""One shard in the distributed deployment: a standby that follows its journal, or its owner.

A standby applies the shard's journal as it is written (an ordered consumer from its own
last applied seq) and keeps the sends of what it applied until their destinations have
them. Promoted under a lease, it reopens the journal fenced by the lease's token,
catches up from its own last applied seq, re-sends what the destinations lack, answers
recent callers again (callers drop answers they already have), and then takes inputs
from its inbox like any owner: stamp, apply, journal, and only once the journal has them
send, answer and publish.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson

from rialto.adapters.nats.connect import NatsConnection
from rialto.adapters.nats.inbox import Arrival, InboxSpec, Outbox, publish_request, read_inbox
from rialto.adapters.nats.jetstream_journal import JetStreamJournal, StreamSpec
from rialto.adapters.nats.tasks import cancel_and_wait
from rialto.domain import requests as req
from rialto.domain.accounts import AccountsError
from rialto.domain.events import MarketStatusChanged
from rialto.domain.orders import MarketStatus
from rialto.domain.shards import (
    AccountsShard,
    MatchingShard,
    Shard,
    Step,
    new_shard,
    restore_shard,
)
from rialto.runtime.codec import (
    CodecError,
    Input,
    decode_input,
    decode_message,
    encode_input,
    encode_message,
)
from rialto.runtime.journal import JournalRecord
from rialto.runtime.replies import outcome_reply, refusal_reply
from rialto.runtime.snapshots import SnapshotError, SnapshotStore

log = logging.getLogger("rialto.shard")
REPLY_MEMORY_MS = 30_000  # answers a new owner repeats: callers give up sooner than this
REPLY_MEMORY_COUNT = 200_000
RESUME_RETRY_S = 0.1  # a resume stamped before the cooling end (clock skew): again this late
Listener = Callable[[str, list[tuple[Input, Step]]], None]
# A journal write in flight: its future, the inputs it holds, or a snapshot to save after it.
_Inflight = tuple["asyncio.Future[int]", list[tuple[Input, Step]], bytes | None]


class ShardHost:
    def __init__(
        self,
        conn: NatsConnection,
        name: str,
        snapshots: SnapshotStore,
        *,
        inbox: InboxSpec | None = None,
        stream: StreamSpec | None = None,
        clock: Callable[[], int] | None = None,
        snapshot_every: int = 50_000,
        listener: Listener | None = None,
    ) -> None:
        self.conn = conn
        self.name = name
        self.snapshots = snapshots
        self.inbox = inbox or InboxSpec()
        self.stream = stream or StreamSpec()
        self.clock = clock or (lambda: time.time_ns() // 1_000_000)
        self.snapshot_every = snapshot_every
        self.listener = listener
        self.shard: Shard = new_shard(name)
        self.outbox = Outbox(conn.js, self.inbox, name)
        self.role = "new"
        self.failure: BaseException | None = None
        self._recent: collections.deque[tuple[int, str, bytes]] = collections.deque(
            maxlen=REPLY_MEMORY_COUNT
        )
        self._journal: JetStreamJournal | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._queue: list[Arrival] = []
        self._wake = asyncio.Event()
        self._inflight: asyncio.Queue[_Inflight | None] = asyncio.Queue()
        self._numbers: dict[int, list[int]] = {}  # seq -> numbers of its sends, until durable
        self._snap_seq = 0
        self._query_sub: Any = None
        self.caught_up = asyncio.Event()
        self._pending: set[asyncio.Future[Any]] = set()
        self._breaker: asyncio.Task[None] | None = None  # a market shard's resume timer

    # --- lifecycle --------------------------------------------------------

    async def load(self) -> None:
        """Start from the newest local snapshot that checks out (else from empty)."""
        for seq in reversed(self.snapshots.seqs(self.name)):
            try:
                snap = self.snapshots.load(self.name, seq)
                shard = restore_shard(snap.state)
            except (SnapshotError, AccountsError) as exc:
                log.warning("%s: skipping snapshot %d: %s", self.name, seq, exc)
                continue
            if shard.state_hash() != snap.state_hash:
                log.warning("%s: snapshot %d does not match its hash", self.name, seq)
                continue
            self.shard = shard
            break
        self._snap_seq = self.shard.last_seq

    async def follow(self) -> None:
        """Become (or stay) a standby: apply the journal as it grows."""
        journal = await JetStreamJournal.open(self.conn, self.name, stream=self.stream)
        if journal.last_seq < self.shard.last_seq:
            raise RuntimeError(
                f"{self.name}: local state at seq {self.shard.last_seq} is ahead of the "
                f"journal ({journal.last_seq}): it belongs to another history"
            )
        self.role = "standby"
        self._tasks.append(asyncio.create_task(self._follow(journal), name=f"follow-{self.name}"))
        self._tasks.append(asyncio.create_task(self._prune_loop(), name=f"prune-{self.name}"))

    async def promote(self, token: int) -> None:
        """Take the shard over under a lease whose token is ``token``."""
        await self._cancel_tasks()
        journal = await JetStreamJournal.open(self.conn, self.name, fence=token, stream=self.stream)
        if journal.last_seq < self.shard.last_seq:
            raise RuntimeError(f"{self.name}: local state is ahead of the journal")
        async for rec in journal.read(after=self.shard.last_seq):
            self._replayed(rec)
        self._journal = journal
        await self.outbox.prune()
        self.outbox.start()
        now = self.clock()
        for ts, subject, payload in self._recent:
            if now - ts <= REPLY_MEMORY_MS and subject:
                await self.conn.nc.publish(subject, payload)
        self.role = "owner"
        self._snap_seq = min(self._snap_seq, self.shard.last_seq)
        self._query_sub = await self.conn.nc.subscribe(f"rialto.q.{self.name}", cb=self._query)
        if isinstance(self.shard, MatchingShard) and self.shard.engine is not None:
            engine = self.shard.engine
            if engine.status is MarketStatus.BREAK and engine.halted_until:
                self._arm_breaker(engine.halted_until)
        self._tasks = [
            asyncio.create_task(self._read_inbox(), name=f"inbox-{self.name}"),
            asyncio.create_task(self._sequence(), name=f"seq-{self.name}"),
            asyncio.create_task(self._release(), name=f"release-{self.name}"),
        ]
        log.info("%s: owner at seq %d (token %d)", self.name, self.shard.last_seq, token)

    def revoke(self, reason: str) -> None:
        """The lease is gone: stop writing at once; the state may be ahead of the journal."""
        if self._journal is not None:
            self._journal.revoke(reason)
        self._fail(RuntimeError(f"{self.name}: lease lost: {reason}"))
        if self._breaker is not None:
            self._breaker.cancel()

    async def hand_over(self) -> None:
        """Stop taking inputs, finish what is in flight, and leave the state consistent."""
        if self.role != "owner":
            return
        self.role = "draining"
        await self._disarm_breaker()
        await cancel_and_wait(t for t in self._tasks if t.get_name().startswith("inbox-"))
        self._wake.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.outbox.flush()
        await self._stop_query()
        if self.failure is None:
            await self._save_snapshot(self.shard.last_seq, self.shard.snapshot())
        await self.outbox.stop()
        if self._journal is not None:
            await self._journal.close()
            self._journal = None

    async def close(self) -> None:
        if self.role == "owner":
            await self.hand_over()
        await self._disarm_breaker()
        await self._cancel_tasks()
        await self._stop_query()
        await self.outbox.stop()
        self.role = "stopped"

    # --- standby ----------------------------------------------------------

    async def _follow(self, journal: JetStreamJournal) -> None:
        try:
            tail = journal.last_seq
            if tail <= self.shard.last_seq:
                self.caught_up.set()
            async for rec in journal.follow(after=self.shard.last_seq):
                self._replayed(rec)
                if rec.seq >= tail:
                    self.caught_up.set()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self._fail(exc)

    def _replayed(self, rec: JournalRecord) -> None:
        i = decode_input(rec.payload)
        if i.seq != rec.seq:
            raise CodecError(f"{self.name}: record {rec.seq} carries seq {i.seq}")
        step, numbers = self.shard.apply(i.seq, i.ts, i.source, i.number, i.inbox_seq, i.msg)
        self._effects(i, step, numbers, live=False)

    async def _prune_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                await self.outbox.prune()
            except Exception as exc:  # the bus is away: prune later
                log.debug("%s: prune failed: %s", self.name, exc)

    # --- owner ------------------------------------------------------------

    async def _read_inbox(self) -> None:
        try:
            async for arrival in read_inbox(
                self.conn.js, self.inbox, self.name, self.shard.inbox_seq
            ):
                self._queue.append(arrival)
                self._wake.set()
                if len(self._queue) > 20_000:  # let the sequencer catch up
                    await asyncio.sleep(0.001)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self._fail(exc)

    async def _sequence(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                batch, self._queue = self._queue, []
                if batch:
                    self._apply_batch(batch)
                if self.shard.last_seq - self._snap_seq >= self.snapshot_every:
                    self._snap_seq = self.shard.last_seq
                    marker: asyncio.Future[int] = asyncio.get_running_loop().create_future()
                    marker.set_result(self._snap_seq)
                    self._inflight.put_nowait((marker, [], self.shard.snapshot()))
                if self.role != "owner" and not self._queue:
                    break
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self._fail(exc)
        finally:
            self._inflight.put_nowait(None)

    def _apply_batch(self, batch: list[Arrival]) -> None:
        shard = self.shard
        payloads: list[bytes] = []
        done: list[tuple[Input, Step]] = []
        refusals: list[tuple[str, bytes]] = []
        for a in batch:
            if not shard.admits(a.source, a.number, a.inbox_seq):
                continue
            try:
                _, rid, reply, msg = decode_message(a.payload)
            except CodecError as exc:
                log.error("%s: undecodable message at inbox %d: %s", self.name, a.inbox_seq, exc)
                continue
            seq = shard.last_seq + 1
            ts = max(shard.last_ts, self.clock())
            i = Input(seq, ts, a.inbox_seq, a.source, a.number, rid, reply, msg)
            payload = encode_input(i)
            i = decode_input(payload)  # apply exactly what a replay will read back
            try:
                step, numbers = shard.apply(seq, ts, i.source, i.number, i.inbox_seq, i.msg)
            except (ValueError, TypeError, KeyError) as exc:  # refused; nothing changed
                if a.source:
                    log.error("%s: message %s:%d refused: %s", self.name, a.source, a.number, exc)
                if reply:
                    refusals.append((reply, refusal_reply(rid, f"request refused: {exc}")))
                continue
            payloads.append(payload)
            done.append((i, step))
            self._numbers[seq] = numbers
        for subject, body in refusals:
            self._publish(subject, body)
        if payloads and self._journal is not None:
            written = asyncio.ensure_future(self._journal.append(payloads))
            self._inflight.put_nowait((written, done, None))

    async def _release(self) -> None:
        while True:
            item = await self._inflight.get()
            if item is None:
                return
            written, done, state = item
            try:
                seq = await written
            except BaseException as exc:
                self._fail(exc)
                continue
            if state is not None:
                self._background(self._snapshot_when_sent(seq, state))
                continue
            for i, step in done:
                self._effects(i, step, self._numbers.pop(i.seq, []), live=True)
                self._watch_breaker(step)
            if self.listener is not None:
                try:
                    self.listener(self.name, done)
                except Exception:
                    log.exception("%s: listener failed", self.name)

    def _effects(self, i: Input, step: Step, numbers: list[int], *, live: bool) -> None:
        """Queue the sends of an applied input, and answer its caller."""
        carry = not step.reply
        for k, ((dest, msg), n) in enumerate(zip(step.sends, numbers, strict=True)):
            envelope = (i.rid, i.reply) if carry and k == 0 else ("", "")
            self.outbox.add(dest, n, i.seq, encode_message(msg, n, *envelope))
        if step.reply and i.reply:
            body = outcome_reply(i.rid, self.name, step.outcome)
            self._recent.append((i.ts, i.reply, body))
            if live:
                self._publish(i.reply, body)
        cutoff = i.ts - REPLY_MEMORY_MS
        while self._recent and self._recent[0][0] < cutoff:
            self._recent.popleft()

    # --- circuit breaker ----------------------------------------------------
    # The engine halts a market itself (BREAK until a time) but reads no clock; the owner
    # puts a ResumeMarket in its own inbox when the cooling period is over, so the resume
    # is journaled like any input (as runtime/breakers.py does for the embedded node).

    def _watch_breaker(self, step: Step) -> None:
        for e in step.outcome.events:
            if type(e) is MarketStatusChanged:
                if e.status is MarketStatus.BREAK and e.until:
                    self._arm_breaker(e.until)
                elif self._breaker is not None:
                    self._breaker.cancel()
                    self._breaker = None

    def _arm_breaker(self, until: int) -> None:
        if self._breaker is not None:
            self._breaker.cancel()
        self._breaker = asyncio.create_task(self._resume(until), name=f"breaker-{self.name}")

    async def _disarm_breaker(self) -> None:
        if self._breaker is not None:
            await cancel_and_wait([self._breaker])
            self._breaker = None

    async def _resume(self, until: int) -> None:
        shard = self.shard
        assert isinstance(shard, MatchingShard)
        attempt = 0
        while self.role == "owner":
            await asyncio.sleep(max(0.0, (until - self.clock()) / 1000) + RESUME_RETRY_S * attempt)
            engine = shard.engine
            if engine is None or engine.status is not MarketStatus.BREAK:
                return
            if engine.halted_until != until:
                return  # halted again, with a timer of its own
            rid = f"resume-{self.name}-{until}-{attempt}"  # stored once, whoever sends it
            payload = encode_message(req.ResumeMarket(shard.symbol), 0, rid, "")
            try:
                await publish_request(self.conn.js, self.inbox, self.name, rid, payload)
            except Exception as exc:  # the bus is away for a moment: try again
                log.debug("%s: resume not sent: %s", self.name, exc)
            attempt += 1

    def _publish(self, subject: str, body: bytes) -> None:
        self._background(self.conn.nc.publish(subject, body))

    async def _snapshot_when_sent(self, seq: int, state: bytes) -> None:
        # A snapshot is a recovery point: everything it sent must already be delivered.
        while self.failure is None:
            oldest = self.outbox.oldest_unsent()
            if oldest is None or oldest > seq:
                await self._save_snapshot(seq, state)
                return
            await asyncio.sleep(0.05)

    async def _save_snapshot(self, seq: int, state: bytes) -> None:
        await self.snapshots.save_async(self.name, seq, state, hashlib.sha256(state).hexdigest())

    # --- queries ----------------------------------------------------------

    async def _query(self, msg: Any) -> None:
        try:
            q = orjson.loads(msg.data) if msg.data else {}
            op = q.get("op", "state")
            shard = self.shard
            answer: dict[str, Any] = {"name": self.name, "role": self.role}
            if op == "state":
                answer |= {
                    "last_seq": shard.last_seq,
                    "hash": shard.state_hash(),
                    "inbox_seq": shard.inbox_seq,
                    "sent": shard.sent,
                    "received": shard.received,
                }
            elif op == "balances" and isinstance(shard, AccountsShard):
                user = int(q["user_id"])
                answer["balances"] = {
                    a: [str(v) for v in shard.accounts.balance(user, a)]
                    for a in sorted(shard.accounts.assets)
                }
            elif op == "market" and isinstance(shard, MatchingShard) and shard.engine:
                answer["status"] = shard.engine.status.value
                answer["halted_until"] = shard.engine.halted_until
            elif op == "totals" and isinstance(shard, AccountsShard):
                answer["totals"] = {a: str(v) for a, v in shard.accounts.totals().items()}
            else:
                answer["error"] = f"unknown query {op!r} for {self.name}"
            await msg.respond(orjson.dumps(answer))
        except Exception as exc:  # a bad query gets an answer, never a dead subscription
            await msg.respond(orjson.dumps({"error": str(exc)}))

    async def _stop_query(self) -> None:
        sub, self._query_sub = self._query_sub, None
        if sub is not None:
            try:
                await sub.unsubscribe()
            except Exception as exc:
                log.debug("%s: unsubscribe failed: %s", self.name, exc)

    # --- failure ----------------------------------------------------------

    def _fail(self, exc: BaseException) -> None:
        if self.failure is None:
            self.failure = exc
            log.warning("%s: stopped: %r", self.name, exc)
        self._wake.set()

    async def _cancel_tasks(self) -> None:
        tasks, self._tasks = self._tasks, []
        await cancel_and_wait(tasks)

    def _background(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
