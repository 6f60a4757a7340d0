"""Snapshots of a shard's state at a journal position, on local files.

State = the latest valid snapshot + replay of the journal after its ``seq`` (principle 2). A
snapshot is taken off the hot path: the shard serialises its state at a log position, and
``await store.save_async(...)`` writes it from a thread.

    store = SnapshotStore("data/snapshots")
    await store.save_async("match.BTCUSDT", seq, engine_state_bytes, engine.state_hash())
    snap = store.latest("match.BTCUSDT")     # newest valid snapshot, or None

Files: ``<directory>/<shard>/<seq, 20 digits>.snap``, written to a temporary file, fsynced,
renamed into place and the directory fsynced, so a crash leaves either the old set or the new
one. Layout (little-endian)::

    magic      6 bytes  b"RSNAP\\n"
    version    u16      1
    seq        u64      the journal position the state is at (every record <= seq applied)
    length     u64      state length in bytes
    sha256     32 bytes of the state
    shard_len  u16, hash_len u16
    shard      shard_len bytes (UTF-8)
    state_hash hash_len bytes (UTF-8): the domain's own state hash, given by the caller
    crc32      u32      zlib.crc32 of every header byte before it
    state      length bytes

``latest`` checks all of it (magic, version, header checksum, shard, seq against the file name,
length, sha256) and skips a damaged snapshot, logging it and recording it in ``problems``, for the
next older one. ``state_hash`` is the caller's to check after restoring the state.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import struct
import threading
import zlib
from pathlib import Path
from typing import NamedTuple

from rialto.adapters.files import fsync_dir

__all__ = ["Snapshot", "SnapshotError", "SnapshotStore"]

log = logging.getLogger("rialto.snapshots")

MAGIC = b"RSNAP\n"
VERSION = 1
_FIXED = struct.Struct("<6sHQQ32sHH")
_CRC = struct.Struct("<I")
_SUFFIX = ".snap"
_NAME = re.compile(r"^(\d{20})\.snap$")
_SHARD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class Snapshot(NamedTuple):
    shard: str
    seq: int
    state: bytes
    state_hash: str


class SnapshotError(RuntimeError):
    """A snapshot file that is not a valid snapshot (the message names the file and the fault)."""


def encode(shard: str, seq: int, state: bytes, state_hash: str) -> bytes:
    """The whole file for a snapshot."""
    shard_b, hash_b = shard.encode(), state_hash.encode()
    head = _FIXED.pack(
        MAGIC, VERSION, seq, len(state), hashlib.sha256(state).digest(), len(shard_b), len(hash_b)
    )
    head += shard_b + hash_b
    return head + _CRC.pack(zlib.crc32(head)) + state


def decode(data: bytes, *, where: str = "snapshot") -> Snapshot:
    """Check and parse a snapshot file's bytes; ``SnapshotError`` says what is wrong."""
    if len(data) < _FIXED.size:
        raise SnapshotError(f"{where}: too short for a snapshot header ({len(data)} bytes)")
    magic, version, seq, length, digest, shard_len, hash_len = _FIXED.unpack_from(data, 0)
    if magic != MAGIC:
        raise SnapshotError(f"{where}: not a snapshot (bad magic {magic!r})")
    if version != VERSION:
        raise SnapshotError(f"{where}: unsupported snapshot version {version}")
    end = _FIXED.size + shard_len + hash_len
    if len(data) < end + _CRC.size:
        raise SnapshotError(f"{where}: header cut short")
    (crc,) = _CRC.unpack_from(data, end)
    if zlib.crc32(memoryview(data)[:end]) != crc:
        raise SnapshotError(f"{where}: header checksum mismatch")
    state = data[end + _CRC.size :]
    if len(state) != length:
        raise SnapshotError(f"{where}: state is {len(state)} bytes, the header says {length}")
    if hashlib.sha256(state).digest() != digest:
        raise SnapshotError(f"{where}: sha256 of the state does not match the header")
    try:
        shard = data[_FIXED.size : _FIXED.size + shard_len].decode()
        state_hash = data[_FIXED.size + shard_len : end].decode()
    except UnicodeDecodeError as exc:
        raise SnapshotError(f"{where}: shard or state hash is not UTF-8 ({exc})") from None
    return Snapshot(shard, seq, state, state_hash)


class SnapshotStore:
    """Snapshots per shard under ``directory``, the newest ``keep`` of each kept.

    One process writes a shard's snapshots (the shard's single writer); saves from several
    threads of that process are serialised.
    """

    def __init__(self, directory: str | os.PathLike[str], *, keep: int = 3) -> None:
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        self.directory = Path(directory)
        self.keep = keep
        self.problems: list[tuple[Path, str]] = []  # damaged snapshots ``latest`` skipped
        self._lock = threading.Lock()

    def _shard_dir(self, shard: str) -> Path:
        if not _SHARD.match(shard):
            raise ValueError(f"bad shard name {shard!r} (letters, digits, '.', '_', '-')")
        return self.directory / shard

    def path(self, shard: str, seq: int) -> Path:
        return self._shard_dir(shard) / f"{seq:020d}{_SUFFIX}"

    def save(self, shard: str, seq: int, state: bytes, state_hash: str) -> Path:
        """Write a snapshot atomically and durably, then drop all but the newest ``keep``."""
        if seq < 0:
            raise ValueError(f"seq must be >= 0, got {seq}")
        final = self.path(shard, seq)
        data = encode(shard, seq, bytes(state), state_hash)
        with self._lock:
            shard_dir = final.parent
            if not shard_dir.is_dir():
                shard_dir.mkdir(parents=True, exist_ok=True)
                fsync_dir(shard_dir.parent)
            for stale in shard_dir.glob(".*.tmp"):  # left by a crash during an earlier save
                stale.unlink(missing_ok=True)
            tmp = shard_dir / f".{final.name}.{os.getpid()}.tmp"
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, final)
            fsync_dir(shard_dir)
            older = self.seqs(shard)[: -self.keep]
            for old in older:
                self.path(shard, old).unlink(missing_ok=True)
            if older:
                fsync_dir(shard_dir)
        return final

    async def save_async(self, shard: str, seq: int, state: bytes, state_hash: str) -> Path:
        """``save`` in a thread, so the event loop (and the shard) goes on meanwhile."""
        return await asyncio.to_thread(self.save, shard, seq, state, state_hash)

    def seqs(self, shard: str) -> list[int]:
        """The seqs of the shard's snapshot files, oldest first (valid or not)."""
        shard_dir = self._shard_dir(shard)
        if not shard_dir.is_dir():
            return []
        found = [int(m.group(1)) for p in shard_dir.iterdir() if (m := _NAME.match(p.name))]
        return sorted(found)

    def load(self, shard: str, seq: int) -> Snapshot:
        """The snapshot at ``seq``; ``SnapshotError`` when it is damaged or not this one."""
        path = self.path(shard, seq)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise SnapshotError(f"{path}: no such snapshot") from None
        snap = decode(data, where=str(path))
        if snap.shard != shard:
            raise SnapshotError(f"{path}: holds shard {snap.shard!r}, not {shard!r}")
        if snap.seq != seq:
            raise SnapshotError(f"{path}: holds seq {snap.seq}, the file name says {seq}")
        return snap

    def latest(self, shard: str) -> Snapshot | None:
        """The newest valid snapshot of ``shard`` (damaged ones are skipped and reported)."""
        for seq in reversed(self.seqs(shard)):
            try:
                return self.load(shard, seq)
            except SnapshotError as exc:
                self.problems.append((self.path(shard, seq), str(exc)))
                log.warning("skipping a damaged snapshot: %s", exc)
        return None

    async def latest_async(self, shard: str) -> Snapshot | None:
        return await asyncio.to_thread(self.latest, shard)
