"""What the API processes share: in memory for one process, in Redis for several gateways.

Rate-limit counters (per IP, per account), listen keys, login sessions and the books and
tickers that REST answers must be the same whichever gateway a client reaches; ``--redis
URL`` puts them in Redis under ``$RIALTO_REDIS_PREFIX`` (default ``rialto:``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

from rialto.adapters.redis import connect_redis
from rialto.adapters.redis.counters import RedisStore
from rialto.adapters.redis.listenkeys import RedisListenKeys
from rialto.adapters.redis.marketcache import RedisMarketCache
from rialto.adapters.redis.sessions import RedisSessions
from rialto.api.listenkeys import ListenKeys, MemoryListenKeys
from rialto.api.marketcache import MarketCache
from rialto.api.ratelimit import Limits, MemoryStore
from rialto.api.sessions import Sessions, SessionStore, Throttle


def redis_prefix() -> str:
    return os.environ.get("RIALTO_REDIS_PREFIX", "rialto:")


@dataclass(frozen=True)
class SharedState:
    limits: Limits
    listen_keys: ListenKeys
    sessions: SessionStore
    throttle: Throttle  # failed logins
    market: MarketCache | None = None  # None: each process answers from its own market data
    where: str = "memory"

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, redis_url: str | None) -> AsyncIterator[SharedState]:
        if redis_url is None:
            memory = MemoryStore()
            yield cls(Limits.configured(memory), MemoryListenKeys(), Sessions(), Throttle(memory))
            return
        client = await connect_redis(redis_url)
        prefix = redis_prefix()
        try:
            store = RedisStore(client, f"{prefix}rl:")
            keys, market = RedisListenKeys(client, prefix), RedisMarketCache(client, prefix)
            sessions = RedisSessions(client, prefix)
            yield cls(Limits.configured(store), keys, sessions, Throttle(store), market, redis_url)
        finally:
            await client.aclose()
