"""The exchange over the bus: the node's journal copied to JetStream, replicas that follow it.

``rialto up --bus URL`` publishes every durable batch of journal records to the feed
stream (``RIALTO_FEED``, subject ``feed.exchange``; the same framing and fencing as the
shard journals) and answers requests sent to ``RIALTO_FEED.submit`` (core NATS, queue group
``core``). A :class:`Replica` -- in each ``rialto serve gateway`` -- replays the feed into
its own :class:`Exchange` (the domain is deterministic: same records, same state, same
outcomes), so reads and market data are local; a write goes to the core, whose answer
is the seq of the journaled request; the replica answers once it has applied that seq.

The file journal stays the source of truth: on start the publisher copies to the feed
whatever the journal has beyond the feed's tail (a crash between fsync and publish loses
nothing), and refuses a feed that is ahead of the journal (it belongs to another exchange).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable

import orjson
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from rialto.adapters.journal.file import FileJournal
from rialto.adapters.nats.connect import NatsConnection
from rialto.adapters.nats.jetstream_journal import JetStreamJournal, StreamSpec
from rialto.domain.exchange import Exchange, Outcome
from rialto.domain.requests import Request
from rialto.runtime.codec import decode, encode
from rialto.runtime.journal import JournalError
from rialto.runtime.keyring import SecretBox
from rialto.runtime.node import Node, NodeStopped, RequestError

log = logging.getLogger(__name__)

FEED = StreamSpec(name="RIALTO_FEED", prefix="feed")
FEED_SHARD = "exchange"
SUBMIT_QUEUE = "core"
SUBMIT_TIMEOUT_S = 10.0
RECENT_OUTCOMES = 65_536  # answers a replica keeps for replies that arrive after the apply


def submit_subject(spec: StreamSpec) -> str:
    """Outside the stream's subjects: JetStream would store a request and answer it itself."""
    return f"{spec.name}.submit"


class FeedPublisher:
    """The core's side: the journal copied to the feed, and the submit service."""

    def __init__(self, conn: NatsConnection, node: Node, spec: StreamSpec = FEED) -> None:
        self.conn = conn
        self.node = node
        self.spec = spec
        self._feed: JetStreamJournal | None = None
        self._sub: Subscription | None = None
        self._appends: set[asyncio.Task[None]] = set()  # feed appends and requests in flight

    async def start(self) -> None:
        feed = await JetStreamJournal.open(self.conn, FEED_SHARD, stream=self.spec)
        self._feed = feed
        await self._catch_up(self.node.journal, feed)
        self.node.subscribe_records(self._add)
        self._sub = await self.conn.nc.subscribe(
            submit_subject(self.spec), queue=SUBMIT_QUEUE, cb=self._on_submit
        )

    async def _on_submit(self, msg: Msg) -> None:
        # nats-py awaits a callback before delivering the next message: hand each request
        # to its own task, so requests queue at the sequencer and share its batches.
        task = asyncio.ensure_future(self._submit(msg))
        self._appends.add(task)
        task.add_done_callback(self._appends.discard)

    async def _catch_up(self, journal: FileJournal, feed: JetStreamJournal) -> None:
        if feed.last_seq > journal.last_seq:
            raise JournalError(
                f"feed {self.spec.name} is at seq {feed.last_seq}, ahead of this data "
                f"directory's journal ({journal.last_seq}): it belongs to another exchange"
            )
        batch: list[bytes] = []
        async for record in journal.read(feed.last_seq):
            batch.append(record.payload)
            if len(batch) >= 1000:
                await feed.append(batch)
                batch = []
        if batch:
            await feed.append(batch)
        # Records journaled while catching up reach _add with seqs the feed now holds.

    def _add(self, last: int, records: list[bytes]) -> None:
        feed = self._feed
        if feed is None or not records:
            return
        fresh = last - feed.appended_seq
        if fresh <= 0:
            return
        task = asyncio.ensure_future(self._append(feed, last, records[-fresh:]))
        self._appends.add(task)
        task.add_done_callback(self._appends.discard)

    @staticmethod
    async def _append(feed: JetStreamJournal, last: int, records: list[bytes]) -> None:
        try:
            written = await feed.append(records)
        except JournalError as exc:  # the next start copies what is missing
            log.error("feed: append up to seq %d failed: %s", last, exc)
            return
        if written != last:
            log.error("feed: wrote up to %d, the journal is at %d", written, last)

    async def _submit(self, msg: Msg) -> None:
        try:
            _, _, request = decode(msg.data)
        except ValueError as exc:
            await _answer(msg, {"error": f"bad request: {exc}"})
            return
        try:
            outcome = await self.node.submit(request)
        except RequestError as exc:
            await _answer(msg, {"error": str(exc)})
            return
        except NodeStopped as exc:
            await _answer(msg, {"stopped": str(exc)})
            return
        await _answer(msg, {"seq": outcome.seq})

    async def close(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
        if self._appends:
            await asyncio.gather(*self._appends, return_exceptions=True)
        if self._feed is not None:
            await self._feed.close()


async def _answer(msg: Msg, body: dict[str, object]) -> None:
    if msg.reply:
        with contextlib.suppress(Exception):  # the caller may be gone
            await msg.respond(orjson.dumps(body))


class Replica:
    """The exchange as the feed has it, in this process; writes go to the core.

    Offers what the API needs of a :class:`Node`: ``exchange``, ``durable_seq``,
    ``subscribe`` and ``submit``.
    """

    def __init__(self, conn: NatsConnection, box: SecretBox, spec: StreamSpec = FEED) -> None:
        self.conn = conn
        self.box = box
        self.spec = spec
        self.exchange = Exchange()
        self.durable_seq = 0
        self._subscribers: list[Callable[[list[Outcome]], None]] = []
        self._pending: list[Outcome] = []
        self._flush_scheduled = False
        self._recent: OrderedDict[int, Outcome] = OrderedDict()
        self._waiters: dict[int, list[asyncio.Future[Outcome]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None

    def subscribe(self, subscriber: Callable[[list[Outcome]], None]) -> None:
        self._subscribers.append(subscriber)

    def secret_box(self) -> SecretBox:
        return self.box

    async def start(self, caught_up_timeout: float = 120.0) -> None:
        """Follow the feed; return once the replica has what the feed held at the call."""
        feed = await JetStreamJournal.open(self.conn, FEED_SHARD, stream=self.spec)
        target = feed.last_seq
        self._task = asyncio.create_task(self._follow(feed), name="replica")
        deadline = asyncio.get_running_loop().time() + caught_up_timeout
        while self.durable_seq < target:
            if self._task.done():
                self._task.result()
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"replica at seq {self.durable_seq}, feed at {target}")
            await asyncio.sleep(0.02)

    async def _follow(self, feed: JetStreamJournal) -> None:
        ex = self.exchange
        try:
            async for record in feed.follow(self.durable_seq):
                seq, ts, request = decode(record.payload)
                if seq != ex.last_seq + 1:
                    raise JournalError(f"feed record {seq} after {ex.last_seq}")
                self._pending.append(ex.apply(seq, ts, request))
                self.durable_seq = seq
                if not self._flush_scheduled:
                    self._flush_scheduled = True
                    asyncio.get_running_loop().call_soon(self._flush)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            log.error("replica stopped: %r", exc)
            self._failure = exc
            for waiters in self._waiters.values():
                for w in waiters:
                    if not w.done():
                        w.set_exception(NodeStopped(f"the replica stopped: {exc}"))
            raise

    def _flush(self) -> None:
        self._flush_scheduled = False
        outcomes, self._pending = self._pending, []
        for sub in self._subscribers:
            try:
                sub(outcomes)
            except Exception:
                log.exception("replica subscriber failed")
        recent = self._recent
        for o in outcomes:
            recent[o.seq] = o
            for w in self._waiters.pop(o.seq, ()):
                if not w.done():
                    w.set_result(o)
        while len(recent) > RECENT_OUTCOMES:
            recent.popitem(last=False)

    async def submit(self, request: Request) -> Outcome:
        """Have the core carry out ``request``; its outcome once this replica has applied it."""
        if self._failure is not None:
            raise NodeStopped(f"the replica stopped: {self._failure}")
        try:
            msg = await self.conn.nc.request(
                submit_subject(self.spec), encode(0, 0, request), timeout=SUBMIT_TIMEOUT_S
            )
        except Exception as exc:  # no core, or no answer in time: the outcome is unknown
            raise NodeStopped(f"no answer from the core: {exc!r}") from exc
        answer = orjson.loads(msg.data)
        if "error" in answer:
            raise RequestError(answer["error"])
        if "stopped" in answer:
            raise NodeStopped(answer["stopped"])
        return await self.outcome(int(answer["seq"]))

    async def outcome(self, seq: int) -> Outcome:
        known = self._recent.get(seq)
        if known is not None:
            return known
        if seq <= self.durable_seq:  # applied but not flushed yet, or long gone
            for o in self._pending:
                if o.seq == seq:
                    fut = asyncio.get_running_loop().create_future()
                    self._waiters.setdefault(seq, []).append(fut)
                    return await asyncio.wait_for(fut, SUBMIT_TIMEOUT_S)
            raise NodeStopped(f"outcome of seq {seq} is no longer held")
        fut = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(seq, []).append(fut)
        try:
            return await asyncio.wait_for(fut, SUBMIT_TIMEOUT_S)
        except TimeoutError as exc:
            raise NodeStopped(f"seq {seq} did not reach this replica in time") from exc

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
