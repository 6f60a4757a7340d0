"""The Journal port on NATS JetStream: one subject per shard in one file-backed stream.

Layout (see docs/nats.md):

* stream ``RIALTO_CMD`` (file storage, no limits, ``deny_delete``) on subjects ``cmd.>``;
  shard ``X`` writes to ``cmd.X``. The stream sequence orders all shards; the per-subject
  order is the shard's journal.
* One NATS message is one **frame**: the records of one group commit, in order. Headers:

  ``Rialto-Seq``      journal seq of the frame's first record (records are contiguous from 1)
  ``Rialto-Count``    number of records in the frame
  ``Rialto-Fence``    the writer's fencing token (its lease revision; 0 without a lease)
  ``Rialto-Writer``   random id of the journal instance that wrote the frame
  ``Nats-Msg-Id``     ``f"{shard}:{first seq}"``: a re-sent frame is stored once
  ``Nats-Expected-Last-Subject-Sequence``  stream seq of the subject's previous frame

  The payload is the records, each as a 4-byte big-endian length and its bytes.

Why frames and not one message per record with ``publish_async``: the fence
(``Nats-Expected-Last-Subject-Sequence``) names the stream sequence of the subject's previous
message, which for a pipelined message is not known until its predecessor is acknowledged
(other shards interleave in the same stream). Fencing only the first message of a window is
unsafe: when that message is rejected the unfenced rest of the window is still stored, after
the new owner's records (``test_nats_journal.py::test_fence_only_first_of_window_is_unsafe``
shows it). A frame is fenced exactly, stored atomically on every server version (2.9 has no
atomic batches) and carries many records per round trip, which is where the throughput of
``publish_async`` came from in the first place. Frames are sent one at a time; while one is
in flight new appends queue up and go out together in the next (group commit).

Retries: a frame whose acknowledgement is lost is re-sent unchanged. The server then answers
either ``duplicate`` (2.9 checks ``Nats-Msg-Id`` first) or ``wrong last sequence`` (2.15 checks
the expectation first); in both cases the journal looks at the stored frame and accepts only
if it is its own (same ``Rialto-Writer`` and ``Rialto-Seq``). Anything else means another
writer owns the shard: :class:`~rialto.runtime.journal.JournalError` ``fenced: ...`` and the
journal refuses every later append.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RawStreamMsg,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from rialto.adapters.nats.connect import NatsConnection
from rialto.adapters.nats.tasks import cancelled_while_delivering
from rialto.runtime.journal import JournalError, JournalRecord

if TYPE_CHECKING:
    from rialto.runtime.journal import Journal

__all__ = [
    "HDR_COUNT",
    "HDR_FENCE",
    "HDR_SEQ",
    "HDR_WRITER",
    "JetStreamJournal",
    "StreamSpec",
    "decode_frame",
    "encode_frame",
    "ensure_stream",
]

log = logging.getLogger("rialto.nats.journal")

HDR_SEQ = "Rialto-Seq"
HDR_COUNT = "Rialto-Count"
HDR_FENCE = "Rialto-Fence"
HDR_WRITER = "Rialto-Writer"
HDR_MSG_ID = "Nats-Msg-Id"
HDR_EXPECT_LAST_SUBJECT_SEQ = "Nats-Expected-Last-Subject-Sequence"

ERR_WRONG_LAST_SEQUENCE = 10071
_LEN = 4  # bytes of a record's length prefix
_HEADER_ROOM = 1024  # bytes kept free in a frame for the headers and the subject
_RETRYABLE = (
    nats.errors.TimeoutError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.StaleConnectionError,
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.ServiceUnavailableError,
    asyncio.TimeoutError,
)
_BAD_TOKEN = frozenset(".*> \t\r\n")


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """The stream that holds every shard's journal (one subject per shard)."""

    name: str = "RIALTO_CMD"
    prefix: str = "cmd"
    duplicate_window: float = 120.0
    replicas: int = 1

    def subject(self, shard: str) -> str:
        return f"{self.prefix}.{shard}"

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
            max_msgs_per_subject=-1,
            duplicate_window=self.duplicate_window,
            num_replicas=self.replicas,
            allow_direct=True,
            deny_delete=True,
        )


def encode_frame(payloads: Sequence[bytes]) -> bytes:
    parts: list[bytes] = []
    for p in payloads:
        parts.append(len(p).to_bytes(_LEN, "big"))
        parts.append(p)
    return b"".join(parts)


def decode_frame(data: bytes, count: int) -> list[bytes]:
    out: list[bytes] = []
    view = memoryview(data)
    pos = 0
    while pos < len(view):
        if pos + _LEN > len(view):
            raise JournalError("corrupt frame: truncated length prefix")
        n = int.from_bytes(view[pos : pos + _LEN], "big")
        pos += _LEN
        if pos + n > len(view):
            raise JournalError("corrupt frame: truncated record")
        out.append(bytes(view[pos : pos + n]))
        pos += n
    if len(out) != count:
        raise JournalError(f"corrupt frame: {len(out)} records, header says {count}")
    return out


async def ensure_stream(js: JetStreamContext, spec: StreamSpec) -> StreamConfig:
    """Create the stream if it is missing; refuse one whose limits could drop records."""
    try:
        info = await js.stream_info(spec.name)
    except nats.js.errors.NotFoundError:
        try:
            info = await js.add_stream(spec.config())
        except nats.js.errors.BadRequestError:
            # Created concurrently by another process (with a config of its own): check it.
            info = await js.stream_info(spec.name)
    cfg = info.config
    problems = []
    if f"{spec.prefix}.>" not in (cfg.subjects or []):
        problems.append(f"subjects {cfg.subjects} do not include {spec.prefix}.>")
    if cfg.storage != StorageType.FILE:
        problems.append(f"storage is {cfg.storage}, not file")
    if cfg.retention not in (None, RetentionPolicy.LIMITS):
        problems.append(f"retention is {cfg.retention}, not limits")
    for name in ("max_msgs", "max_bytes", "max_msgs_per_subject"):
        value = getattr(cfg, name)
        if value not in (None, -1, 0):
            problems.append(f"{name}={value} would drop records")
    if cfg.max_age not in (None, 0, 0.0):
        problems.append(f"max_age={cfg.max_age} would drop records")
    if problems:
        raise JournalError(f"stream {spec.name} cannot hold journals: {'; '.join(problems)}")
    return cfg


def _fail_future(future: asyncio.Future[int], error: JournalError) -> None:
    if not future.done():
        future.set_exception(JournalError(str(error)))
        future.exception()  # retrieved: a caller that gave up (cancelled) leaves no warning


@dataclass(slots=True)
class _Pending:
    first: int
    payloads: Sequence[bytes]
    future: asyncio.Future[int]

    @property
    def last(self) -> int:
        return self.first + len(self.payloads) - 1


@dataclass(frozen=True, slots=True)
class _Frame:
    stream_seq: int
    first: int
    count: int
    fence: int
    writer: str
    data: bytes = field(repr=False)

    @property
    def last(self) -> int:
        return self.first + self.count - 1

    @classmethod
    def parse(cls, stream_seq: int, headers: Mapping[str, str] | None, data: bytes) -> _Frame:
        h = headers or {}
        try:
            first = int(h[HDR_SEQ])
            count = int(h[HDR_COUNT])
            fence = int(h.get(HDR_FENCE, "0"))
        except (KeyError, ValueError) as exc:
            raise JournalError(
                f"stream seq {stream_seq} is not a journal frame (headers {dict(h)})"
            ) from exc
        if first < 1 or count < 1:
            raise JournalError(f"stream seq {stream_seq}: bad frame seq={first} count={count}")
        return cls(stream_seq, first, count, fence, h.get(HDR_WRITER, ""), data)


class JetStreamJournal:
    """One shard's journal. Use :meth:`open`; one writer per shard at a time (fenced)."""

    def __init__(
        self,
        conn: NatsConnection,
        shard: str,
        *,
        fence: int = 0,
        stream: StreamSpec | None = None,
        max_frame_bytes: int = 512 * 1024,
        publish_timeout: float = 5.0,
        retry_for: float = 30.0,
        read_timeout: float = 10.0,
    ) -> None:
        if not shard or _BAD_TOKEN & set(shard):
            raise ValueError(f"shard name must be one NATS subject token: {shard!r}")
        self._conn = conn
        self._js = conn.js
        self.shard = shard
        self.fence = fence
        self.stream = stream or StreamSpec()
        self.subject = self.stream.subject(shard)
        self.writer_id = secrets.token_hex(8)
        self._frame_limit = max(64, min(max_frame_bytes, conn.max_payload - _HEADER_ROOM))
        self._publish_timeout = publish_timeout
        self._retry_for = retry_for
        self._read_timeout = read_timeout
        self._last_seq = 0  # durable
        self._assigned = 0  # handed out to appenders (>= _last_seq)
        self._subject_seq = 0  # stream seq of the subject's last frame (the fence)
        self._queue: list[_Pending] = []
        self._flusher: asyncio.Task[None] | None = None
        self._failure: JournalError | None = None
        self._closed = False
        self._direct = True
        self.frames_written = 0

    # ------------------------------------------------------------------ opening
    @classmethod
    async def open(
        cls,
        conn: NatsConnection,
        shard: str,
        *,
        fence: int = 0,
        stream: StreamSpec | None = None,
        create_stream: bool = True,
        **options: Any,
    ) -> JetStreamJournal:
        """Open shard ``shard``: restore ``last_seq`` and the fence from the subject's tail.

        ``fence`` is the writer's lease token. If the tail was written with a higher token,
        a newer owner exists and this raises ``JournalError`` at once.
        """
        journal = cls(conn, shard, fence=fence, stream=stream, **options)
        if create_stream:
            cfg = await ensure_stream(journal._js, journal.stream)
        else:
            cfg = (await journal._js.stream_info(journal.stream.name)).config
        journal._direct = bool(cfg.allow_direct)
        if journal._retry_for >= cfg.duplicate_window:
            raise ValueError(
                f"retry_for ({journal._retry_for}s) must be shorter than the stream's "
                f"duplicate_window ({cfg.duplicate_window}s)"
            )
        tail = await journal._tail()
        if tail is not None:
            if fence and tail.fence > fence:
                raise JournalError(
                    f"fenced: another writer owns shard {shard} "
                    f"(tail written with token {tail.fence} > ours {fence})"
                )
            journal._last_seq = journal._assigned = tail.last
            journal._subject_seq = tail.stream_seq
        log.debug("journal %s opened at seq %d", shard, journal._last_seq)
        return journal

    # ------------------------------------------------------------------ the port
    @property
    def last_seq(self) -> int:
        return self._last_seq

    @property
    def appended_seq(self) -> int:
        """The seq of the last record handed to :meth:`append` (durable or not yet)."""
        return self._assigned

    async def append(self, payloads: Sequence[bytes]) -> int:
        self._check_writable()
        if not payloads:
            return self._last_seq
        for p in payloads:
            if len(p) + _LEN > self._frame_limit:
                raise JournalError(
                    f"record of {len(p)} bytes exceeds the frame limit ({self._frame_limit})"
                )
        pending = _Pending(
            self._assigned + 1, list(payloads), asyncio.get_running_loop().create_future()
        )
        self._assigned = pending.last
        self._queue.append(pending)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_loop(), name=f"journal-{self.shard}")
        # shield: a cancelled caller must not cancel the shared commit.
        return await asyncio.shield(pending.future)

    async def read(self, after: int = 0) -> AsyncIterator[JournalRecord]:
        """Every durable record with ``seq > after``, up to the tail at the time of the call."""
        if after < 0:
            raise ValueError("after must be >= 0")
        tail = await self._tail()
        if tail is None or tail.last <= after:
            return
        start = 1 if after == 0 else await self._locate(after + 1, tail.stream_seq)
        async for rec in self._records(after, start, tail.last):
            yield rec

    async def follow(self, after: int = 0) -> AsyncIterator[JournalRecord]:
        """Every record with ``seq > after``, then each new one as it is written (a standby).

        Never ends by itself; an ordered consumer, so nothing is acknowledged or shared.
        """
        if after < 0:
            raise ValueError("after must be >= 0")
        tail = await self._tail()
        start = 1
        if tail is not None and tail.last > after and after > 0:
            start = await self._locate(after + 1, tail.stream_seq)
        elif tail is not None and tail.last <= after:
            start = tail.stream_seq + 1
        async for rec in self._records(after, start, None):
            yield rec

    async def _records(
        self, after: int, start: int, end: int | None
    ) -> AsyncIterator[JournalRecord]:
        sub = await self._js.subscribe(
            self.subject,
            stream=self.stream.name,
            ordered_consumer=True,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start
            ),
        )
        try:
            expect = after + 1
            while end is None or expect <= end:
                try:
                    msg = await sub.next_msg(timeout=self._read_timeout if end else 1.0)
                    cancelled_while_delivering()
                except nats.errors.TimeoutError as exc:
                    if end is None:
                        cancelled_while_delivering()
                        continue
                    raise JournalError(
                        f"journal {self.shard}: no frame for seq {expect} within "
                        f"{self._read_timeout}s (tail is {end})"
                    ) from exc
                frame = self._frame_of(msg)
                if frame.last < expect:
                    if expect > after + 1:  # already past the start: a repeated frame
                        raise JournalError(
                            f"journal {self.shard}: frame {frame.first}..{frame.last} repeats "
                            f"records before {expect}"
                        )
                    continue
                if frame.first > expect:
                    raise JournalError(f"journal {self.shard}: gap, {expect} missing")
                records = decode_frame(frame.data, frame.count)
                for i in range(expect - frame.first, frame.count):
                    yield JournalRecord(frame.first + i, records[i])
                    expect += 1
                    if end is not None and expect > end:
                        break
        finally:
            try:
                await sub.unsubscribe()
            except Exception as exc:  # connection gone: the server drops the consumer itself
                log.debug("journal %s: unsubscribe failed: %s", self.shard, exc)

    async def close(self) -> None:
        """Wait for queued appends, then refuse new ones. Does not close the connection."""
        self._closed = True
        flusher = self._flusher
        if flusher is not None and not flusher.done():
            await asyncio.wait([flusher])

    # ------------------------------------------------------------------ ownership
    def revoke(self, reason: str) -> None:
        """Stop writing at once (e.g. the lease was lost); queued appends fail."""
        self._fail(JournalError(f"fenced: journal {self.shard} revoked: {reason}"))

    @property
    def failure(self) -> JournalError | None:
        return self._failure

    # ------------------------------------------------------------------ internals
    def _check_writable(self) -> None:
        if self._failure is not None:
            raise JournalError(str(self._failure))
        if self._closed:
            raise JournalError(f"journal {self.shard} is closed")

    def _fail(self, error: JournalError) -> None:
        if self._failure is None:
            self._failure = error
            log.warning("journal %s: %s", self.shard, error)
        queue, self._queue = self._queue, []
        for pending in queue:
            _fail_future(pending.future, error)

    async def _flush_loop(self) -> None:
        while self._queue and self._failure is None:
            batch, self._queue = self._queue, []
            try:
                await self._commit(batch)
            except JournalError as exc:
                self._fail(exc)
                err = exc
            except Exception as exc:  # anything unexpected: the outcome is unknown
                err = JournalError(f"journal {self.shard}: append failed: {exc!r}")
                self._fail(err)
            else:
                continue
            for pending in batch:
                _fail_future(pending.future, err)
            return

    async def _commit(self, batch: list[_Pending]) -> None:
        """Send ``batch`` as frames, in order; resolve each append once all its records are."""
        records: list[bytes] = []
        for pending in batch:
            records.extend(pending.payloads)
        first = batch[0].first
        waiting = list(batch)
        start = 0
        while start < len(records):
            size = 0
            stop = start
            while stop < len(records):
                n = len(records[stop]) + _LEN
                if stop > start and size + n > self._frame_limit:
                    break
                size += n
                stop += 1
            await self._send_frame(first + start, records[start:stop])
            start = stop
            while waiting and waiting[0].last <= self._last_seq:
                done = waiting.pop(0)
                if not done.future.done():
                    done.future.set_result(done.last)

    async def _send_frame(self, first: int, payloads: Sequence[bytes]) -> None:
        """Publish one frame fenced on the subject's last frame; retry it unchanged."""
        data = encode_frame(payloads)
        headers = {
            HDR_MSG_ID: f"{self.shard}:{first}",
            HDR_EXPECT_LAST_SUBJECT_SEQ: str(self._subject_seq),
            HDR_SEQ: str(first),
            HDR_COUNT: str(len(payloads)),
            HDR_FENCE: str(self.fence),
            HDR_WRITER: self.writer_id,
        }
        deadline = time.monotonic() + self._retry_for
        delay = 0.05
        while True:
            if self._failure is not None:
                raise self._failure
            try:
                ack = await self._js.publish(
                    self.subject,
                    data,
                    timeout=self._publish_timeout,
                    stream=self.stream.name,
                    headers=dict(headers),
                )
            except nats.js.errors.APIError as exc:
                if exc.err_code != ERR_WRONG_LAST_SEQUENCE:
                    if isinstance(exc, _RETRYABLE) and time.monotonic() < deadline:
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, 1.0)
                        continue
                    raise JournalError(f"journal {self.shard}: publish rejected: {exc}") from exc
                # Someone else's frame is last - or ours, stored by an attempt whose ack was
                # lost (2.15 checks the expectation before the duplicate window).
                stored = await self._tail()
                if stored is None or not self._is_mine(stored, first, len(payloads)):
                    raise self._fenced() from exc
                self._accept(stored.stream_seq, first, len(payloads))
                return
            except _RETRYABLE as exc:
                if time.monotonic() >= deadline:
                    raise JournalError(
                        f"journal {self.shard}: no acknowledgement for seq {first} within "
                        f"{self._retry_for}s; outcome unknown, reopen to find out"
                    ) from exc
                log.warning("journal %s: publish of seq %d: %r; retrying", self.shard, first, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            if ack.duplicate:
                # 2.9 checks the duplicate window first: is the stored frame ours?
                stored = await self._frame_at(ack.seq)
                if not self._is_mine(stored, first, len(payloads)):
                    raise self._fenced()
            self._accept(ack.seq, first, len(payloads))
            return

    def _accept(self, stream_seq: int, first: int, count: int) -> None:
        self._subject_seq = stream_seq
        self._last_seq = first + count - 1
        self.frames_written += 1

    def _is_mine(self, frame: _Frame, first: int, count: int) -> bool:
        return frame.writer == self.writer_id and frame.first == first and frame.count == count

    def _fenced(self) -> JournalError:
        return JournalError(f"fenced: another writer owns shard {self.shard}")

    def _frame_of(self, msg: Msg) -> _Frame:
        return _Frame.parse(msg.metadata.sequence.stream, msg.headers, msg.data)

    def _raw_frame(self, raw: RawStreamMsg) -> _Frame:
        headers = {str(k): str(v) for k, v in (raw.headers or {}).items()}
        if raw.seq is None:
            raise JournalError(f"journal {self.shard}: stored message without a sequence")
        return _Frame.parse(raw.seq, headers, raw.data or b"")

    async def _tail(self) -> _Frame | None:
        """The subject's last frame, or None."""
        try:
            raw = await self._js.get_last_msg(self.stream.name, self.subject, direct=self._direct)
        except nats.js.errors.NotFoundError:
            return None
        return self._raw_frame(raw)

    async def _frame_at(self, stream_seq: int) -> _Frame:
        raw = await self._js.get_msg(self.stream.name, seq=stream_seq, direct=self._direct)
        return self._raw_frame(raw)

    async def _next_frame(self, stream_seq: int) -> _Frame:
        """The subject's first frame at or after ``stream_seq``."""
        raw = await self._js.get_msg(
            self.stream.name, seq=stream_seq, subject=self.subject, next=True, direct=self._direct
        )
        return self._raw_frame(raw)

    async def _locate(self, seq: int, hi: int) -> int:
        """Stream seq of the frame holding journal ``seq`` (binary search, ~log2(hi) gets)."""
        lo, best = 1, 1
        while lo <= hi:
            mid = (lo + hi) // 2
            frame = await self._next_frame(mid)
            if frame.first <= seq:
                best = frame.stream_seq
                lo = frame.stream_seq + 1
            else:
                hi = mid - 1
        return best


if TYPE_CHECKING:

    def _implements_the_port(journal: JetStreamJournal) -> Journal:
        return journal  # mypy checks JetStreamJournal against the Journal protocol
