"""One process of ``rialto serve``: its share of the shards, by rendezvous over live members.

Every ``interval`` the member ranks each shard of its services over the live members.
Ranked first, it owns the shard: it follows the journal until it holds the shard's
lease, then promotes itself (see :mod:`rialto.runtime.shard_host`). Ranked second, it is
the shard's warm standby. A member that joins takes its share: the old owner sees it is
no longer first, hands the shard over (drains, snapshots, releases the lease) and
follows it from then on. A lost lease drops the shard at once; it is reloaded from the
member's own snapshot and journal.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from rialto.adapters.nats.connect import NatsConnection
from rialto.adapters.nats.lease import Lease, lease_bucket
from rialto.adapters.nats.membership import Membership
from rialto.adapters.nats.tasks import cancel_and_wait
from rialto.runtime import rendezvous
from rialto.runtime.cluster import fixed_shards, market_shards, prepare
from rialto.runtime.shard_host import Listener, ShardHost
from rialto.runtime.snapshots import SnapshotStore

log = logging.getLogger("rialto.member")
SERVICES = ("accounts", "matching")
LEASES = "rialto_leases"


class Member:
    def __init__(
        self,
        conn: NatsConnection,
        name: str,
        services: tuple[str, ...],
        data_dir: str | Path,
        *,
        user_shards: int | None = None,
        ttl: float = 2.0,
        interval: float = 0.25,
        snapshot_every: int = 50_000,
        listener: Listener | None = None,
    ) -> None:
        unknown = set(services) - set(SERVICES)
        if unknown or not services:
            raise ValueError(f"services are {', '.join(SERVICES)}; not {sorted(unknown)}")
        self.conn = conn
        self.name = name
        self.services = services
        self.snapshots = SnapshotStore(Path(data_dir) / "snapshots")
        self.user_shards = user_shards
        self.ttl = ttl
        self.interval = interval
        self.snapshot_every = snapshot_every
        self.listener = listener
        self.hosts: dict[str, ShardHost] = {}
        self.leases: dict[str, Lease] = {}
        self._members: dict[str, Membership] = {}
        self._task: asyncio.Task[None] | None = None
        self._busy: set[str] = set()  # shards with a promotion or hand-over under way
        self._work: set[asyncio.Task[None]] = set()
        self.stopping = False

    async def start(self) -> None:
        self.user_shards = await prepare(self.conn, self.user_shards)
        await lease_bucket(self.conn.js, LEASES, self.ttl)
        for service in self.services:
            m = Membership(self.conn.js, f"rialto_members_{service}", self.name, self.ttl)
            await m.start()
            self._members[service] = m
        self._task = asyncio.create_task(self._loop(), name=f"member-{self.name}")

    async def stop(self) -> None:
        """Hand every shard over, then leave (others take over at once)."""
        self.stopping = True
        if self._task is not None:
            await cancel_and_wait([self._task])
        await asyncio.gather(*self._work, return_exceptions=True)
        for shard in list(self.hosts):
            await self._drop(shard)
        for m in self._members.values():
            await m.stop(leave=True)

    def owned(self) -> list[str]:
        return sorted(s for s, h in self.hosts.items() if h.role == "owner")

    async def _loop(self) -> None:
        while True:
            try:
                await self._rebalance()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the bus is away for a moment: try again next round
                log.warning("%s: rebalance failed: %r", self.name, exc)
            await asyncio.sleep(self.interval)

    async def _shards(self, service: str) -> list[str]:
        if service == "accounts":
            return fixed_shards(self.user_shards or 0)
        return await market_shards(self.conn)

    async def _rebalance(self) -> None:
        for service, membership in self._members.items():
            members = await membership.live_members()
            if self.name not in members:
                members.append(self.name)  # our own heartbeat may lag; we are alive
            for shard in await self._shards(service):
                ranked = rendezvous.ranked(shard, members)
                want = "owner" if ranked[0] == self.name else ""
                if not want and len(ranked) > 1 and ranked[1] == self.name:
                    want = "standby"
                await self._steer(shard, want)

    async def _steer(self, shard: str, want: str) -> None:
        if shard in self._busy:
            return
        host = self.hosts.get(shard)
        if host is not None and host.failure is not None:
            log.warning("%s: dropping %s after %r", self.name, shard, host.failure)
            await self._drop(shard)
            host = None
        if not want:
            if host is not None:
                self._spawn(shard, self._drop(shard))
            return
        if host is None:
            host = ShardHost(
                self.conn,
                shard,
                self.snapshots,
                snapshot_every=self.snapshot_every,
                listener=self.listener,
            )
            await host.load()
            await host.follow()
            self.hosts[shard] = host
        if want == "owner" and host.role == "standby":
            self._spawn(shard, self._take(shard, host))
        elif want == "standby" and host.role == "owner":
            self._spawn(shard, self._give(shard, host))

    def _spawn(self, shard: str, coro: object) -> None:
        self._busy.add(shard)

        async def run() -> None:
            try:
                await coro  # type: ignore[misc]
            except Exception as exc:
                log.warning("%s: %s: %r", self.name, shard, exc)
            finally:
                self._busy.discard(shard)

        task = asyncio.create_task(run())
        self._work.add(task)
        task.add_done_callback(self._work.discard)

    async def _take(self, shard: str, host: ShardHost) -> None:
        lease = Lease(self.conn.js, LEASES, shard, self.name, self.ttl, on_lost=host.revoke)
        if not await lease.acquire():
            return  # the old owner's lease has not expired yet: next round
        self.leases[shard] = lease
        try:
            await host.promote(lease.token)
        except Exception:
            host.revoke("promotion failed")
            await lease.release()
            self.leases.pop(shard, None)
            raise

    async def _give(self, shard: str, host: ShardHost) -> None:
        await host.hand_over()
        lease = self.leases.pop(shard, None)
        if lease is not None:
            await lease.release()
        await host.close()
        self.hosts.pop(shard, None)  # reloaded as a standby from the snapshot just taken

    async def _drop(self, shard: str) -> None:
        host = self.hosts.pop(shard, None)
        if host is not None:
            await host.close()
        lease = self.leases.pop(shard, None)
        if lease is not None:
            if host is not None and host.failure is None:
                await lease.release()
            else:
                await lease.abandon()
