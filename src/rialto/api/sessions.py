"""Login sessions and brute-force protection for people (the web terminal).

A session is a random token in an HttpOnly, SameSite=Strict cookie, valid for a day of
inactivity. Failed logins are counted per e-mail address and per client address: after
``max_failures`` within ``window_ms`` further attempts are refused until the window has
passed, whether the password is right or not. The stores are in memory in ``rialto up``;
with ``--redis`` (and in ``rialto serve gateway``) they are in Redis, shared by the gateways.
"""

from __future__ import annotations

import secrets
from typing import NamedTuple, Protocol

from rialto.api.ratelimit import Store

SESSION_COOKIE = "rialto_session"
SESSION_MS = 24 * 60 * 60 * 1000


class Session(NamedTuple):
    user_id: int
    email: str
    expires: int


class SessionStore(Protocol):
    async def open(self, user_id: int, email: str, now: int) -> str: ...

    async def get(self, token: str | None, now: int) -> Session | None:
        """The live session of ``token`` (each use extends it), or None."""
        ...

    async def close(self, token: str | None) -> None: ...


class Sessions:
    """Sessions in this process's memory (``rialto up`` without Redis)."""

    def __init__(self, ttl_ms: int = SESSION_MS) -> None:
        self.ttl_ms = ttl_ms
        self._by_token: dict[str, Session] = {}

    async def open(self, user_id: int, email: str, now: int) -> str:
        token = secrets.token_urlsafe(32)
        self._by_token[token] = Session(user_id, email, now + self.ttl_ms)
        if len(self._by_token) % 1024 == 0:
            self._sweep(now)
        return token

    async def get(self, token: str | None, now: int) -> Session | None:
        if not token:
            return None
        session = self._by_token.get(token)
        if session is None or session.expires < now:
            self._by_token.pop(token, None)
            return None
        refreshed = session._replace(expires=now + self.ttl_ms)
        self._by_token[token] = refreshed
        return refreshed

    async def close(self, token: str | None) -> None:
        if token:
            self._by_token.pop(token, None)

    def _sweep(self, now: int) -> None:
        for token, session in list(self._by_token.items()):
            if session.expires < now:
                del self._by_token[token]


class Throttle:
    """Counts failures per key (an e-mail address, a client address) in a fixed window that
    starts at the first failure; the counters are a rate-limit :class:`Store` (memory or
    Redis), so every gateway counts the same failures."""

    def __init__(
        self, store: Store, max_failures: int = 5, window_ms: int = 15 * 60 * 1000
    ) -> None:
        self.store = store
        self.max_failures = max_failures
        self.window_ms = window_ms

    async def blocked_for(self, keys: list[str], now: int) -> int:
        """Milliseconds until any of ``keys`` may try again (0: it may now)."""
        wait = 0
        for key in keys:
            if await self.store.get(f"lf:{key}", now) >= self.max_failures:
                wait = max(wait, await self.store.get(f"le:{key}", now) - now)
        return wait

    async def failed(self, keys: list[str], now: int) -> None:
        for key in keys:
            end = await self.store.get(f"le:{key}", now)
            if end <= now:  # the first failure of a new window
                end = now + self.window_ms
                await self.store.put(f"le:{key}", end, end, now)
            await self.store.incr(f"lf:{key}", 1, end, now)

    async def succeeded(self, keys: list[str]) -> None:
        for key in keys:
            await self.store.put(f"lf:{key}", 0, 1, 0)
