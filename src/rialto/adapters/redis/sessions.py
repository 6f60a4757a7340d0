"""Login sessions in Redis, for several gateways: ``sess:<token>`` holds the user id and
e-mail, expiring after the session's idle time (Redis's clock); each use extends it."""

from __future__ import annotations

import secrets

import orjson
import redis.asyncio as aioredis

from rialto.api.sessions import SESSION_MS, Session


class RedisSessions:
    def __init__(
        self, client: aioredis.Redis, prefix: str = "rialto:", ttl_ms: int = SESSION_MS
    ) -> None:
        self.client = client
        self.prefix = f"{prefix}sess:"
        self.ttl_ms = ttl_ms

    async def open(self, user_id: int, email: str, now: int) -> str:
        token = secrets.token_urlsafe(32)
        value = orjson.dumps([user_id, email])
        await self.client.set(self.prefix + token, value, px=self.ttl_ms)
        return token

    async def get(self, token: str | None, now: int) -> Session | None:
        if not token:
            return None
        raw = await self.client.getex(self.prefix + token, px=self.ttl_ms)
        if raw is None:
            return None
        user_id, email = orjson.loads(raw)
        return Session(int(user_id), str(email), now + self.ttl_ms)

    async def close(self, token: str | None) -> None:
        if token:
            await self.client.delete(self.prefix + token)
