"""One asyncio Redis client per process, checked at start so a missing server fails loudly."""

from __future__ import annotations

import redis.asyncio as aioredis


class RedisUnavailableError(ConnectionError):
    """No Redis server answered at the given URL."""


async def connect_redis(url: str) -> aioredis.Redis:
    client = aioredis.Redis.from_url(url, decode_responses=False)
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        raise RedisUnavailableError(f"no Redis server at {url}: {exc}") from exc
    return client
