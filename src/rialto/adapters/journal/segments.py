"""The on-disk format of the file journal: segment files, record framing, scanning and reading.

A segment is one file, ``NNNNNNNNNNNNNNNNNNNN.seg``, named by the (zero-padded, 20 digits) seq
of the first record it holds. It starts with a 16-byte segment header::

    magic   6 bytes  b"RJRNL\\n"
    version u16      1
    first   u64      the seq of the first record (= the file name)

followed by records, each a 16-byte header and the payload, little-endian::

    length  u32      payload length in bytes
    crc     u32      zlib.crc32 over the 8 seq bytes then the payload
    seq     u64      the record's seq (contiguous: first, first + 1, ...)
    payload length bytes

Everything here is synchronous and does no locking: the journal calls it from its writer thread,
from ``open`` (before the writer exists) and from readers (on files the writer no longer changes,
or below the durable end of the active one).
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rialto.runtime.journal import JournalError, JournalRecord

SEGMENT_MAGIC = b"RJRNL\n"
SEGMENT_VERSION = 1
SEGMENT_HEADER = struct.Struct("<6sHQ")
RECORD_HEADER = struct.Struct("<IIQ")
SEQ = struct.Struct("<Q")
HEADER_SIZE = RECORD_HEADER.size  # 16
SEGMENT_HEADER_SIZE = SEGMENT_HEADER.size  # 16
MAX_PAYLOAD = 256 * 1024 * 1024  # a longer length field is corruption
SEGMENT_SUFFIX = ".seg"
SEGMENT_NAME = re.compile(r"^(\d{20})\.seg$")
READ_CHUNK = 8 * 1024 * 1024

assert HEADER_SIZE == 16 and SEGMENT_HEADER_SIZE == 16


def segment_name(first_seq: int) -> str:
    return f"{first_seq:020d}{SEGMENT_SUFFIX}"


def segment_header(first_seq: int) -> bytes:
    return SEGMENT_HEADER.pack(SEGMENT_MAGIC, SEGMENT_VERSION, first_seq)


def record_crc(seq: int, payload: bytes | memoryview) -> int:
    return zlib.crc32(payload, zlib.crc32(SEQ.pack(seq)))


def encode(seq: int, payload: bytes) -> bytes:
    """One framed record (header + payload)."""
    seq_bytes = SEQ.pack(seq)
    crc = zlib.crc32(payload, zlib.crc32(seq_bytes))
    return RECORD_HEADER.pack(len(payload), crc, seq) + payload


def list_segments(directory: Path) -> list[tuple[int, Path]]:
    """(first seq, path) of every segment file, in seq order.

    A ``*.seg`` file whose name is not 20 digits is an error (someone put it there by hand, or a
    different tool owns this directory); other files are ignored.
    """
    found: list[tuple[int, Path]] = []
    for entry in os.scandir(directory):
        if not entry.name.endswith(SEGMENT_SUFFIX):
            continue
        m = SEGMENT_NAME.match(entry.name)
        if m is None or int(m.group(1)) < 1:
            raise JournalError(
                f"{directory / entry.name}: not a journal segment name "
                f"(expected 20 digits, the seq of its first record, then {SEGMENT_SUFFIX})"
            )
        found.append((int(m.group(1)), Path(entry.path)))
    found.sort()
    return found


@dataclass(frozen=True, slots=True)
class Damage:
    """Where and why a segment stops being a valid sequence of records."""

    offset: int
    reason: str
    torn: bool  # True when no valid record follows: a half-written tail


@dataclass(frozen=True, slots=True)
class SegmentScan:
    path: Path
    first_seq: int
    last_seq: int  # first_seq - 1 when the segment holds no valid record
    valid_end: int  # byte offset just past the last valid record (or the segment header)
    size: int  # file size
    damage: Damage | None


def check_segment_header(path: Path, head: bytes, first_seq: int) -> str | None:
    """None when ``head`` is this segment's header, else what is wrong with it."""
    if len(head) < SEGMENT_HEADER_SIZE:
        return f"short segment header ({len(head)} of {SEGMENT_HEADER_SIZE} bytes)"
    magic, version, first = SEGMENT_HEADER.unpack_from(head, 0)
    if magic != SEGMENT_MAGIC:
        return f"not a journal segment (bad magic {magic!r})"
    if version != SEGMENT_VERSION:
        return f"unsupported segment version {version}"
    if first != first_seq:
        return f"segment header says first seq {first}, the file name says {first_seq}"
    return None


def torn_creation(head: bytes, first_seq: int) -> bool:
    """A segment whose creation was cut short: empty, all zeros, or a prefix of its header."""
    return not head.strip(b"\0") or segment_header(first_seq).startswith(head)


def _parse(
    buf: bytes,
    pos: int,
    expected: int,
    upto: int,
    after: int,
    out: list[JournalRecord] | None,
) -> tuple[int, int, str | None]:
    """Parse whole records of ``buf`` from ``pos`` while their seq is <= ``upto``.

    Appends ``JournalRecord``s with ``seq > after`` to ``out`` (when given). Returns (offset of the
    first unparsed byte, next expected seq, the reason parsing stopped at a bad record or None when
    it stopped at the end of the buffer, at an incomplete record, or at ``upto``).
    """
    unpack = RECORD_HEADER.unpack_from
    crc32 = zlib.crc32
    mv = memoryview(buf)
    end = len(buf)
    append = out.append if out is not None else None
    new = tuple.__new__  # JournalRecord(seq, payload) without the Python-level __new__
    record = JournalRecord
    while expected <= upto and pos + 16 <= end:
        length, crc, seq = unpack(buf, pos)
        if length > MAX_PAYLOAD:
            return pos, expected, f"bad record length {length}"
        stop = pos + 16 + length
        if stop > end:
            return pos, expected, None
        if crc32(mv[pos + 8 : stop]) != crc:
            return pos, expected, "checksum mismatch"
        if seq != expected:
            return pos, expected, f"seq {seq} where {expected} was expected"
        if append is not None and seq > after:
            append(new(record, (seq, buf[pos + 16 : stop])))
        pos = stop
        expected += 1
    return pos, expected, None


def _valid_record_from(data: bytes, start: int, min_seq: int) -> int | None:
    """Offset of the first whole, checksummed record at or after ``start`` with seq >= min_seq."""
    unpack = RECORD_HEADER.unpack_from
    mv = memoryview(data)
    end = len(data)
    max_seq = min_seq + (end - start) // 16
    for p in range(start, end - 15):
        length, crc, seq = unpack(data, p)
        if seq < min_seq or seq > max_seq or length > MAX_PAYLOAD or p + 16 + length > end:
            continue
        if zlib.crc32(mv[p + 8 : p + 16 + length]) == crc:
            return p
    return None


def _read_chunks(path: Path, offset: int) -> Iterator[bytes]:
    with open(path, "rb", buffering=0) as f:
        f.seek(offset)
        while chunk := f.read(READ_CHUNK):
            yield chunk


def scan_segment(path: Path, first_seq: int) -> SegmentScan:
    """Verify every record of a segment; say where (and whether tornly) it stops being valid.

    Raises ``JournalError`` for a segment header that is not this segment's (except a torn
    creation, reported as damage at offset 0 with ``torn=True``).
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(SEGMENT_HEADER_SIZE)
    problem = check_segment_header(path, head, first_seq)
    if problem is not None:
        if torn_creation(head, first_seq) and (
            len(head) < SEGMENT_HEADER_SIZE or not _tail_has_data(path)
        ):
            return SegmentScan(
                path, first_seq, first_seq - 1, 0, size, Damage(0, problem, torn=True)
            )
        raise JournalError(f"{path}: {problem} at byte offset 0")
    pos = SEGMENT_HEADER_SIZE
    expected = first_seq
    carry = b""
    base = pos  # file offset of carry[0]
    reason: str | None = None
    for chunk in _read_chunks(path, SEGMENT_HEADER_SIZE):
        buf = carry + chunk if carry else chunk
        p, expected, reason = _parse(buf, 0, expected, 2**64, 0, None)
        if reason is not None:
            pos = base + p
            break
        carry = buf[p:]
        base += p
        pos = base
    else:
        if carry:  # bytes left that do not make a whole record
            reason = "short record header" if len(carry) < 16 else "short record payload"
            pos = base
    if reason is None:
        return SegmentScan(path, first_seq, expected - 1, pos, size, None)
    if reason.startswith("seq "):  # a checksummed record is whole: it was written like that
        return SegmentScan(path, first_seq, expected - 1, pos, size, Damage(pos, reason, False))
    with open(path, "rb") as f:
        f.seek(pos)
        rest = f.read()
    nxt = _valid_record_from(rest, 1, expected)
    torn = nxt is None
    if nxt is not None:
        reason += f" (valid records follow at byte offset {pos + nxt})"
    return SegmentScan(path, first_seq, expected - 1, pos, size, Damage(pos, reason, torn))


def _tail_has_data(path: Path) -> bool:
    with open(path, "rb") as f:
        return bool(f.read().strip(b"\0"))


def read_segment(
    path: Path, first_seq: int, after: int, upto: int
) -> Iterator[list[JournalRecord]]:
    """Batches of the records of one segment with ``after < seq <= upto``, verified.

    Every record up to ``upto`` must be there and valid: anything else raises ``JournalError``
    naming the file and the byte offset.
    """
    try:
        f = open(path, "rb", buffering=0)  # noqa: SIM115 (closed by the with below)
    except FileNotFoundError:
        raise JournalError(f"{path}: segment removed while reading") from None
    with f:
        head = f.read(SEGMENT_HEADER_SIZE)
        problem = check_segment_header(path, head, first_seq)
        if problem is not None:
            raise JournalError(f"{path}: {problem} at byte offset 0")
        expected = first_seq
        carry = b""
        base = SEGMENT_HEADER_SIZE
        while expected <= upto:
            chunk = f.read(READ_CHUNK)
            if not chunk:
                what = "short record" if carry else "end of segment"
                raise JournalError(
                    f"{path}: {what} at byte offset {base}, seq {expected} "
                    f"was expected (journal durable up to {upto})"
                )
            buf = carry + chunk if carry else chunk
            out: list[JournalRecord] = []
            p, expected, reason = _parse(buf, 0, expected, upto, after, out)
            if reason is not None:
                raise JournalError(f"{path}: {reason} at byte offset {base + p}")
            if out:
                yield out
            carry = buf[p:]
            base += p
