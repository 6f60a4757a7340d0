"""Shard inboxes on NATS JetStream: what callers and other shards send to a shard.

Stream ``RIALTO_IN`` holds subject ``in.<dest>.<source>`` for each sender: ``_`` for
callers, the sending shard's name otherwise. A caller's request is one message with
``Nats-Msg-Id`` = its request id (a retried request is stored once). A shard's sends to
one destination go out as frames (like the journal's) whose records are numbered 1, 2,
3, ... per (source, destination); header ``Rialto-Seq`` is the first number. Because
each pair has its own subject, the last message of ``in.<dest>.<source>`` says how far
the destination has been sent to, which a new owner of the source asks after a failover.

The owner of a shard reads its inbox with an ordered consumer from its own last applied
inbox position; nothing is acknowledged, the journal records what was taken.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import NamedTuple

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from rialto.adapters.nats.jetstream_journal import (
    HDR_COUNT,
    HDR_MSG_ID,
    HDR_SEQ,
    decode_frame,
    encode_frame,
)
from rialto.adapters.nats.tasks import cancel_and_wait

log = logging.getLogger("rialto.nats.inbox")
CALLER = "_"
BUFFERED = 50_000  # messages taken from the server but not yet yielded


@dataclass(frozen=True, slots=True)
class InboxSpec:
    name: str = "RIALTO_IN"
    prefix: str = "in"
    duplicate_window: float = 120.0

    def subject(self, dest: str, source: str = CALLER) -> str:
        return f"{self.prefix}.{dest}.{source or CALLER}"

    def config(self) -> StreamConfig:
        return StreamConfig(
            name=self.name,
            subjects=[f"{self.prefix}.>"],
            storage=StorageType.FILE,
            retention=RetentionPolicy.LIMITS,
            discard=DiscardPolicy.OLD,
            max_msgs=-1,
            max_bytes=-1,
            max_age=0,
            duplicate_window=self.duplicate_window,
            allow_direct=True,
        )


async def ensure_inbox(js: JetStreamContext, spec: InboxSpec) -> None:
    try:
        await js.stream_info(spec.name)
    except nats.js.errors.NotFoundError:
        try:
            await js.add_stream(spec.config())
        except nats.js.errors.BadRequestError:
            await js.stream_info(spec.name)  # created concurrently


class Arrival(NamedTuple):
    """One record from a shard's inbox."""

    inbox_seq: int
    source: str  # "" for a caller
    number: int  # 0 for a caller
    payload: bytes


async def read_inbox(
    js: JetStreamContext, spec: InboxSpec, dest: str, start: int
) -> AsyncIterator[Arrival]:
    """Every record sent to ``dest`` from inbox position ``start`` on, for ever.

    Messages are taken by a callback into a bounded buffer and yielded in bursts:
    ``next_msg`` per message cost four times the CPU (a task and a ``wait_for`` each).
    """
    received: collections.deque[Msg] = collections.deque()
    ready, room = asyncio.Event(), asyncio.Event()
    room.set()

    async def on_msg(msg: Msg) -> None:
        received.append(msg)
        ready.set()
        if len(received) >= BUFFERED:  # let nats-py's own pending limits take over
            room.clear()
            await room.wait()

    sub = await js.subscribe(
        f"{spec.prefix}.{dest}.*",
        stream=spec.name,
        cb=on_msg,
        ordered_consumer=True,
        config=ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=max(1, start)
        ),
        pending_msgs_limit=1_000_000,
    )
    try:
        while True:
            await ready.wait()
            ready.clear()
            while received:
                msg = received.popleft()
                inbox_seq = msg.metadata.sequence.stream
                source = msg.subject.rsplit(".", 1)[1]
                if source == CALLER:
                    yield Arrival(inbox_seq, "", 0, msg.data)
                else:
                    h = msg.headers or {}
                    first, count = int(h[HDR_SEQ]), int(h[HDR_COUNT])
                    for i, payload in enumerate(decode_frame(msg.data, count)):
                        yield Arrival(inbox_seq, source, first + i, payload)
            room.set()
    finally:
        try:
            await sub.unsubscribe()
        except Exception as exc:
            log.debug("inbox %s: unsubscribe failed: %s", dest, exc)


async def publish_request(
    js: JetStreamContext, spec: InboxSpec, dest: str, rid: str, payload: bytes
) -> int:
    """Put a caller's request in ``dest``'s inbox (stored once per ``rid``); its position."""
    ack = await js.publish(
        spec.subject(dest), payload, stream=spec.name, headers={HDR_MSG_ID: rid}, timeout=5.0
    )
    return ack.seq


async def delivered(js: JetStreamContext, spec: InboxSpec, dest: str, source: str) -> int:
    """The last message number ``source`` has stored in ``dest``'s inbox (0: none)."""
    try:
        raw = await js.get_last_msg(spec.name, spec.subject(dest, source), direct=True)
    except nats.js.errors.NotFoundError:
        return 0
    h = {str(k): str(v) for k, v in (raw.headers or {}).items()}
    return int(h[HDR_SEQ]) + int(h[HDR_COUNT]) - 1


class Outbox:
    """A shard's sends, kept until stored in their destination's inbox, then sent in order.

    A standby fills it while following the journal and only prunes it (asking each
    destination how far it got); the owner also sends. Per destination one frame is in
    flight at a time, holding everything queued: order is kept, batching is automatic.
    """

    def __init__(
        self,
        js: JetStreamContext,
        spec: InboxSpec,
        source: str,
        max_frame_bytes: int = 256 * 1024,
    ) -> None:
        self._js = js
        self._spec = spec
        self.source = source
        self._max = max_frame_bytes
        # dest -> list of (number, journal seq of the record that sent it, payload)
        self._queued: dict[str, list[tuple[int, int, bytes]]] = {}
        self._senders: dict[str, asyncio.Task[None]] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self.sending = False
        self.failure: BaseException | None = None

    def add(self, dest: str, number: int, seq: int, payload: bytes) -> None:
        self._queued.setdefault(dest, []).append((number, seq, payload))
        if self.sending:
            self._kick(dest)

    def oldest_unsent(self) -> int | None:
        """Journal seq of the oldest record with a send not yet stored (None: all stored)."""
        heads = [q[0][1] for q in self._queued.values() if q]
        return min(heads) if heads else None

    async def prune(self) -> None:
        """Drop what each destination already has (after a failover, or as a standby)."""
        for dest, queue in list(self._queued.items()):
            if not queue:
                continue
            have = await delivered(self._js, self._spec, dest, self.source)
            self._queued[dest] = [item for item in queue if item[0] > have]

    def start(self) -> None:
        self.sending = True
        for dest in self._queued:
            self._kick(dest)

    async def stop(self) -> None:
        self.sending = False
        await cancel_and_wait(self._senders.values())
        self._senders.clear()

    async def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued is stored; False on timeout."""
        deadline = asyncio.get_running_loop().time() + timeout
        while any(self._queued.values()):
            if asyncio.get_running_loop().time() > deadline or self.failure is not None:
                return False
            await asyncio.sleep(0.005)
        return True

    def _kick(self, dest: str) -> None:
        event = self._wake.setdefault(dest, asyncio.Event())
        event.set()
        task = self._senders.get(dest)
        if task is None or task.done():
            self._senders[dest] = asyncio.create_task(
                self._send_loop(dest, event), name=f"outbox-{self.source}-{dest}"
            )

    async def _send_loop(self, dest: str, wake: asyncio.Event) -> None:
        subject = self._spec.subject(dest, self.source)
        backoff = 0.05
        while self.sending:
            queue = self._queued.get(dest) or []
            if not queue:
                wake.clear()
                await wake.wait()
                continue
            frame: list[tuple[int, int, bytes]] = []
            size = 0
            for item in queue:
                if frame and size + len(item[2]) + 4 > self._max:
                    break
                frame.append(item)
                size += len(item[2]) + 4
            first, last = frame[0][0], frame[-1][0]
            headers = {
                HDR_SEQ: str(first),
                HDR_COUNT: str(len(frame)),
                HDR_MSG_ID: f"{self.source}>{dest}:{first}:{last}",
            }
            try:
                await self._js.publish(
                    subject,
                    encode_frame([p for _, _, p in frame]),
                    stream=self._spec.name,
                    headers=headers,
                    timeout=5.0,
                )
            except (TimeoutError, nats.errors.Error) as exc:
                log.warning("outbox %s>%s: %s; retrying", self.source, dest, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            backoff = 0.05
            current = self._queued.get(dest) or []
            self._queued[dest] = [item for item in current if item[0] > last]
