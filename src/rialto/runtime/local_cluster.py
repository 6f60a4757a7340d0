"""A cluster of ``rialto serve`` processes on one machine, and its consistency checks.

For tests and benchmarks: members are real processes (killed with SIGKILL when a test
says so) on a NATS server given by URL. :func:`audit` reads every shard's journal from
JetStream, replays it into a fresh shard and compares the state hash with the owner's.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import nats.js.errors

from rialto.adapters.nats.connect import NatsConnection
from rialto.adapters.nats.jetstream_journal import JetStreamJournal
from rialto.domain.shards import Shard, new_shard
from rialto.runtime.cluster import ClusterClient
from rialto.runtime.codec import decode_input
from rialto.runtime.member import LEASES


class LocalCluster:
    def __init__(
        self,
        nats_url: str,
        data_dir: Path,
        *,
        services: tuple[str, ...] = ("accounts", "matching"),
        user_shards: int = 4,
        ttl: float = 1.5,
    ) -> None:
        self.nats_url = nats_url
        self.data_dir = data_dir
        self.services = services
        self.user_shards = user_shards
        self.ttl = ttl
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, member: str) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = (self.data_dir / f"{member}.log").open("ab")
        cmd = [
            sys.executable,
            "-m",
            "rialto.cli",
            "serve",
            *self.services,
            "--nats",
            self.nats_url,
            "--member",
            member,
            "--data-dir",
            str(self.data_dir),
            "--user-shards",
            str(self.user_shards),
            "--ttl",
            str(self.ttl),
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.procs[member] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)

    def kill(self, member: str) -> None:
        proc = self.procs.pop(member)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def stop(self, member: str, timeout: float = 20.0) -> int:
        proc = self.procs.pop(member)
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
            return -9

    def stop_all(self) -> None:
        for member in list(self.procs):
            self.stop(member)

    def __del__(self) -> None:  # a member never outlives its harness
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()

    def log(self, member: str) -> str:
        return (self.data_dir / f"{member}.log").read_text(errors="replace")


async def owner_of(conn: NatsConnection, shard: str) -> str | None:
    """The member holding ``shard``'s lease, or None."""
    kv = await conn.js.key_value(LEASES)
    try:
        entry = await kv.get(shard)
    except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
        return None
    return (entry.value or b"").decode().rsplit(" ", 1)[0] or None


async def wait_owned(client: ClusterClient, shards: list[str], timeout: float = 30.0) -> None:
    """Until every shard answers queries as an owner."""
    deadline = time.monotonic() + timeout
    pending = list(shards)
    while pending:
        shard = pending[0]
        try:
            answer = await client.query(shard)
            if answer.get("role") == "owner":
                pending.pop(0)
                continue
        except Exception:  # no owner yet: no responders
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"no owner for {pending} within {timeout}s")
        await asyncio.sleep(0.1)


async def wait_quiet(client: ClusterClient, timeout: float = 60.0) -> dict[str, dict[str, Any]]:
    """Until every message sent between shards has been applied; the shards' states."""
    deadline = time.monotonic() + timeout
    while True:
        shards = await client.all_shards()
        states: dict[str, dict[str, Any]] = {}
        try:
            for s in shards:
                states[s] = await client.query(s)
        except Exception:
            states = {}
        if states and all(st.get("role") == "owner" for st in states.values()):
            behind = [
                (src, dest)
                for src, st in states.items()
                for dest, n in st["sent"].items()
                if states.get(dest, {}).get("received", {}).get(src, 0) != n
            ]
            if not behind:
                return states
        if time.monotonic() > deadline:
            raise TimeoutError("shards did not settle")
        await asyncio.sleep(0.2)


class Audit:
    def __init__(self) -> None:
        self.shards: dict[str, Shard] = {}
        self.caller_rids: Counter[str] = Counter()
        self.records = 0


async def audit(conn: NatsConnection, shards: list[str]) -> Audit:
    """Replay every shard's journal into fresh shards; count each caller request."""
    result = Audit()
    for name in shards:
        shard = new_shard(name)
        journal = await JetStreamJournal.open(conn, name)
        async for rec in journal.read():
            i = decode_input(rec.payload)
            shard.apply(i.seq, i.ts, i.source, i.number, i.inbox_seq, i.msg)
            if not i.source and i.rid:
                result.caller_rids[i.rid] += 1
            result.records += 1
        result.shards[name] = shard
    return result
