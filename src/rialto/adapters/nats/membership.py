"""Cluster membership: members heartbeat into a KV bucket whose TTL drops the silent ones.

Each member ``put``s its key every ``ttl/3``; a member that stops (crash, partition, long
pause) disappears from :func:`live_members` about ``ttl`` seconds later; one that leaves
cleanly deletes its key and disappears at once. Shards are assigned over the live members
with rendezvous hashing (:mod:`rialto.runtime.rendezvous`), so every member computes the same
assignment without a coordinator. The assignment is advisory: a member that thinks it owns a
shard still has to take the shard's lease (:mod:`rialto.adapters.nats.lease`), and its
journal writes are fenced, so two members with different views never both write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from rialto.adapters.nats.lease import lease_bucket
from rialto.runtime import rendezvous

__all__ = ["Membership", "live_members"]

log = logging.getLogger("rialto.nats.membership")


async def live_members(js: JetStreamContext, bucket: str, kv: KeyValue) -> list[str]:
    """The members whose heartbeat has not expired, sorted.

    Read from the bucket stream's own subject list (one request), not ``kv.keys()``: under
    load nats-py's key watcher sometimes ended early and left live members out.
    """
    info = await js.stream_info(f"KV_{bucket}", subjects_filter=f"$KV.{bucket}.>")
    names = sorted(s.split(".", 2)[2] for s in (info.state.subjects or {}))
    alive = []
    for name in names:
        try:
            await kv.get(name)  # a member that left has a delete marker, not a value
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            continue
        alive.append(name)
    return alive


class Membership:
    """This process's membership in ``bucket`` under the name ``member``."""

    def __init__(
        self,
        js: JetStreamContext,
        bucket: str,
        member: str,
        ttl: float,
        *,
        info: bytes = b"",
        on_expired: Callable[[str], None] | None = None,
    ) -> None:
        self._js = js
        self.bucket = bucket
        self.member = member
        self.ttl = ttl
        self.info = info or member.encode()
        self.interval = ttl / 3
        self._on_expired = on_expired
        self._kv: KeyValue | None = None
        self._task: asyncio.Task[None] | None = None
        self._valid_until = 0.0
        self.expired = asyncio.Event()
        self.beats = 0

    async def kv(self) -> KeyValue:
        if self._kv is None:
            # Same bucket rules as leases: bucket-level TTL only, history 1.
            self._kv = await lease_bucket(self._js, self.bucket, self.ttl)
        return self._kv

    @property
    def alive(self) -> bool:
        """Our last successful heartbeat is younger than ``ttl``."""
        return self._task is not None and time.monotonic() < self._valid_until

    async def start(self) -> None:
        """Join: first heartbeat now (so the caller is listed on return), then every ttl/3."""
        kv = await self.kv()
        sent = time.monotonic()
        await kv.put(self.member, self.info)
        self._valid_until = sent + self.ttl
        self.beats += 1
        self.expired = asyncio.Event()
        self._task = asyncio.create_task(self._beat_loop(kv), name=f"member-{self.member}")

    async def stop(self, *, leave: bool = True) -> None:
        """Stop heartbeating; with ``leave`` delete our key so others see us gone at once
        (without it we vanish after the TTL, as after a crash)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if leave:
            kv = await self.kv()
            await kv.delete(self.member)

    async def live_members(self) -> list[str]:
        return await live_members(self._js, self.bucket, await self.kv())

    async def assignment(self, shards: Iterable[str]) -> dict[str, str]:
        """``{shard: owner}`` over the live members (rendezvous hashing)."""
        members = await self.live_members()
        if not members:
            return {}
        return rendezvous.assign(shards, members)

    async def owned(self, shards: Iterable[str]) -> list[str]:
        """The shards this member should own now."""
        return sorted(s for s, m in (await self.assignment(shards)).items() if m == self.member)

    async def _beat_loop(self, kv: KeyValue) -> None:
        while True:
            await asyncio.sleep(self.interval)
            sent = time.monotonic()
            try:
                await asyncio.wait_for(kv.put(self.member, self.info), self.interval)
            except (TimeoutError, nats.errors.Error, OSError) as exc:
                log.warning("member %s: heartbeat failed: %r", self.member, exc)
                if time.monotonic() >= self._valid_until and not self.expired.is_set():
                    self.expired.set()
                    log.warning("member %s: no heartbeat for %ss", self.member, self.ttl)
                    if self._on_expired is not None:
                        self._on_expired(f"no heartbeat for {self.ttl}s")
                continue
            self._valid_until = sent + self.ttl
            self.beats += 1
            if self.expired.is_set():
                self.expired = asyncio.Event()  # back in the member list
