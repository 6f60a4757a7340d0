"""FileJournal on real files: format, group commit, recovery, and durability across kill -9."""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, TypeVar

import pytest

from rialto.adapters.journal import FileJournal, JournalError, JournalRecord
from rialto.adapters.journal.segments import HEADER_SIZE, SEGMENT_HEADER_SIZE, segment_name

T = TypeVar("T")
WRITER = Path(__file__).with_name("journal_writer.py")


def run(fn: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await fn()

    return asyncio.run(main())


def payloads(n: int, start: int = 0) -> list[bytes]:
    return [f"record-{i}".encode() + b"." * (i % 50) for i in range(start, start + n)]


async def read_all(journal: FileJournal, after: int = 0) -> list[JournalRecord]:
    return [r async for r in journal.read(after)]


def write_journal(directory: Path, batches: list[list[bytes]], segment_bytes: int) -> None:
    async def go() -> None:
        j = await FileJournal.open(directory, segment_bytes=segment_bytes)
        for batch in batches:
            await j.append(batch)
        await j.close()

    run(go)


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.seg"))


def record_offsets(path: Path) -> list[tuple[int, int]]:
    """(byte offset, seq) of every record of a segment, walking the length fields."""
    data = path.read_bytes()
    pos, out = SEGMENT_HEADER_SIZE, []
    while pos < len(data):
        length, _crc, seq = struct.unpack_from("<IIQ", data, pos)
        out.append((pos, seq))
        pos += HEADER_SIZE + length
    return out


# ---------------------------------------------------------------------- basics


def test_round_trip(tmp_path: Path) -> None:
    async def go() -> None:
        j = await FileJournal.open(tmp_path / "j")
        assert j.last_seq == 0
        assert await read_all(j) == []
        assert await j.append([b"one"]) == 1
        assert await j.append([b"two", b"", b"four" * 1000]) == 4
        assert j.last_seq == 4
        expected = [(1, b"one"), (2, b"two"), (3, b""), (4, b"four" * 1000)]
        assert await read_all(j) == expected
        assert list(j.read_sync()) == expected
        assert await j.append([]) == 4  # a barrier: nothing written
        await j.close()
        with pytest.raises(JournalError, match="closed"):
            await j.append([b"late"])

    run(go)


def test_records_are_contiguous_and_framed(tmp_path: Path) -> None:
    write_journal(tmp_path, [payloads(3), payloads(5, 3), payloads(1, 8)], 1 << 20)
    (seg,) = segments(tmp_path)
    assert seg.name == segment_name(1) == "00000000000000000001.seg"
    data = seg.read_bytes()
    assert data[:6] == b"RJRNL\n"
    pos, seqs = SEGMENT_HEADER_SIZE, []
    for i, p in enumerate(payloads(9)):
        length, crc, seq = struct.unpack_from("<IIQ", data, pos)
        assert (length, seq) == (len(p), i + 1)
        assert crc == zlib.crc32(p, zlib.crc32(struct.pack("<Q", seq)))
        assert data[pos + HEADER_SIZE : pos + HEADER_SIZE + length] == p
        pos += HEADER_SIZE + length
        seqs.append(seq)
    assert pos == len(data)
    assert seqs == list(range(1, 10))


def test_segments_roll(tmp_path: Path) -> None:
    records = payloads(300)
    big = b"B" * 5000  # larger than a segment: it gets one of its own
    write_journal(tmp_path, [records[:100], records[100:200], [big], records[200:]], 1024)
    files = segments(tmp_path)
    assert len(files) > 10
    for f in files:
        offsets = record_offsets(f)
        assert f.name == segment_name(offsets[0][1])  # named by its first seq
        assert f.stat().st_size <= 1024 or len(offsets) == 1
    assert sum(len(record_offsets(f)) for f in files) == 301

    async def check() -> None:
        j = await FileJournal.open(tmp_path, segment_bytes=1024)
        assert j.last_seq == 301 and j.recovery_report is None
        got = await read_all(j)
        assert [r.payload for r in got] == [*records[:200], big, *records[200:]]
        assert [r.seq for r in got] == list(range(1, 302))
        await j.close()

    run(check)


def test_big_commit_spanning_segments(tmp_path: Path) -> None:
    big = [bytes([i]) * 100_000 for i in range(100)]  # 10 MB in one append, 1 MiB segments

    async def go() -> None:
        j = await FileJournal.open(tmp_path, segment_bytes=1 << 20)
        assert await j.append(big) == 100
        assert j.commit_count == 1 and len(j.segment_files()) == 10
        await j.close()
        j = await FileJournal.open(tmp_path, segment_bytes=1 << 20)
        assert [r.payload for r in await read_all(j)] == big
        await j.close()

    run(go)


def test_reopen_continues_numbering(tmp_path: Path) -> None:
    async def go() -> None:
        for round_ in range(3):
            j = await FileJournal.open(tmp_path, segment_bytes=2048)
            assert j.last_seq == 40 * round_
            assert await j.append(payloads(40, 40 * round_)) == 40 * (round_ + 1)
            await j.close()
        j = await FileJournal.open(tmp_path, segment_bytes=2048)
        assert [r.payload for r in await read_all(j)] == payloads(120)
        await j.close()

    run(go)


def test_read_after(tmp_path: Path) -> None:
    records = payloads(500)
    write_journal(tmp_path, [records[i : i + 7] for i in range(0, 500, 7)], 4096)
    first_seqs = [int(f.stem) for f in segments(tmp_path)]
    assert len(first_seqs) > 5

    async def go() -> None:
        j = await FileJournal.open(tmp_path, segment_bytes=4096)
        points = {0, 1, 250, 499, 500, 777, *first_seqs, *(s - 1 for s in first_seqs)}
        for after in sorted(points):
            got = await read_all(j, after)
            assert [r.seq for r in got] == list(range(after + 1, 501)), after
            assert [r.payload for r in got] == records[after:]
        # an early break leaves the journal usable
        async for r in j.read(10):
            assert r.seq == 11
            break
        assert await j.append([b"more"]) == 501
        assert [r.payload for r in await read_all(j, 499)] == [records[499], b"more"]
        with pytest.raises(ValueError):
            await read_all(j, -1)
        await j.close()

    run(go)


def test_read_follows_appends_made_while_reading(tmp_path: Path) -> None:
    async def go() -> None:
        j = await FileJournal.open(tmp_path, segment_bytes=4096)
        await j.append(payloads(100))
        seen = []
        async for r in j.read():
            seen.append(r.seq)
            if r.seq == 50:
                await j.append([b"during"])
        assert seen == list(range(1, 102))
        await j.close()

    run(go)


def test_truncate_before(tmp_path: Path) -> None:
    async def go() -> None:
        j = await FileJournal.open(tmp_path, segment_bytes=1024)
        await j.append(payloads(200))
        files = j.segment_files()
        snapshot_seq = 120
        removed = await j.truncate_before(snapshot_seq + 1)
        assert removed and all(not (tmp_path / name).exists() for name in removed)
        assert j.first_seq <= snapshot_seq + 1
        assert len(j.segment_files()) == len(files) - len(removed)
        got = await read_all(j, snapshot_seq)
        assert [r.seq for r in got] == list(range(121, 201))
        with pytest.raises(JournalError, match="truncate_before"):
            await read_all(j, 0)
        assert await j.truncate_before(10**9) != []  # everything but the active segment
        assert len(j.segment_files()) == 1
        await j.close()
        j = await FileJournal.open(tmp_path, segment_bytes=1024)  # reopens on what is left
        assert j.last_seq == 200
        assert await j.append([b"x"]) == 201
        await j.close()

    run(go)


def test_one_writer_per_directory(tmp_path: Path) -> None:
    async def go() -> None:
        j = await FileJournal.open(tmp_path)
        with pytest.raises(JournalError, match="already open"):
            await FileJournal.open(tmp_path)
        await j.close()
        j = await FileJournal.open(tmp_path)  # the lock went with close
        await j.close()

    run(go)


def test_append_sync_from_threads(tmp_path: Path) -> None:
    j = FileJournal.open_sync(tmp_path)
    results: list[int] = []

    def worker(k: int) -> None:
        for i in range(20):
            results.append(j.append_sync([f"{k}:{i}".encode()]))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == list(range(1, 161))
    assert j.fsync_count < 160
    j.close_sync()


# ---------------------------------------------------------------------- group commit


def test_group_commit_shares_fsyncs(tmp_path: Path) -> None:
    async def go() -> None:
        j = await FileJournal.open(tmp_path, segment_bytes=8192)

        async def one(i: int) -> tuple[int, bytes]:
            payload = f"task-{i}".encode()
            return await j.append([payload]), payload

        results = await asyncio.gather(*(one(i) for i in range(200)))
        seqs = sorted(seq for seq, _ in results)
        assert seqs == list(range(1, 201))  # each caller got its own seq
        by_seq = {r.seq: r.payload for r in await read_all(j)}
        assert all(by_seq[seq] == payload for seq, payload in results)
        assert j.records_written == 200
        # A commit is one fsync of the data (plus one when a segment fills up).
        assert j.fsync_count <= j.commit_count + len(j.segment_files())
        assert j.fsync_count < 40, (j.fsync_count, j.commit_count)
        print(f"200 concurrent appends: {j.commit_count} commits, {j.fsync_count} fsyncs")

        # 200 tasks appending 5 times each, one after the other: they keep meeting in commits.
        fsyncs, commits = j.fsync_count, j.commit_count

        async def five(i: int) -> list[int]:
            return [await j.append([f"again-{i}-{k}".encode()]) for k in range(5)]

        again = [
            seq for seqs in await asyncio.gather(*(five(i) for i in range(200))) for seq in seqs
        ]
        assert sorted(again) == list(range(201, 1201))
        assert j.fsync_count - fsyncs < 100, j.fsync_count - fsyncs
        print(
            f"200 tasks x 5 appends: {j.commit_count - commits} commits, "
            f"{j.fsync_count - fsyncs} fsyncs"
        )

        # Batches from concurrent callers stay whole and in order inside the journal.
        async def batch(i: int) -> tuple[int, list[bytes]]:
            ps = [f"b{i}-{k}".encode() for k in range(5)]
            return await j.append(ps), ps

        for last, ps in await asyncio.gather(*(batch(i) for i in range(50))):
            got = [r.payload for r in await read_all(j, last - 5)][:5]
            assert got == ps
        await j.close()

    run(go)


# ---------------------------------------------------------------------- crash recovery


def crash_writer(directory: Path, run_id: str, delay: float) -> list[bytes]:
    """Start journal_writer.py, SIGKILL it ``delay`` s after it is ready; its stdout lines."""
    proc = subprocess.Popen(
        [sys.executable, str(WRITER), str(directory), "65536", run_id],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    lines: list[bytes] = []
    ready = threading.Event()

    def drain(stream: IO[bytes]) -> None:
        for line in stream:
            lines.append(line)
            ready.set()

    reader = threading.Thread(target=drain, args=(proc.stdout,))
    reader.start()
    try:
        assert ready.wait(30), proc.stderr.read()
        time.sleep(delay)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        reader.join()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert lines[0].startswith(b"ready ")
    return lines[1:]


def test_kill_9_loses_no_acknowledged_record(tmp_path: Path) -> None:
    directory = tmp_path / "journal"
    rng = random.Random(20261124)
    acknowledged: dict[int, str] = {}
    for attempt in range(4):
        for line in crash_writer(directory, f"r{attempt}", rng.uniform(0.05, 0.6)):
            if line.endswith(b"\n"):  # a line cut by the kill was not acknowledged
                seq_text, prefix = line.decode().split()
                acknowledged[int(seq_text)] = prefix
        assert len(acknowledged) > 0

        j = FileJournal.open_sync(directory, segment_bytes=65536)
        records = {r.seq: r.payload for r in j.read_sync()}
        assert list(records) == list(range(1, j.last_seq + 1))
        missing = [seq for seq in acknowledged if seq not in records]
        assert not missing, f"acknowledged but lost: {missing[:10]}"
        for seq, prefix in acknowledged.items():
            payload = records[seq]
            assert payload.startswith(prefix.encode()), (seq, prefix, payload[:40])
            assert payload[len(prefix) :].strip(b"x") == b""
        print(
            f"kill -9 #{attempt}: {len(acknowledged)} acknowledged, {j.last_seq} in the "
            f"journal, {len(j.segment_files())} segments, recovery: {j.recovery_report}"
        )
        j.close_sync()


def test_truncated_tail_is_cut_and_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_journal(tmp_path, [payloads(30)], 1 << 20)
    (seg,) = segments(tmp_path)
    last_offset, last_seq = record_offsets(seg)[-1]
    assert last_seq == 30
    size = seg.stat().st_size
    cut = last_offset + 10  # half of the last record's header
    os.truncate(seg, cut)

    async def go() -> None:
        j = await FileJournal.open(tmp_path)
        report = j.recovery_report
        assert report is not None
        assert (report.segment, report.offset, report.dropped_bytes) == (seg.name, last_offset, 10)
        assert report.last_seq == 29
        assert j.last_seq == 29
        assert seg.stat().st_size == last_offset
        assert [r.payload for r in await read_all(j)] == payloads(29)
        assert await j.append([b"after"]) == 30
        await j.close()

    with caplog.at_level("WARNING", logger="rialto.journal"):
        run(go)
    assert any(seg.name in r.getMessage() for r in caplog.records)
    assert size > last_offset


@pytest.mark.parametrize("where", ["payload", "checksum", "zeros"])
def test_damaged_last_record_is_cut(tmp_path: Path, where: str) -> None:
    write_journal(tmp_path, [payloads(20)], 1 << 20)
    (seg,) = segments(tmp_path)
    last_offset, _ = record_offsets(seg)[-1]
    data = bytearray(seg.read_bytes())
    if where == "payload":  # the payload half there
        data = data[: len(data) - 3]
    elif where == "checksum":  # whole, but its checksum does not match
        data[-1] ^= 0x01
    else:  # the file grew but the last record never reached the disk, plus zeros after it
        data[last_offset:] = b"\0" * (len(data) - last_offset + 100)
    seg.write_bytes(bytes(data))

    async def go() -> None:
        j = await FileJournal.open(tmp_path)
        assert j.recovery_report is not None and j.recovery_report.offset == last_offset
        assert j.last_seq == 19
        assert [r.payload for r in await read_all(j)] == payloads(19)
        await j.close()

    run(go)


def test_flipped_bit_in_the_middle_stops_open(tmp_path: Path) -> None:
    write_journal(tmp_path, [payloads(50)], 1 << 20)
    (seg,) = segments(tmp_path)
    offset, seq = record_offsets(seg)[20]
    data = bytearray(seg.read_bytes())
    data[offset + HEADER_SIZE + 2] ^= 0x10  # a payload byte of record 21
    seg.write_bytes(bytes(data))
    before = seg.read_bytes()
    with pytest.raises(JournalError) as err:
        FileJournal.open_sync(tmp_path)
    message = str(err.value)
    assert seg.name in message and f"byte offset {offset}" in message, message
    assert "checksum" in message
    assert seg.read_bytes() == before  # nothing was cut
    assert seq == 21


def test_bad_length_in_the_middle_stops_open(tmp_path: Path) -> None:
    write_journal(tmp_path, [payloads(50)], 1 << 20)
    (seg,) = segments(tmp_path)
    offset, _ = record_offsets(seg)[10]
    data = bytearray(seg.read_bytes())
    struct.pack_into("<I", data, offset, 0x7FFF_FFFF)
    seg.write_bytes(bytes(data))
    with pytest.raises(JournalError, match=rf"{seg.name}: bad record length .* offset {offset}"):
        FileJournal.open_sync(tmp_path)


def test_damage_in_an_earlier_segment_stops_open(tmp_path: Path) -> None:
    write_journal(tmp_path, [payloads(100)], 1024)
    files = segments(tmp_path)
    assert len(files) > 3
    seg = files[1]
    # even its very last record: a segment that is not the last was complete before the next
    offset, _ = record_offsets(seg)[-1]
    os.truncate(seg, seg.stat().st_size - 1)
    with pytest.raises(
        JournalError, match=rf"{seg.name}: short record .* offset {offset}.*not the"
    ):
        FileJournal.open_sync(tmp_path)


def test_missing_segment_is_a_gap(tmp_path: Path) -> None:
    write_journal(tmp_path, [payloads(100)], 1024)
    files = segments(tmp_path)
    gone = files[2]
    first = int(gone.stem)
    nxt = int(files[3].stem)
    gone.unlink()
    with pytest.raises(JournalError) as err:
        FileJournal.open_sync(tmp_path, segment_bytes=1024)
    message = str(err.value)
    assert f"missing records {first}..{nxt - 1}" in message, message
    assert files[1].name in message and files[3].name in message


def test_garbage_files_are_refused(tmp_path: Path) -> None:
    write_journal(tmp_path / "a", [payloads(10)], 1 << 20)
    garbage = tmp_path / "a" / segment_name(11)
    garbage.write_bytes(random.Random(1).randbytes(4096))
    with pytest.raises(JournalError, match=rf"{garbage.name}: not a journal segment \(bad magic"):
        FileJournal.open_sync(tmp_path / "a")

    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "notes.seg").write_text("hello")
    with pytest.raises(JournalError, match=r"notes\.seg: not a journal segment name"):
        FileJournal.open_sync(tmp_path / "b")

    write_journal(tmp_path / "c", [payloads(10)], 1 << 20)
    (seg,) = segments(tmp_path / "c")
    seg.rename(seg.with_name(segment_name(5)))  # the header says 1
    with pytest.raises(JournalError, match="header says first seq 1, the file name says 5"):
        FileJournal.open_sync(tmp_path / "c")

    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "README").write_text("other files are left alone")
    j = FileJournal.open_sync(tmp_path / "d")
    assert j.last_seq == 0
    j.close_sync()


def test_segment_whose_creation_was_cut_short(tmp_path: Path) -> None:
    write_journal(tmp_path, [payloads(30)], 1 << 20)
    torn = tmp_path / segment_name(31)
    torn.write_bytes(b"RJRN")  # crashed while writing the new segment's header

    async def go() -> None:
        j = await FileJournal.open(tmp_path)
        assert j.recovery_report is not None and j.recovery_report.segment == torn.name
        assert not torn.exists() and j.last_seq == 30
        assert await j.append([b"x"]) == 31
        await j.close()

    run(go)


def test_overlapping_segments_are_refused(tmp_path: Path) -> None:
    write_journal(tmp_path, [payloads(100)], 1024)
    files = segments(tmp_path)
    data = files[2].read_bytes()
    first = int(files[2].stem)
    files[2].unlink()
    # the same records under a name one lower: contiguity inside breaks (seq != expected)
    fake = bytearray(data)
    struct.pack_into("<Q", fake, 8, first - 1)
    (tmp_path / segment_name(first - 1)).write_bytes(bytes(fake))
    with pytest.raises(JournalError, match=re.escape(segment_name(first - 1))):
        FileJournal.open_sync(tmp_path)
