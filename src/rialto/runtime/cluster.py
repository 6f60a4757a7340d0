"""The distributed deployment's shared layout, and a client that sends requests to shards.

Every process of a cluster agrees on: the journal stream (``RIALTO_CMD``), the inbox
stream (``RIALTO_IN``), the number of user shards (KV ``rialto_cluster``, fixed when the
first process starts), and the markets (one key per market shard in ``rialto_markets``,
added before the market's first command so that members start owning it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Sequence
from typing import Any

import nats.js.errors
import orjson
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.kv import KeyValue

from rialto.adapters.nats.connect import NatsConnection
from rialto.adapters.nats.inbox import InboxSpec, ensure_inbox, publish_request
from rialto.adapters.nats.jetstream_journal import StreamSpec, ensure_stream
from rialto.domain import requests as req
from rialto.domain.instruments import Instrument
from rialto.domain.shards import CONTROL, accounts_shard, market_shard
from rialto.runtime.codec import encode_message

log = logging.getLogger("rialto.cluster")
CLUSTER_BUCKET = "rialto_cluster"
MARKETS_BUCKET = "rialto_markets"


class ClusterError(RuntimeError):
    """The cluster did not answer, or answered with an error."""


async def _bucket(js: JetStreamContext, name: str) -> KeyValue:
    try:
        return await js.key_value(name)
    except nats.js.errors.BucketNotFoundError:
        try:
            return await js.create_key_value(
                KeyValueConfig(bucket=name, history=1, storage=StorageType.FILE)
            )
        except nats.js.errors.BadRequestError:
            return await js.key_value(name)


async def prepare(conn: NatsConnection, user_shards: int | None = None) -> int:
    """Create the streams and buckets if missing; return the cluster's user shard count."""
    await ensure_stream(conn.js, StreamSpec())
    await ensure_inbox(conn.js, InboxSpec())
    kv = await _bucket(conn.js, CLUSTER_BUCKET)
    with contextlib.suppress(nats.js.errors.KeyWrongLastSequenceError):
        await kv.create("user_shards", str(user_shards or 4).encode())
    entry = await kv.get("user_shards")
    count = int(entry.value or b"0")
    if user_shards is not None and user_shards != count:
        raise ClusterError(f"the cluster has {count} user shards, not {user_shards}")
    await _bucket(conn.js, MARKETS_BUCKET)
    return count


async def market_shards(conn: NatsConnection) -> list[str]:
    kv = await _bucket(conn.js, MARKETS_BUCKET)
    try:
        return sorted(await kv.keys())
    except nats.js.errors.NoKeysError:
        return []


def fixed_shards(user_shards: int) -> list[str]:
    return [CONTROL, *(f"acct-{i}" for i in range(user_shards))]


class ClusterClient:
    """Send requests to the shards that carry them out and wait for their answers.

    A request is stored in its shard's inbox once (its id is the ``Nats-Msg-Id``); if no
    answer comes within ``retry_after`` it is sent again under the same id, which the
    inbox drops or, after a failover, the new owner answers.
    """

    def __init__(self, conn: NatsConnection, user_shards: int) -> None:
        self.conn = conn
        self.user_shards = user_shards
        self.inbox = InboxSpec()
        self._prefix = f"_R.{secrets.token_hex(6)}"
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._sub: Any = None

    @classmethod
    async def open(cls, conn: NatsConnection) -> ClusterClient:
        client = cls(conn, await prepare(conn))
        client._sub = await conn.nc.subscribe(f"{client._prefix}.*", cb=client._on_reply)
        return client

    async def close(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    async def _on_reply(self, msg: Any) -> None:
        try:
            body = orjson.loads(msg.data)
        except orjson.JSONDecodeError:
            return
        fut = self._waiting.get(str(body.get("rid", "")))
        if fut is not None and not fut.done():
            fut.set_result(body)

    def route(self, r: req.Request) -> list[str]:
        """The shards that carry out ``r``."""
        n = self.user_shards
        if isinstance(r, req.CreateUser):
            return [CONTROL]
        if isinstance(r, req.NewOrder | req.Deposit | req.Adjust | req.AssignFeeTier):
            return [accounts_shard(r.user_id, n)]
        if isinstance(r, req.CancelOrder | req.CancelAllOrders | req.AmendOrder):
            return [market_shard(r.symbol)]
        if isinstance(r, req.SetMarketStatus | req.SetMarketRisk | req.ResumeMarket):
            return [market_shard(r.symbol)]
        accounts = [f"acct-{i}" for i in range(n)]
        if isinstance(r, req.AddAsset | req.SetFeeTier):
            return accounts
        if isinstance(r, req.AddMarket):
            return [*accounts, market_shard(Instrument.from_dict(dict(r.spec)).symbol)]
        raise TypeError(f"not a request: {r!r}")

    async def submit(
        self, r: req.Request, *, timeout: float = 20.0, retry_after: float = 3.0
    ) -> dict[str, Any]:
        """Carry out ``r``; the answer of the shard that finishes it (of the last, if several)."""
        shards = self.route(r)
        if isinstance(r, req.AddMarket):
            kv = await _bucket(self.conn.js, MARKETS_BUCKET)
            await kv.put(shards[-1], b"1")
        answers = await asyncio.gather(
            *(self.send(s, r, timeout=timeout, retry_after=retry_after) for s in shards)
        )
        for a in answers:
            if "error" in a:
                return a
        return answers[-1]

    async def send(
        self, shard: str, r: req.Request, *, timeout: float = 20.0, retry_after: float = 3.0
    ) -> dict[str, Any]:
        rid = secrets.token_hex(10)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[rid] = fut
        payload = encode_message(r, 0, rid, f"{self._prefix}.{rid[:4]}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while True:
                try:
                    await publish_request(self.conn.js, self.inbox, shard, rid, payload)
                except Exception as exc:  # the bus is away for a moment: try again
                    log.debug("publish to %s failed: %s", shard, exc)
                wait = min(retry_after, deadline - loop.time())
                if wait <= 0:
                    raise ClusterError(f"no answer from {shard} within {timeout}s")
                try:
                    return await asyncio.wait_for(asyncio.shield(fut), wait)
                except TimeoutError:
                    continue
        finally:
            self._waiting.pop(rid, None)

    async def query(self, shard: str, op: str = "state", **args: Any) -> dict[str, Any]:
        """Ask the owner of ``shard`` about its state (see ShardHost._query)."""
        msg = await self.conn.nc.request(
            f"rialto.q.{shard}", orjson.dumps({"op": op, **args}), timeout=5.0
        )
        answer: dict[str, Any] = orjson.loads(msg.data)
        return answer

    async def all_shards(self) -> Sequence[str]:
        return [*fixed_shards(self.user_shards), *await market_shards(self.conn)]
