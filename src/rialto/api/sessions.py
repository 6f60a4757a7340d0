"""Login sessions and brute-force protection for people (the web terminal).

A session is a random token in an HttpOnly, SameSite=Strict cookie, valid for a day of
inactivity. Failed logins are counted per e-mail address and per client address: after
``max_failures`` within ``window_ms`` further attempts are refused until the window has
passed, whether the password is right or not. The stores are in memory in ``rialto up``;
the gateway of the distributed mode keeps the same data in Redis.
"""

from __future__ import annotations

import secrets
from typing import NamedTuple

SESSION_COOKIE = "rialto_session"
SESSION_MS = 24 * 60 * 60 * 1000


class Session(NamedTuple):
    user_id: int
    email: str
    expires: int


class Sessions:
    def __init__(self, ttl_ms: int = SESSION_MS) -> None:
        self.ttl_ms = ttl_ms
        self._by_token: dict[str, Session] = {}

    def open(self, user_id: int, email: str, now: int) -> str:
        token = secrets.token_urlsafe(32)
        self._by_token[token] = Session(user_id, email, now + self.ttl_ms)
        if len(self._by_token) % 1024 == 0:
            self._sweep(now)
        return token

    def get(self, token: str | None, now: int) -> Session | None:
        if not token:
            return None
        session = self._by_token.get(token)
        if session is None or session.expires < now:
            self._by_token.pop(token, None)
            return None
        refreshed = session._replace(expires=now + self.ttl_ms)
        self._by_token[token] = refreshed
        return refreshed

    def close(self, token: str | None) -> None:
        if token:
            self._by_token.pop(token, None)

    def _sweep(self, now: int) -> None:
        for token, session in list(self._by_token.items()):
            if session.expires < now:
                del self._by_token[token]


class Throttle:
    """Counts failures per key (an e-mail address, a client address) in a fixed window."""

    def __init__(self, max_failures: int = 5, window_ms: int = 15 * 60 * 1000) -> None:
        self.max_failures = max_failures
        self.window_ms = window_ms
        self._failures: dict[str, tuple[int, int]] = {}  # key -> (count, window start)

    def blocked_for(self, keys: list[str], now: int) -> int:
        """Milliseconds until any of ``keys`` may try again (0: it may now)."""
        wait = 0
        for key in keys:
            count, start = self._failures.get(key, (0, now))
            if now - start >= self.window_ms:
                self._failures.pop(key, None)
                continue
            if count >= self.max_failures:
                wait = max(wait, start + self.window_ms - now)
        return wait

    def failed(self, keys: list[str], now: int) -> None:
        for key in keys:
            count, start = self._failures.get(key, (0, now))
            if now - start >= self.window_ms:
                count, start = 0, now
            self._failures[key] = (count + 1, start)

    def succeeded(self, keys: list[str]) -> None:
        for key in keys:
            self._failures.pop(key, None)
