"""SnapshotStore on real files: atomic save, latest valid snapshot, retention."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from rialto.runtime.snapshots import Snapshot, SnapshotError, SnapshotStore


def state(seq: int) -> bytes:
    return f"state at {seq}".encode() * 100


def state_hash(seq: int) -> str:
    return hashlib.sha256(state(seq)).hexdigest()[:16]


def test_save_and_latest(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    assert store.latest("match.BTCUSDT") is None
    path = store.save("match.BTCUSDT", 100, state(100), state_hash(100))
    assert path == tmp_path / "match.BTCUSDT" / "00000000000000000100.snap"
    store.save("match.BTCUSDT", 250, state(250), state_hash(250))
    store.save("accounts.3", 7, b"", "empty")
    assert store.latest("match.BTCUSDT") == Snapshot(
        "match.BTCUSDT", 250, state(250), state_hash(250)
    )
    assert store.latest("accounts.3") == Snapshot("accounts.3", 7, b"", "empty")
    assert store.load("match.BTCUSDT", 100).state == state(100)
    # a fresh store (another process, after a restart) sees the same
    assert SnapshotStore(tmp_path).latest("match.BTCUSDT") == store.latest("match.BTCUSDT")
    # no temporary file is left behind
    assert sorted(p.name for p in (tmp_path / "match.BTCUSDT").iterdir()) == [
        "00000000000000000100.snap",
        "00000000000000000250.snap",
    ]


def test_file_layout(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    data = store.save("s", 42, b"abc", "h1").read_bytes()
    assert data[:6] == b"RSNAP\n"
    assert int.from_bytes(data[6:8], "little") == 1
    assert int.from_bytes(data[8:16], "little") == 42
    assert int.from_bytes(data[16:24], "little") == 3
    assert data[24:56] == hashlib.sha256(b"abc").digest()
    assert data.endswith(b"abc")


def test_save_async(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)

    async def go() -> Snapshot | None:
        await asyncio.gather(*(store.save_async("s", seq, state(seq), "h") for seq in (1, 2, 3)))
        return await store.latest_async("s")

    snap = asyncio.run(go())
    assert snap is not None and snap.seq == 3 and snap.state == state(3)


@pytest.mark.parametrize("damage", ["flip state", "flip header", "cut", "empty", "garbage"])
def test_corrupt_newest_falls_back(tmp_path: Path, damage: str) -> None:
    store = SnapshotStore(tmp_path)
    store.save("s", 10, state(10), state_hash(10))
    newest = store.save("s", 20, state(20), state_hash(20))
    data = bytearray(newest.read_bytes())
    if damage == "flip state":
        data[-5] ^= 0x01
    elif damage == "flip header":
        data[9] ^= 0x01  # the seq
    elif damage == "cut":
        data = data[: len(data) // 2]
    elif damage == "empty":
        data = bytearray()
    else:
        data = bytearray(b"\x89PNG not a snapshot" * 10)
    newest.write_bytes(bytes(data))
    snap = store.latest("s")
    assert snap == Snapshot("s", 10, state(10), state_hash(10))
    assert [p for p, _ in store.problems] == [newest]
    with pytest.raises(SnapshotError, match=newest.name):
        store.load("s", 20)


def test_every_snapshot_corrupt(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    for seq in (1, 2):
        store.save("s", seq, state(seq), "h").write_bytes(b"junk")
    assert store.latest("s") is None
    assert len(store.problems) == 2


def test_snapshot_renamed_to_another_seq_is_refused(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    old = store.save("s", 5, state(5), "h")
    store.save("s", 9, state(9), "h")
    (tmp_path / "s" / "00000000000000000009.snap").unlink()
    old.rename(old.with_name("00000000000000000009.snap"))
    with pytest.raises(SnapshotError, match="holds seq 5, the file name says 9"):
        store.load("s", 9)
    assert store.latest("s") is None


def test_retention(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)  # keeps 3
    for seq in range(1, 8):
        store.save("s", seq * 100, state(seq), "h")
    assert store.seqs("s") == [500, 600, 700]
    two = SnapshotStore(tmp_path, keep=1)
    two.save("t", 1, b"a", "h")
    two.save("t", 2, b"b", "h")
    assert two.seqs("t") == [2]
    assert store.seqs("s") == [500, 600, 700]  # other shards untouched


def test_leftover_temporary_file_is_ignored_then_cleaned(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    store.save("s", 1, state(1), "h")
    tmp = tmp_path / "s" / ".00000000000000000002.snap.999.tmp"
    tmp.write_bytes(b"half a snapshot")  # a crash during save
    assert store.latest("s") == Snapshot("s", 1, state(1), "h")
    store.save("s", 3, state(3), "h")
    assert not tmp.exists()


def test_bad_shard_names(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    for bad in ("", "../x", "a/b", ".hidden"):
        with pytest.raises(ValueError):
            store.save(bad, 1, b"", "h")
