"""The rate limiter's :class:`~rialto.api.ratelimit.Store` in Redis, shared by every gateway.

A counter is a hash ``{v: value, e: expiry ms}``. Expiry is judged against the caller's
clock (the limiter's ``now_ms``), as :class:`~rialto.api.ratelimit.MemoryStore` does, so
both stores behave the same under the same tests; Redis's own TTL (the time left by that
clock) only reclaims the memory. Each operation is one Lua script: atomic across gateways
and one round trip.
"""

from __future__ import annotations

import redis.asyncio as aioredis

_READ = """
local function live(key, now)
  local e = tonumber(redis.call('HGET', key, 'e') or '0')
  if e > now then return tonumber(redis.call('HGET', key, 'v')) end
  return 0
end
local function add(key, amount, expire_at, now)
  local v = live(key, now) + amount
  redis.call('HSET', key, 'v', v, 'e', expire_at)
  redis.call('PEXPIRE', key, math.max(1, tonumber(expire_at) - now))
  return v
end
"""
_GET = _READ + "return live(KEYS[1], tonumber(ARGV[1]))"
_INCR = _READ + "return add(KEYS[1], tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]))"
_PUT = """
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'e', ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.max(1, tonumber(ARGV[2]) - tonumber(ARGV[3])))
return 1
"""
_INCR_UNLESS = (
    _READ
    + """
local now = tonumber(ARGV[3])
local guard = live(KEYS[1], now)
if guard > now then return {tostring(guard), 0} end
return {tostring(guard), add(KEYS[2], tonumber(ARGV[1]), ARGV[2], now)}
"""
)


class RedisStore:
    """Expiring integer counters under ``prefix`` in Redis."""

    def __init__(self, client: aioredis.Redis, prefix: str = "rialto:rl:") -> None:
        self.client = client
        self.prefix = prefix
        self._get = client.register_script(_GET)
        self._incr = client.register_script(_INCR)
        self._put = client.register_script(_PUT)
        self._incr_unless = client.register_script(_INCR_UNLESS)

    async def get(self, key: str, now_ms: int) -> int:
        return int(await self._get(keys=[self.prefix + key], args=[now_ms]))

    async def incr(self, key: str, amount: int, expire_at_ms: int, now_ms: int) -> int:
        return int(await self._incr(keys=[self.prefix + key], args=[amount, expire_at_ms, now_ms]))

    async def put(self, key: str, value: int, expire_at_ms: int, now_ms: int) -> None:
        await self._put(keys=[self.prefix + key], args=[value, expire_at_ms, now_ms])

    async def incr_unless(
        self, guard: str, key: str, amount: int, expire_at_ms: int, now_ms: int
    ) -> tuple[int, int]:
        g, v = await self._incr_unless(
            keys=[self.prefix + guard, self.prefix + key], args=[amount, expire_at_ms, now_ms]
        )
        return int(g), int(v)
