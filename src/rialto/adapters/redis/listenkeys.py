"""Listen keys in Redis: ``lk:<key>`` holds the user id, ``lku:<user>`` the user's key,
both expiring after 60 minutes (Redis's clock) unless kept alive. Lua keeps each change
atomic across gateways."""

from __future__ import annotations

import redis.asyncio as aioredis

from rialto.api.listenkeys import LISTEN_KEY_MS, new_listen_key

# KEYS: lku:<user>; ARGV: user, a fresh key, ttl, key prefix
_CREATE = """
local old = redis.call('GET', KEYS[1])
if old and redis.call('GET', ARGV[4] .. old) == ARGV[1] then
  redis.call('PEXPIRE', ARGV[4] .. old, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return old
end
redis.call('SET', ARGV[4] .. ARGV[2], ARGV[1], 'PX', ARGV[3])
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return ARGV[2]
"""
# KEYS: lk:<key>, lku:<user>; ARGV: user, ttl, key
_KEEP = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
return 1
"""
_CLOSE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
return 1
"""


class RedisListenKeys:
    def __init__(self, client: aioredis.Redis, prefix: str = "rialto:") -> None:
        self.client = client
        self.key_prefix = f"{prefix}lk:"
        self.user_prefix = f"{prefix}lku:"
        self._create = client.register_script(_CREATE)
        self._keep = client.register_script(_KEEP)
        self._close = client.register_script(_CLOSE)

    async def create(self, user_id: int, now: int) -> str:
        key = await self._create(
            keys=[f"{self.user_prefix}{user_id}"],
            args=[user_id, new_listen_key(), LISTEN_KEY_MS, self.key_prefix],
        )
        return key.decode() if isinstance(key, bytes) else str(key)

    async def keep_alive(self, user_id: int, key: str, now: int) -> bool:
        keys = [self.key_prefix + key, f"{self.user_prefix}{user_id}"]
        return bool(await self._keep(keys=keys, args=[user_id, LISTEN_KEY_MS, key]))

    async def close(self, user_id: int, key: str) -> bool:
        keys = [self.key_prefix + key, f"{self.user_prefix}{user_id}"]
        return bool(await self._close(keys=keys, args=[user_id, LISTEN_KEY_MS, key]))

    async def user_of(self, key: str, now: int) -> int | None:
        value = await self.client.get(self.key_prefix + key)
        return None if value is None else int(value)
