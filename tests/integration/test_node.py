"""The embedded Node on real files and real processes: restart, kill -9, corruption, subscribers.

Principle 2 of the brief: nothing is acknowledged before it is durable, and start-up and crash
recovery are one path (newest snapshot, checked by replay, + the journal's tail). Every check
compares the node with a clean replay of its own journal from genesis into a fresh ``Exchange``.
The last section covers failures: a journal that fails for real (a file size limit in a child
process), requests the node must refuse rather than journal, and restarts after maintenance.
The load (node_load.py) and the failing child (node_fail.py) are helper scripts next to this file.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any, TypeVar

import pytest
from node_load import Load, missing_setup, outcome_digest, request_text

from rialto.adapters.journal import FileJournal, JournalError
from rialto.adapters.journal.segments import HEADER_SIZE, SEGMENT_HEADER_SIZE
from rialto.domain import requests as req
from rialto.domain.events import Trade
from rialto.domain.exchange import Exchange, Outcome
from rialto.domain.orders import OrderType, Side
from rialto.runtime.codec import decode
from rialto.runtime.node import Node, NodeStopped, RequestError
from rialto.runtime.recovery import SHARD, RecoveryError, replay
from rialto.runtime.snapshots import SnapshotStore

T = TypeVar("T")
LOAD = Path(__file__).with_name("node_load.py")


def run(fn: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await fn()

    return asyncio.run(main())


# ---------------------------------------------------------------------- helpers


def journal_dir(data_dir: Path) -> Path:
    return data_dir / "journal"


def segments(data_dir: Path) -> list[Path]:
    return sorted(journal_dir(data_dir).glob("*.seg"))


def snapshot_files(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "snapshots" / SHARD).glob("*.snap"))


def record_offsets(path: Path) -> list[tuple[int, int, int]]:
    """(byte offset, seq, payload length) of every record of a segment."""
    data = path.read_bytes()
    pos, out = SEGMENT_HEADER_SIZE, []
    while pos < len(data):
        length, _crc, seq = struct.unpack_from("<IIQ", data, pos)
        out.append((pos, seq, length))
        pos += HEADER_SIZE + length
    return out


def clean_replay(
    data_dir: Path, shards: int = 1, until: int | None = None
) -> tuple[Exchange, dict[int, tuple[req.Request, Outcome]]]:
    """A fresh Exchange fed the whole journal (up to ``until``): the state and every outcome."""
    journal = FileJournal.open_sync(journal_dir(data_dir))
    try:
        requests = {r.seq: decode(r.payload)[2] for r in journal.read_sync()}
        ex = Exchange(shards)
        outcomes: dict[int, tuple[req.Request, Outcome]] = {}
        replay(journal, ex, until, lambda o: outcomes.__setitem__(o.seq, (requests[o.seq], o)))
    finally:
        journal.close_sync()
    return ex, outcomes


def check_funds(ex: Exchange) -> None:
    """Conservation: every shard nets to zero; no negative balance; locked == what holds hold."""
    for i, accounts in enumerate(ex.accounts):
        totals = accounts.totals()
        assert all(v == 0 for v in totals.values()), f"shard {i} does not net to zero: {totals}"
        held: dict[tuple[int, str], int] = {}
        for hold_id, h in accounts.holds.items():
            assert h.amount >= 0, f"shard {i}: hold {hold_id} is negative: {h.amount}"
            held[(h.user_id, h.asset)] = held.get((h.user_id, h.asset), 0) + h.amount
        for user, per in accounts.balances.items():
            for asset, (free, locked) in per.items():
                assert free >= 0 and locked >= 0, f"user {user} {asset}: {free} free, {locked}"
                assert locked == held.get((user, asset), 0), (
                    f"user {user} {asset}: {locked} locked but holds hold "
                    f"{held.get((user, asset), 0)}"
                )
    for symbol, engine in ex.engines.items():
        holds = ex.order_holds.get(symbol, {})
        assert set(holds) == set(engine.orders), f"{symbol}: open orders and holds differ"
        for oid, hold_id in holds.items():
            assert hold_id in ex.shard(engine.orders[oid].user_id).holds, (symbol, oid, hold_id)


async def drive(node: Node, run_id: str, per_task: int, users: int = 40, tasks: int = 8) -> Load:
    """Set-up plus ``tasks`` concurrent tasks of ``per_task`` requests each; no request fails."""
    load = Load(node, run_id, users=users, tasks=tasks, echo=False)
    await load.run(per_task)
    assert not load.refused, load.refused[:3]
    return load


def build(
    data_dir: Path, run_id: str, per_task: int = 60, snapshot_every: int = 10**9
) -> tuple[int, str]:
    """A data dir after set-up and a load, closed cleanly: (last seq, state hash)."""

    async def go() -> tuple[int, str]:
        node = await Node.open(data_dir, snapshot_every=snapshot_every)
        await drive(node, run_id, per_task)
        await node.close()
        return node.exchange.last_seq, node.exchange.state_hash()

    return run(go)


def build_segmented(data_dir: Path, run_id: str, segment_bytes: int = 16_384) -> int:
    """Like ``build``, on a journal of many small segments (Node.open always uses 64 MiB)."""

    async def go() -> int:
        journal = await FileJournal.open(journal_dir(data_dir), segment_bytes=segment_bytes)
        node = Node(journal, SnapshotStore(data_dir / "snapshots"), Exchange())
        await drive(node, run_id, 60)
        await node.close()
        return node.exchange.last_seq

    return run(go)


async def reopen(data_dir: Path, shards: int = 1) -> tuple[int, str]:
    node = await Node.open(data_dir, shards=shards)
    try:
        return node.exchange.last_seq, node.exchange.state_hash()
    finally:
        await node.close()


# ---------------------------------------------------------------------- restart


def test_restart_without_snapshots_replays_to_the_same_state(tmp_path: Path) -> None:
    last, state = build(tmp_path, "plain", per_task=150)
    assert last > 1000
    assert len(snapshot_files(tmp_path)) == 1  # only the one a clean close takes
    assert run(lambda: reopen(tmp_path)) == (last, state)  # from the close snapshot
    for snap in snapshot_files(tmp_path):
        snap.unlink()
    assert run(lambda: reopen(tmp_path)) == (last, state)  # full replay from genesis
    ex, _ = clean_replay(tmp_path)
    assert (ex.last_seq, ex.state_hash()) == (last, state)
    check_funds(ex)


def test_restart_with_snapshots_in_between(tmp_path: Path) -> None:
    acked: dict[int, tuple[req.Request, Outcome]] = {}

    async def session(n: int, expected: tuple[int, str] | None) -> tuple[int, str]:
        node = await Node.open(tmp_path, snapshot_every=97)
        ex = node.exchange
        if expected is not None:
            assert (ex.last_seq, ex.state_hash()) == expected, f"session {n} recovered otherwise"
        load = await drive(node, f"s{n}", 50)
        taken = await node.snapshot()  # an explicit snapshot in the middle of the load
        assert taken == node.durable_seq == ex.last_seq
        assert SnapshotStore(tmp_path / "snapshots").latest(SHARD) is not None
        load2 = await drive(node, f"s{n}b", 20)
        acked.update(load.acked)
        acked.update(load2.acked)
        await node.close()
        return ex.last_seq, ex.state_hash()

    expected = None
    for n in range(3):
        expected = run(functools.partial(session, n, expected))
        files = snapshot_files(tmp_path)
        assert 1 <= len(files) <= 3  # the store keeps the newest three
        assert int(files[-1].name.split(".")[0]) == expected[0]  # the close snapshot
    assert expected is not None
    assert run(lambda: reopen(tmp_path)) == expected

    # Every outcome the node acknowledged is what a clean replay from genesis produces.
    ex, outcomes = clean_replay(tmp_path)
    assert (ex.last_seq, ex.state_hash()) == expected
    assert sorted(acked) == list(range(1, ex.last_seq + 1))
    for seq, (r, out) in acked.items():
        journaled, replayed = outcomes[seq]
        assert request_text(journaled) == request_text(r), f"seq {seq}: another request"
        assert replayed == out, f"seq {seq}: the replay differs"
    check_funds(ex)


# ---------------------------------------------------------------------- kill -9

SHARDS = 2
ROUNDS = 5


def start_and_kill(data_dir: Path, run_id: str, delay: float, log: Path) -> list[str]:
    """Run node_load.py on ``data_dir``, SIGKILL it ``delay`` s after it is ready; its lines."""
    with open(log, "ab") as err:
        proc = subprocess.Popen(
            [sys.executable, str(LOAD), str(data_dir), run_id, str(SHARDS), "1500"],
            stdout=subprocess.PIPE,
            stderr=err,
        )
    assert proc.stdout is not None
    lines: list[bytes] = []
    ready = threading.Event()

    def drain(stream: IO[bytes]) -> None:
        for line in stream:
            lines.append(line)
            ready.set()
        ready.set()

    reader = threading.Thread(target=drain, args=(proc.stdout,))
    reader.start()
    try:
        assert ready.wait(30), "the child did not start"
        assert lines, f"the child exited at start-up:\n{log.read_text()[-3000:]}"
        time.sleep(delay)
        assert proc.poll() is None, f"the child died by itself:\n{log.read_text()[-3000:]}"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        reader.join()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    # A line cut by the kill (no newline) was never fully written: not counted.
    return [line.decode() for line in lines if line.endswith(b"\n")]


def test_kill_9_loses_nothing_acknowledged_and_applies_nothing_by_half(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    log = tmp_path / "child.log"
    rng = random.Random(20261123)
    acked: dict[int, tuple[str, str]] = {}  # seq -> (outcome digest, request)
    for round_ in range(ROUNDS):
        lines = start_and_kill(data_dir, f"r{round_}", rng.uniform(0.3, 1.5), log)
        head, *rest = lines
        assert head.startswith("ready ")
        recovered = int(head.split()[1])
        # Every request acknowledged before an earlier kill survived it.
        assert recovered >= max(acked, default=0), (round_, recovered, max(acked))
        fresh = 0
        for line in rest:
            assert not line.startswith("refused"), line
            seq_text, digest, text = line.rstrip("\n").split(" ", 2)
            seq = int(seq_text)
            assert acked.setdefault(seq, (digest, text)) == (digest, text), f"seq {seq} twice"
            fresh += 1
        assert fresh > 0, f"round {round_}: nothing acknowledged"
        print(f"kill -9 round {round_}: recovered to {recovered}, {fresh} acknowledged after")

    async def recovered_state() -> tuple[int, str]:
        node = await Node.open(data_dir, shards=SHARDS)
        try:
            check_funds(node.exchange)
            return node.exchange.last_seq, node.exchange.state_hash()
        finally:
            await node.close()

    last, state = run(recovered_state)
    assert max(acked) <= last
    clean, outcomes = clean_replay(data_dir, SHARDS)
    # Nothing half-applied: every journal record is a whole request, and the recovered state
    # (snapshot + tail) is exactly the replay of those requests from genesis.
    assert (clean.last_seq, clean.state_hash()) == (last, state)
    assert sorted(outcomes) == list(range(1, last + 1))
    for seq, (digest, text) in acked.items():
        r, out = outcomes[seq]
        assert request_text(r) == text, f"seq {seq}: the journal holds another request"
        assert outcome_digest(out) == digest, f"seq {seq}: acknowledged {digest}, replay {out}"
    check_funds(clean)
    trades = sum(1 for _, o in outcomes.values() for e in o.events if isinstance(e, Trade))
    print(f"{len(acked)} acknowledged of {last} journaled; {trades} trades")
    assert trades > 100


# ---------------------------------------------------------------------- corruption


def test_truncated_tail_recovers_the_valid_prefix(tmp_path: Path) -> None:
    async def go() -> int:
        node = await Node.open(tmp_path, snapshot_every=10**9)
        await drive(node, "a", 30)
        mid = await node.snapshot()
        await drive(node, "b", 30)
        await node.close()
        return mid

    mid = run(go)
    # A crash leaves no close snapshot: only the one taken in the middle.
    for snap in snapshot_files(tmp_path):
        if int(snap.name.split(".")[0]) > mid:
            snap.unlink()
    (seg,) = segments(tmp_path)
    records = record_offsets(seg)
    offset, seq, length = records[-5]  # cut into the payload of the fifth record from the end
    expected, _ = clean_replay(tmp_path, until=seq - 1)  # the prefix that will be left
    assert expected.last_seq == seq - 1 > mid
    os.truncate(seg, offset + HEADER_SIZE + length // 2)

    async def reopened() -> None:
        node = await Node.open(tmp_path)
        report = node.journal.recovery_report
        assert report is not None and (report.segment, report.offset) == (seg.name, offset)
        assert node.exchange.last_seq == node.durable_seq == seq - 1
        assert node.exchange.state_hash() == expected.state_hash()
        check_funds(node.exchange)
        out = await node.submit(req.Deposit(1, "BTC", 5))  # and it goes on from there
        assert out.seq == seq
        await node.close()

    run(reopened)


@pytest.mark.parametrize("which", ["last", "middle"])
def test_flipped_bit_refuses_to_start_naming_segment_and_offset(tmp_path: Path, which: str) -> None:
    build_segmented(tmp_path, "flip")
    files = segments(tmp_path)
    assert len(files) >= 3
    seg = files[-1] if which == "last" else files[len(files) // 2]
    records = record_offsets(seg)
    offset, _seq, length = records[len(records) // 2]
    data = bytearray(seg.read_bytes())
    data[offset + HEADER_SIZE + length // 2] ^= 0x10
    seg.write_bytes(bytes(data))
    with pytest.raises(JournalError) as err:
        run(lambda: Node.open(tmp_path))
    message = str(err.value)
    assert str(seg) in message and f"byte offset {offset}" in message, message
    assert "checksum mismatch" in message, message


def test_missing_segment_refuses_to_start(tmp_path: Path) -> None:
    build_segmented(tmp_path, "gap")
    for snap in snapshot_files(tmp_path):
        snap.unlink()
    files = segments(tmp_path)
    assert len(files) >= 3
    middle = files[len(files) // 2]
    kept = tmp_path / "kept.seg"
    shutil.move(middle, kept)
    with pytest.raises(JournalError, match=r"missing records \d+\.\.\d+"):
        run(lambda: Node.open(tmp_path))
    shutil.move(kept, middle)
    files[0].unlink()  # the first: the journal no longer starts at 1 and no snapshot covers it
    with pytest.raises(RecoveryError, match=r"journal starts at seq \d+, not 1"):
        run(lambda: Node.open(tmp_path))


def test_damaged_newest_snapshot_falls_back_to_an_older_one(tmp_path: Path) -> None:
    last, state = build(tmp_path, "damaged", per_task=80, snapshot_every=150)
    files = snapshot_files(tmp_path)
    assert len(files) == 3
    data = bytearray(files[-1].read_bytes())
    data[len(data) // 2] ^= 0x01  # inside the state: its sha256 no longer matches
    files[-1].write_bytes(bytes(data))
    assert run(lambda: reopen(tmp_path)) == (last, state)


def test_journal_truncated_after_its_only_snapshot_reopens(tmp_path: Path) -> None:
    """docs/journal.md: after a snapshot at S, ``truncate_before(S + 1)`` drops what replay no
    longer needs. With one snapshot the data dir must still open (recovery.py trusts a snapshot
    the journal can no longer check, with a warning, when there is an older snapshot; it must not
    call the only snapshot "no usable snapshot")."""

    async def go() -> tuple[int, str]:
        journal = await FileJournal.open(journal_dir(tmp_path), segment_bytes=16_384)
        node = Node(journal, SnapshotStore(tmp_path / "snapshots"), Exchange())
        await drive(node, "t", 50)
        snap = await node.snapshot()
        assert await journal.truncate_before(snap + 1)  # some segments were removed
        assert journal.first_seq > 1
        await drive(node, "u", 10)
        await node.close()
        for f in snapshot_files(tmp_path):  # as after a crash: no close snapshot
            if int(f.name.split(".")[0]) > snap:
                f.unlink()
        return node.exchange.last_seq, node.exchange.state_hash()

    expected = run(go)
    assert len(snapshot_files(tmp_path)) == 1
    assert run(lambda: reopen(tmp_path)) == expected


def different_history(tmp_path: Path) -> tuple[Path, Path, int]:
    """Two data dirs with the same set-up and different orders; ``other`` snapshots at ``seq``.

    ``mine`` is left without snapshots, as after a crash before its first one.
    """
    mine, other = tmp_path / "mine", tmp_path / "other"
    last, _ = build(mine, "mine", per_task=80)
    for snap in snapshot_files(mine):
        snap.unlink()

    async def go() -> int:
        node = await Node.open(other, snapshot_every=10**9)
        await drive(node, "other", 40)
        seq = await node.snapshot()
        await drive(node, "other-more", 80)  # ends beyond mine
        await node.close()
        return seq

    seq = run(go)
    assert seq < last  # within this journal's range
    return mine, other, seq


@pytest.mark.parametrize("base", ["genesis", "own snapshot"])
def test_snapshot_of_another_history_is_refused(tmp_path: Path, base: str) -> None:
    mine, other, seq = different_history(tmp_path)
    if base == "own snapshot":  # the replay that checks it starts from an older snapshot of mine

        async def older() -> None:
            journal = await FileJournal.open(journal_dir(mine))
            ex = Exchange()
            replay(journal, ex, until=seq // 2)
            await journal.close()
            await SnapshotStore(mine / "snapshots").save_async(
                SHARD, ex.last_seq, ex.snapshot(), ex.state_hash()
            )

        run(older)
    name = f"{seq:020d}.snap"
    shutil.copy(other / "snapshots" / SHARD / name, mine / "snapshots" / SHARD / name)
    store = SnapshotStore(mine / "snapshots")
    assert store.load(SHARD, seq).seq == seq  # a valid snapshot file: only replay can tell
    with pytest.raises(RecoveryError, match="different history") as err:
        run(lambda: Node.open(mine))
    assert f"seq {seq}" in str(err.value)


def test_snapshot_ahead_of_the_journal_is_refused(tmp_path: Path) -> None:
    mine, other, _ = different_history(tmp_path)
    ahead = snapshot_files(other)[-1]  # other's close snapshot
    seq = int(ahead.name.split(".")[0])
    mine_last, _ = run(lambda: reopen(mine))
    for snap in snapshot_files(mine):
        snap.unlink()
    assert seq > mine_last
    shutil.copy(ahead, mine / "snapshots" / SHARD / ahead.name)
    with pytest.raises(RecoveryError, match="ahead of the journal"):
        run(lambda: Node.open(mine))

    # The same when the journal lost its tail under its own close snapshot.
    own = tmp_path / "own"
    last, _ = build(own, "own", per_task=20)
    (seg,) = segments(own)
    offset, seq, _ = record_offsets(seg)[-3]
    os.truncate(seg, offset)
    with pytest.raises(RecoveryError, match=f"snapshot at seq {last} is ahead of the journal"):
        run(lambda: Node.open(own))


# ---------------------------------------------------------------------- subscribers


def test_subscribers_see_outcomes_in_order_only_once_durable(tmp_path: Path) -> None:
    async def go() -> None:
        node = await Node.open(tmp_path, snapshot_every=50)
        seen: list[Outcome] = []
        calls = 0

        early: list[tuple[int, int, int]] = []  # (seq, durable seq, journal's last seq)

        def subscriber(batch: list[Outcome]) -> None:
            # Recorded, not asserted: the node logs and swallows a subscriber's exceptions.
            nonlocal calls
            calls += 1
            durable, journaled = node.durable_seq, node.journal.last_seq
            late = min(durable, journaled)
            early.extend((o.seq, durable, journaled) for o in batch if o.seq > late)
            seen.extend(batch)

        def broken(batch: list[Outcome]) -> None:
            raise RuntimeError("a subscriber's bug")

        node.subscribe(broken)  # must not stop the exchange nor the other subscribers
        node.subscribe(subscriber)
        load = Load(node, "subs", users=40, tasks=16, echo=False)

        async def replies_follow_events(task: int) -> None:
            for k in range(60):
                out = await node.submit(req.Deposit(task + 1, "USDT", k + 1))
                assert seen[-1].seq >= out.seq, "a reply came before its event"

        await load.setup()
        await asyncio.gather(
            *(load.task(t, 40) for t in range(load.tasks)),
            *(replies_follow_events(t) for t in range(8)),
        )
        assert not load.refused
        with pytest.raises(RequestError):  # not journaled, no seq used, nothing published
            await node.submit(req.Deposit(1, "NOPE", 5))
        await node.close()
        with pytest.raises(NodeStopped):
            await node.submit(req.Deposit(1, "BTC", 5))
        assert not early, f"published before durable (seq, durable, journal): {early[:5]}"
        assert [o.seq for o in seen] == list(range(1, node.exchange.last_seq + 1))
        published = {o.seq: o for o in seen}
        assert all(published[seq] == out for seq, (_, out) in load.acked.items())
        assert calls < len(seen)  # batched: one call per durable batch
        print(f"{len(seen)} outcomes in {calls} batches")

    run(go)


def test_setup_helper_is_complete_and_idempotent() -> None:
    ex = Exchange()
    for seq, r in enumerate(missing_setup(ex, 3), start=1):
        ex.apply(seq, seq, r)
    assert missing_setup(ex, 3) == []


# ---------------------------------------------------------------------- failures

FAIL = Path(__file__).with_name("node_fail.py")


def test_journal_failure_leaves_a_data_dir_that_reopens(tmp_path: Path) -> None:
    """A real write failure (EFBIG past RLIMIT_FSIZE, as on a full disk) stops the node.

    Nothing applied after the last durable seq may reach a snapshot: the data dir must reopen,
    with every acknowledged request, on the state a clean replay of its journal gives.
    """
    done = subprocess.run(
        [sys.executable, str(FAIL), str(tmp_path), str(256 * 1024)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    durable = result["durable_seq"]
    assert result["acked"] == durable < result["applied_seq"]  # it failed with work in flight
    snapshot = result["snapshot"]
    assert snapshot == "NodeStopped" or snapshot <= durable, (
        f"node.snapshot() after the journal failed gave a snapshot at {snapshot}, beyond the "
        f"durable seq {durable}"
    )
    assert result["close"] == "ok"

    async def reopened() -> tuple[int, str]:
        node = await Node.open(tmp_path)  # RecoveryError when a snapshot is ahead of the journal
        try:
            check_funds(node.exchange)
            return node.exchange.last_seq, node.exchange.state_hash()
        finally:
            await node.close()

    last, state = run(reopened)
    assert last >= durable
    clean, _ = clean_replay(tmp_path)
    assert (clean.last_seq, clean.state_hash()) == (last, state)


BOGUS: Any = "BOGUS"  # not a value of the enum the field is typed with
STRING: Any = str  # an enum's value as a plain string
MISSING: Any = None  # a required field left empty


def ready_node(data_dir: Path) -> Callable[[], Awaitable[Node]]:
    async def go() -> Node:
        node = await Node.open(data_dir)
        for r in missing_setup(node.exchange, 3):
            await node.submit(r)
        await node.submit(req.NewOrder(2, "BTCUSDT", Side.SELL, OrderType.LIMIT, 5, 6_500_000))
        return node

    return go


@pytest.mark.parametrize(
    "bad",
    [
        req.SetMarketStatus("BTCUSDT", BOGUS),
        req.NewOrder(1, "BTCUSDT", Side.BUY, BOGUS, 10, 6_500_000),
        req.NewOrder(1, "BTCUSDT", Side.BUY, OrderType.LIMIT, 10, 6_500_000, BOGUS),
    ],
    ids=["status", "order type", "time in force"],
)
def test_a_request_the_journal_cannot_replay_is_refused(tmp_path: Path, bad: req.Request) -> None:
    """Journaling a record that ``decode`` rejects would stop every later start-up."""

    async def go() -> tuple[int, str]:
        node = await ready_node(tmp_path)()
        before = node.exchange.last_seq, node.exchange.state_hash()
        with pytest.raises(RequestError):
            await node.submit(bad)
        assert (node.exchange.last_seq, node.exchange.state_hash()) == before
        await node.close()
        return before

    before = run(go)
    assert run(lambda: reopen(tmp_path)) == before


def test_a_request_is_applied_as_it_will_be_replayed(tmp_path: Path) -> None:
    """Enum fields given as plain strings ("BUY") must not be applied otherwise than replayed.

    Either the node refuses the request, or what it acknowledges is what a replay of the
    journaled record gives, and the node closes and reopens on the same state.
    """
    stringly = req.NewOrder(1, "BTCUSDT", STRING("BUY"), STRING("LIMIT"), 10, 6_500_000)

    async def go() -> None:
        node = await ready_node(tmp_path)()
        try:
            out = await node.submit(stringly)
        except RequestError:
            await node.close()
            return
        ex = Exchange()
        replayed: dict[int, Outcome] = {}
        replay(node.journal, ex, emit=lambda o: replayed.__setitem__(o.seq, o))
        assert replayed[out.seq] == out, "acknowledged one outcome, the journal replays another"
        await asyncio.wait_for(node.close(), 10)
        assert ex.state_hash() == node.exchange.state_hash()

    run(go)
    run(lambda: reopen(tmp_path))


def test_a_malformed_request_fails_alone(tmp_path: Path) -> None:
    """A request the state machine raises on (here AttributeError, not ValueError) is refused.

    Its caller gets an error instead of waiting forever, nothing changes, and the exchange goes
    on with the next request.
    """

    async def go() -> None:
        node = await ready_node(tmp_path)()
        before = node.exchange.last_seq, node.exchange.state_hash()
        bad = req.CreateUser(MISSING, "hash")
        with pytest.raises(RequestError):
            await asyncio.wait_for(node.submit(bad), 5)
        assert (node.exchange.last_seq, node.exchange.state_hash()) == before
        out = await asyncio.wait_for(node.submit(req.Deposit(1, "BTC", 7)), 5)
        assert out.seq == before[0] + 1 and out.reject is None
        await node.close()

    run(go)


def test_timestamps_never_go_back_across_a_restart(tmp_path: Path) -> None:
    """The sequencer stamps ``max(last ts, clock())``; a restart must not forget the last ts
    (a wall clock stepped back by NTP between two runs would otherwise rewind the journal)."""

    async def session(now: int) -> list[int]:
        node = await Node.open(tmp_path, clock=lambda: now)
        if not node.exchange.accounts[0].assets:
            await node.submit(req.AddAsset("BTC", 8))
        stamps = [(await node.submit(req.Deposit(1, "BTC", k + 1))).ts for k in range(3)]
        await node.close()
        return stamps

    first = run(lambda: session(2_000_000))
    second = run(lambda: session(1_000_000))  # the clock went back between the two runs
    assert min(second) >= max(first), (first, second)
    _, outcomes = clean_replay(tmp_path)
    stamps = [out.ts for _, (_, out) in sorted(outcomes.items())]
    assert stamps == sorted(stamps)
