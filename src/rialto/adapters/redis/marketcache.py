"""The shared book and ticker snapshots in Redis: ``md:<SYMBOL>`` = {seq, ts, body}; a write
with a lower seq is dropped (Lua, atomic across gateways)."""

from __future__ import annotations

import redis.asyncio as aioredis

# ARGV: seq, body, now ms. Same seq: only a refresh at least a second newer (the 24h window).
_PUT = """
local cur = redis.call('HMGET', KEYS[1], 'seq', 'ts')
local seq, now = tonumber(ARGV[1]), tonumber(ARGV[3])
if cur[1] then
  local cs, ct = tonumber(cur[1]), tonumber(cur[2])
  if cs > seq or (cs == seq and now < ct + 1000) then return 0 end
end
redis.call('HSET', KEYS[1], 'seq', ARGV[1], 'body', ARGV[2], 'ts', ARGV[3])
return 1
"""


class RedisMarketCache:
    def __init__(self, client: aioredis.Redis, prefix: str = "rialto:") -> None:
        self.client = client
        self.prefix = f"{prefix}md:"
        self._put = client.register_script(_PUT)

    async def put(self, symbol: str, seq: int, snapshot: bytes, now_ms: int) -> bool:
        keys = [self.prefix + symbol]
        return bool(await self._put(keys=keys, args=[seq, snapshot, now_ms]))

    async def get(self, symbol: str) -> bytes | None:
        value = await self.client.hget(self.prefix + symbol, "body")
        return value.encode() if isinstance(value, str) else value
