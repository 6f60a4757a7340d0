"""The Redis adapters against the real server on localhost:6379, each test under its own
key prefix: rate-limit counters, listen keys and the shared market snapshots, each against
the in-memory behaviour where there is one."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis

from rialto.adapters.redis import connect_redis
from rialto.adapters.redis.counters import RedisStore
from rialto.adapters.redis.listenkeys import RedisListenKeys
from rialto.adapters.redis.marketcache import RedisMarketCache
from rialto.api.listenkeys import MemoryListenKeys
from rialto.api.ratelimit import MemoryStore, RateLimiter, Store, Usage

T0 = 1_700_000_020_000  # 40 s into a minute

REDIS = "redis://127.0.0.1:6379/0"


def on_redis(scenario: Callable[[aioredis.Redis, str], Awaitable[Any]]) -> Any:
    async def run() -> Any:
        client = await connect_redis(REDIS)
        prefix = f"rialto-test:{uuid.uuid4().hex}:"
        try:
            return await scenario(client, prefix)
        finally:
            keys = [k async for k in client.scan_iter(match=prefix + "*")]
            if keys:
                await client.delete(*keys)
            await client.aclose()

    return asyncio.run(run())


async def listen_key_story(keys: Any) -> list[Any]:
    """The same calls on either store; what they answered (keys replaced by names)."""
    a1 = await keys.create(1, 0)
    a2 = await keys.create(1, 1)  # the live key again
    b = await keys.create(2, 2)
    names = {a1: "a", b: "b"}
    out: list[Any] = [names.get(a1), names.get(a2), a1 != b]
    out += [
        await keys.user_of(a1, 3),
        await keys.keep_alive(2, a1, 4),  # not Bob's key
        await keys.keep_alive(1, a1, 5),
        await keys.close(2, a1),
        await keys.close(1, a1),
        await keys.user_of(a1, 6),
        await keys.keep_alive(1, a1, 7),
        await keys.user_of(b, 8),
        await keys.user_of("no-such-key", 9),
    ]
    fresh = await keys.create(1, 10)
    out.append(fresh not in names)
    return out


def test_redis_listen_keys_behave_as_the_memory_ones() -> None:
    memory = asyncio.run(listen_key_story(MemoryListenKeys()))
    redis = on_redis(lambda client, prefix: listen_key_story(RedisListenKeys(client, prefix)))
    assert redis == memory
    assert memory == ["a", "a", True, 1, False, True, False, True, None, False, 2, None, True]


def test_redis_listen_keys_expire_with_redis_clock() -> None:
    async def scenario(client: aioredis.Redis, prefix: str) -> tuple[int, int]:
        keys = RedisListenKeys(client, prefix)
        key = await keys.create(7, 0)
        return await client.pttl(prefix + "lk:" + key), await client.pttl(prefix + "lku:7")

    ttl_key, ttl_user = on_redis(scenario)
    assert 59 * 60_000 < ttl_key <= 60 * 60_000
    assert 59 * 60_000 < ttl_user <= 60 * 60_000


def test_market_snapshots_keep_the_newest() -> None:
    async def scenario(client: aioredis.Redis, prefix: str) -> list[Any]:
        cache = RedisMarketCache(client, prefix)
        return [
            await cache.get("BTCUSDT"),
            await cache.put("BTCUSDT", 10, b"ten", 1_000),
            await cache.put("BTCUSDT", 9, b"nine", 5_000),  # older seq: dropped
            await cache.get("BTCUSDT"),
            await cache.put("BTCUSDT", 10, b"ten again", 1_500),  # same seq, too soon
            await cache.put("BTCUSDT", 10, b"ten later", 2_000),  # same seq, a second on
            await cache.get("BTCUSDT"),
            await cache.put("BTCUSDT", 11, b"eleven", 0),
            await cache.get("BTCUSDT"),
            await cache.get("ETHUSDT"),
        ]

    assert on_redis(scenario) == [
        None, True, False, b"ten", False, True, b"ten later", True, b"eleven", None
    ]  # fmt: skip


def test_redis_counters_behave_as_the_memory_store() -> None:
    """The same random traffic through a limiter on each store: the same answers."""
    rng = random.Random(5)

    async def scenario(store: Store) -> list[Usage]:
        limiter = RateLimiter(limit_per_minute=50, ban_after=2, ban_seconds=3, store=store)
        now, out = T0, []
        for _ in range(400):
            now += rng.choice((0, 1, 250, 900, 4_000))
            out.append(await limiter.hit(rng.choice(("a", "b")), rng.randint(1, 9), now))
        return out

    state = rng.getstate()
    memory = asyncio.run(scenario(MemoryStore()))
    rng.setstate(state)
    redis = on_redis(lambda client, prefix: scenario(RedisStore(client, prefix)))
    assert redis == memory
    assert any(u.banned for u in memory) and any(u.status == 429 for u in memory)
