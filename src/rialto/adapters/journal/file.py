"""``FileJournal``: the embedded journal, segmented files with group commit and crash recovery.

    journal = await FileJournal.open("data/journal/match.BTCUSDT")
    last = await journal.append([b"cmd-1", b"cmd-2"])   # durable (fsynced) when it returns
    async for record in journal.read(after=snapshot_seq):
        ...
    await journal.close()

One dedicated writer thread owns the files. ``append`` puts its payloads on a queue and awaits a
future; the writer takes everything queued, frames and writes it, calls ``fdatasync`` once (and
fsyncs the directory when it created a segment), and only then resolves every waiting future
(through ``loop.call_soon_threadsafe``, once per event loop per commit). Appenders that arrive
while a commit is in flight share the next one: that is the group commit. The asyncio loop never
waits for the disk. The on-disk format is in ``segments.py``; the rules are in ``docs/journal.md``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import AsyncIterator, Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from rialto.adapters.files import fsync_dir
from rialto.runtime.journal import Journal, JournalError, JournalRecord

from .segments import (
    HEADER_SIZE,
    MAX_PAYLOAD,
    SEGMENT_HEADER_SIZE,
    encode,
    list_segments,
    read_segment,
    scan_segment,
    segment_header,
    segment_name,
)

__all__ = ["DEFAULT_SEGMENT_BYTES", "FileJournal", "RecoveryReport"]

log = logging.getLogger("rialto.journal")

DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
LOCK_NAME = "LOCK"
_WRITE_BUFFER = 4 * 1024 * 1024  # write() at least this often within one big commit

_sync_data = getattr(os, "fdatasync", os.fsync)


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """What ``open`` cut off: the half-written tail of the last segment."""

    segment: str  # file name
    offset: int  # byte offset of the first byte dropped
    dropped_bytes: int
    reason: str
    last_seq: int  # the last valid seq that remains

    def __str__(self) -> str:
        return (
            f"journal recovery: dropped {self.dropped_bytes} bytes of a half-written tail of "
            f"{self.segment} at byte offset {self.offset} ({self.reason}); "
            f"last valid seq {self.last_seq}"
        )


@dataclass(slots=True)
class _Append:
    payloads: list[bytes]
    loop: asyncio.AbstractEventLoop | None
    future: asyncio.Future[int] | concurrent.futures.Future[int]


@dataclass(frozen=True, slots=True)
class _Segment:
    first_seq: int
    path: Path


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


_Outcome = tuple[asyncio.Future[int], int | BaseException]


def _resolve(results: list[_Outcome]) -> None:
    for fut, value in results:
        if fut.done():  # the caller was cancelled: its records are written all the same
            continue
        if isinstance(value, BaseException):
            fut.set_exception(value)
        else:
            fut.set_result(value)


class FileJournal:
    """The embedded ``Journal``: see the module docstring and ``docs/journal.md``.

    Open it with ``await FileJournal.open(directory)`` (or ``FileJournal.open_sync`` outside an
    event loop); the constructor is internal. Counters, for tests and metrics: ``fsync_count``
    (data fsyncs), ``dir_fsync_count``, ``commit_count`` (group commits), ``records_written``.
    """

    def __init__(
        self,
        directory: Path,
        segment_bytes: int,
        segments: list[_Segment],
        last_seq: int,
        active_size: int,
        lock_fd: int,
        recovery_report: RecoveryReport | None,
    ) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self.recovery_report = recovery_report
        self.fsync_count = 0
        self.dir_fsync_count = 0
        self.commit_count = 0
        self.records_written = 0
        self._lock_fd = lock_fd
        self._segments = segments
        self._segments_lock = threading.Lock()
        self._last_seq = last_seq  # durable; written by the writer thread only
        self._next_seq = last_seq + 1  # writer thread only
        self._fd: int | None = None  # active segment, writer thread only (after __init__)
        self._size = 0  # bytes in the active segment
        if segments:
            self._fd = os.open(segments[-1].path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
            self._size = active_size
        self._cond = threading.Condition(threading.Lock())
        self._pending: list[_Append] = []
        self._closing = False
        self._closed = False
        self._failed: JournalError | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"journal-writer:{directory.name}", daemon=True
        )
        self._thread.start()

    # ------------------------------------------------------------------ opening and recovery

    @classmethod
    async def open(
        cls, directory: str | os.PathLike[str], *, segment_bytes: int = DEFAULT_SEGMENT_BYTES
    ) -> FileJournal:
        """Open (creating it if needed) and recover the journal in ``directory``.

        Runs the recovery scan in a thread. Raises ``JournalError`` when the journal is damaged
        anywhere but at its very tail, has a gap, or is open in another journal/process.
        """
        return await asyncio.to_thread(cls.open_sync, directory, segment_bytes=segment_bytes)

    @classmethod
    def open_sync(
        cls, directory: str | os.PathLike[str], *, segment_bytes: int = DEFAULT_SEGMENT_BYTES
    ) -> FileJournal:
        """``open`` for code without an event loop (``append`` still needs one; or use
        ``append_sync``)."""
        if segment_bytes <= SEGMENT_HEADER_SIZE + HEADER_SIZE:
            raise ValueError(f"segment_bytes too small: {segment_bytes}")
        path = Path(directory)
        if not path.is_dir():
            path.mkdir(parents=True, exist_ok=True)
            fsync_dir(path.parent)
        lock_fd = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock_fd)
            raise JournalError(
                f"{path}: the journal is already open (locked by {LOCK_NAME})"
            ) from None
        try:
            segments, last_seq, active_size, report = _recover(path)
            journal = cls(path, segment_bytes, segments, last_seq, active_size, lock_fd, report)
        except BaseException:
            os.close(lock_fd)  # releases the lock
            raise
        log.info("journal %s open: %d segments, last seq %d", path, len(segments), last_seq)
        return journal

    # ------------------------------------------------------------------ the Journal port

    @property
    def last_seq(self) -> int:
        """The seq of the last durable record (0 for an empty journal)."""
        return self._last_seq

    @property
    def first_seq(self) -> int:
        """The seq of the oldest record still held (> 1 after ``truncate_before``)."""
        with self._segments_lock:
            return self._segments[0].first_seq if self._segments else self._last_seq + 1

    async def append(self, payloads: Sequence[bytes]) -> int:
        """Append records; return the seq of the last once all are durable (fsynced).

        Cancelling the caller does not take the records back: they are written all the same.
        ``append([])`` waits for everything queued before it and returns the last seq then.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        self._submit(_Append(self._checked(payloads), loop, future))
        return await future

    def append_sync(self, payloads: Sequence[bytes]) -> int:
        """``append`` for a plain thread (never call it on an event loop's thread)."""
        future: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._submit(_Append(self._checked(payloads), None, future))
        return future.result()

    async def read(self, after: int = 0) -> AsyncIterator[JournalRecord]:
        """Every durable record with ``seq > after``, in order, until it has caught up.

        Files are read and checked in a thread, in chunks of several MiB; records are yielded on
        the loop. A damaged record raises ``JournalError`` naming the segment and byte offset.
        """
        batches = self.read_batches_sync(after)
        try:
            while True:
                batch = await asyncio.to_thread(next, batches, None)
                if batch is None:
                    return
                for record in batch:
                    yield record
        finally:
            # ValueError: cancelled while a thread still reads: the generator is dropped later
            with contextlib.suppress(ValueError):
                batches.close()

    def read_sync(self, after: int = 0) -> Iterator[JournalRecord]:
        """``read`` as a plain generator, for a thread."""
        for batch in self.read_batches_sync(after):
            yield from batch

    def read_batches_sync(self, after: int = 0) -> Generator[list[JournalRecord], None, None]:
        """Records with ``seq > after`` in lists (one per chunk read): the fastest way to replay.

        Reads up to the durable end, then checks whether more became durable meanwhile and goes
        on until it has caught up.
        """
        if after < 0:
            raise ValueError(f"after must be >= 0, got {after}")
        pos = after
        while True:
            upto = self._last_seq
            if pos >= upto:
                return
            with self._segments_lock:
                segments = list(self._segments)
            if pos + 1 < segments[0].first_seq:
                raise JournalError(
                    f"{self.directory}: records {pos + 1}..{segments[0].first_seq - 1} are gone "
                    f"(removed by truncate_before); the journal starts at {segments[0].first_seq}"
                )
            for i, seg in enumerate(segments):
                if seg.first_seq > upto:
                    break
                seg_last = segments[i + 1].first_seq - 1 if i + 1 < len(segments) else upto
                if seg_last <= pos:
                    continue
                seg_upto = min(seg_last, upto)
                yield from read_segment(seg.path, seg.first_seq, pos, seg_upto)
                pos = seg_upto
                if pos >= upto:
                    break

    async def truncate_before(self, seq: int) -> list[str]:
        """Delete the segments whose records all have a seq below ``seq``; return their names.

        After a snapshot at position S, ``truncate_before(S + 1)`` frees what replay no longer
        needs. The active (last) segment is never deleted, so a journal keeps its numbering.
        """
        return await asyncio.to_thread(self.truncate_before_sync, seq)

    def truncate_before_sync(self, seq: int) -> list[str]:
        with self._segments_lock:
            segments = self._segments
            n = 0
            while (
                n + 1 < len(segments)
                and segments[n + 1].first_seq <= seq
                and segments[n + 1].first_seq - 1 <= self._last_seq
            ):
                n += 1
            removed, self._segments = segments[:n], segments[n:]
        for seg in removed:  # oldest first: a crash half-way leaves a contiguous journal
            seg.path.unlink()
        if removed:
            fsync_dir(self.directory)
            log.info("journal %s: removed %d segments below seq %d", self.directory, n, seq)
        return [seg.path.name for seg in removed]

    async def close(self) -> None:
        """Finish every queued append, stop the writer, release the files and the lock."""
        await asyncio.to_thread(self.close_sync)

    def close_sync(self) -> None:
        with self._cond:
            if self._closed:
                return
            self._closing = True
            self._cond.notify_all()
        self._thread.join()
        with self._cond:
            if self._closed:
                return
            self._closed = True
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        os.close(self._lock_fd)

    async def __aenter__(self) -> FileJournal:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def segment_files(self) -> list[Path]:
        with self._segments_lock:
            return [seg.path for seg in self._segments]

    # ------------------------------------------------------------------ the writer thread

    @staticmethod
    def _checked(payloads: Sequence[bytes]) -> list[bytes]:
        out: list[bytes] = []
        for p in payloads:
            if type(p) is not bytes:
                if not isinstance(p, bytes | bytearray | memoryview):
                    raise TypeError(f"journal payloads are bytes, got {type(p).__name__}")
                p = bytes(p)  # a private copy: the caller may change its buffer meanwhile
            if len(p) > MAX_PAYLOAD:
                raise ValueError(f"journal payload of {len(p)} bytes > {MAX_PAYLOAD}")
            out.append(p)
        return out

    def _submit(self, item: _Append) -> None:
        with self._cond:
            if self._failed is not None:
                raise self._failed
            if self._closing:
                raise JournalError(f"{self.directory}: the journal is closed")
            self._pending.append(item)
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    self._cond.wait()
                if not self._pending:
                    return
                batch, self._pending = self._pending, []
            try:
                results = self._commit(batch)
            except BaseException as exc:
                error = JournalError(
                    f"{self.directory}: write failed ({exc!r}); the journal refuses further "
                    "appends: reopen it to recover"
                )
                log.error("%s", error)
                with self._cond:
                    self._failed = error
                    batch += self._pending
                    self._pending = []
                self._settle(batch, [error] * len(batch))
                return
            self._settle(batch, results)

    def _commit(self, batch: list[_Append]) -> list[int]:
        """Write every record of ``batch``, make it durable, return each append's last seq."""
        results: list[int] = []
        seq = self._next_seq
        parts: list[bytes] = []
        buffered = 0
        dir_dirty = False  # a segment was created and the directory not fsynced since
        written = 0
        limit = self.segment_bytes
        for item in batch:
            for payload in item.payloads:
                size = HEADER_SIZE + len(payload)
                if self._fd is None or (
                    self._size + size > limit and self._size > SEGMENT_HEADER_SIZE
                ):
                    if self._fd is not None:  # a full segment is durable before the next exists
                        if parts:
                            _write_all(self._fd, b"".join(parts))
                            parts, buffered = [], 0
                        _sync_data(self._fd)
                        self.fsync_count += 1
                        os.close(self._fd)
                        self._fd = None
                    if dir_dirty:  # the full segment's name is durable before the next exists
                        fsync_dir(self.directory)
                        self.dir_fsync_count += 1
                    self._fd = self._create_segment(seq)
                    dir_dirty = True
                    parts.append(segment_header(seq))
                    self._size = SEGMENT_HEADER_SIZE
                parts.append(encode(seq, payload))
                self._size += size
                buffered += size
                seq += 1
                written += 1
                if buffered >= _WRITE_BUFFER:
                    _write_all(self._fd, b"".join(parts))
                    parts, buffered = [], 0
            results.append(seq - 1)
        if written:
            assert self._fd is not None
            if parts:
                _write_all(self._fd, b"".join(parts))
            _sync_data(self._fd)
            self.fsync_count += 1
            if dir_dirty:
                fsync_dir(self.directory)
                self.dir_fsync_count += 1
            self.commit_count += 1
            self.records_written += written
            self._next_seq = seq
            self._last_seq = seq - 1
        return results

    def _create_segment(self, first_seq: int) -> int:
        path = self.directory / segment_name(first_seq)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        with self._segments_lock:
            self._segments.append(_Segment(first_seq, path))
        return fd

    def _settle(self, batch: list[_Append], results: Sequence[int | BaseException]) -> None:
        per_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
        for item, value in zip(batch, results, strict=True):
            if item.loop is None:
                assert isinstance(item.future, concurrent.futures.Future)
                if isinstance(value, BaseException):
                    item.future.set_exception(value)
                else:
                    item.future.set_result(value)
            else:
                assert isinstance(item.future, asyncio.Future)
                per_loop.setdefault(item.loop, []).append((item.future, value))
        for loop, pairs in per_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                loop.call_soon_threadsafe(_resolve, pairs)


def _recover(directory: Path) -> tuple[list[_Segment], int, int, RecoveryReport | None]:
    """Check every segment; cut a half-written tail off the last one.

    Returns (segments, last seq, size of the last segment, the report of what was cut).
    """
    found = list_segments(directory)
    segments: list[_Segment] = []
    report: RecoveryReport | None = None
    last_seq = 0
    size = 0
    for i, (first_seq, path) in enumerate(found):
        is_last = i == len(found) - 1
        if segments and first_seq != last_seq + 1:
            prev = segments[-1].path.name
            if first_seq > last_seq + 1:
                raise JournalError(
                    f"{directory}: missing records {last_seq + 1}..{first_seq - 1}: {prev} ends "
                    f"at seq {last_seq} and the next segment, {path.name}, starts at {first_seq}"
                )
            raise JournalError(
                f"{directory}: {path.name} starts at seq {first_seq} but {prev} already holds "
                f"records up to {last_seq}"
            )
        scan = scan_segment(path, first_seq)
        damage = scan.damage
        if damage is not None:
            where = f"{path}: {damage.reason} at byte offset {damage.offset}"
            if not is_last:
                raise JournalError(f"{where} (segment {i + 1} of {len(found)}, not the last)")
            if not damage.torn:
                raise JournalError(where)
            report = RecoveryReport(
                path.name, damage.offset, scan.size - damage.offset, damage.reason, scan.last_seq
            )
            if damage.offset == 0:  # its creation was cut short: it holds nothing
                if segments or first_seq == 1:
                    path.unlink()
                    fsync_dir(directory)
                    report = RecoveryReport(
                        path.name, 0, scan.size, damage.reason + "; segment removed", last_seq
                    )
                    log.warning("%s", report)
                    break
                with open(path, "wb") as f:  # the only segment: keep its numbering
                    f.write(segment_header(first_seq))
                    f.flush()
                    os.fsync(f.fileno())
                report = RecoveryReport(
                    path.name, 0, scan.size, damage.reason + "; header rewritten", first_seq - 1
                )
                log.warning("%s", report)
                segments.append(_Segment(first_seq, path))
                last_seq, size = first_seq - 1, SEGMENT_HEADER_SIZE
                break
            with open(path, "r+b") as f:
                f.truncate(damage.offset)
                f.flush()
                os.fsync(f.fileno())
            log.warning("%s", report)
        segments.append(_Segment(first_seq, path))
        last_seq = scan.last_seq
        size = scan.valid_end
    return segments, last_seq, size, report


def _conforms(journal: FileJournal) -> Journal:  # mypy: FileJournal implements the port
    return journal
