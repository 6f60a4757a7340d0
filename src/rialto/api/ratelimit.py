"""Request-weight limits with Binance's signalling: 429, then a 418 ban.

A fixed one-minute window per key (an IP address, or an API key), aligned to the
minute as Binance's ``X-MBX-USED-WEIGHT-1M`` is. Every request adds its weight, refused
ones included (Binance counts them too). A request that takes the window over the limit
is a *violation*: the first ``ban_after`` violations of a window are answered 429 with
``Retry-After`` up to the end of the window; the next one bans the key for
``ban_seconds`` (418, ``Retry-After`` up to the end of the ban). Bans double for repeat
offenders (a key banned again within a day), up to ``max_ban_seconds`` (Binance: "from
2 minutes to 3 days"). Requests during a ban are refused without adding weight and
without extending the ban.

The counters live in a :class:`Store` (get/incr/put with expiry): :class:`MemoryStore`
in one process, ``rialto.adapters.redis.RedisStore`` shared by every gateway.
"""

from __future__ import annotations

import os
from typing import NamedTuple, Protocol

from rialto.api import errors

WINDOW_MS = 60_000
WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
WINDOW_TEXT = "1 MINUTE"  # as Binance words the interval in -1003
STRIKE_MEMORY_MS = 86_400_000  # a ban within this long of the last one doubles


class Store(Protocol):
    """Integer counters that expire at a given time (the caller's clock); a missing or
    expired key reads as 0. Async, so the counters can live in Redis."""

    async def get(self, key: str, now_ms: int) -> int: ...

    async def incr(self, key: str, amount: int, expire_at_ms: int, now_ms: int) -> int:
        """Add ``amount`` (from 0 when missing), set the expiry, return the new value."""
        ...

    async def put(self, key: str, value: int, expire_at_ms: int, now_ms: int) -> None: ...

    async def incr_unless(
        self, guard: str, key: str, amount: int, expire_at_ms: int, now_ms: int
    ) -> tuple[int, int]:
        """``(guard's value, 0)`` when ``guard`` is above ``now_ms``, else ``(guard's value,
        incr(key, ...))``: one round trip for the common path of a request."""
        ...


class MemoryStore:
    """A :class:`Store` in a dict; expired entries are swept every ``sweep_every`` writes."""

    def __init__(self, sweep_every: int = 4096) -> None:
        self._data: dict[str, tuple[int, int]] = {}  # key -> (value, expire_at_ms)
        self._sweep_every = sweep_every
        self._writes = 0

    def __len__(self) -> int:
        return len(self._data)

    def _live(self, key: str, now_ms: int) -> int:
        entry = self._data.get(key)
        if entry is None or entry[1] <= now_ms:
            return 0
        return entry[0]

    def _written(self, now_ms: int) -> None:
        self._writes += 1
        if self._writes >= self._sweep_every:
            self._writes = 0
            self._data = {k: e for k, e in self._data.items() if e[1] > now_ms}

    def _incr(self, key: str, amount: int, expire_at_ms: int, now_ms: int) -> int:
        value = self._live(key, now_ms) + amount
        self._data[key] = (value, expire_at_ms)
        self._written(now_ms)
        return value

    async def get(self, key: str, now_ms: int) -> int:
        return self._live(key, now_ms)

    async def incr(self, key: str, amount: int, expire_at_ms: int, now_ms: int) -> int:
        return self._incr(key, amount, expire_at_ms, now_ms)

    async def put(self, key: str, value: int, expire_at_ms: int, now_ms: int) -> None:
        self._data[key] = (value, expire_at_ms)
        self._written(now_ms)

    async def incr_unless(
        self, guard: str, key: str, amount: int, expire_at_ms: int, now_ms: int
    ) -> tuple[int, int]:
        until = self._live(guard, now_ms)
        if until > now_ms:
            return until, 0
        return until, self._incr(key, amount, expire_at_ms, now_ms)


def _seconds_until(until_ms: int, now_ms: int) -> int:
    """Whole seconds (rounded up, at least 1) from ``now_ms`` to ``until_ms``."""
    return max(1, -(-(until_ms - now_ms) // 1000))


class Usage(NamedTuple):
    """One request's standing: the window's weight so far and, if refused, for how long.

    ``retry_after_s`` is None when the request may proceed; ``banned`` tells a 418 from
    a 429; ``until_ms`` is when the refusal ends (0 when allowed).
    """

    used_weight: int
    retry_after_s: int | None = None
    banned: bool = False
    until_ms: int = 0

    @property
    def allowed(self) -> bool:
        return self.retry_after_s is None

    @property
    def status(self) -> int:
        if self.allowed:
            return 200
        return errors.IP_BANNED if self.banned else errors.TOO_MANY_REQUESTS

    def headers(self) -> dict[str, str]:
        headers = {WEIGHT_HEADER: str(self.used_weight)}
        if self.retry_after_s is not None:
            headers["Retry-After"] = str(self.retry_after_s)
        return headers


class RateLimiter:
    def __init__(
        self,
        limit_per_minute: int = 6000,
        ban_after: int = 3,
        ban_seconds: int = 120,
        max_ban_seconds: int = 3 * 86_400,
        store: Store | None = None,
    ) -> None:
        if limit_per_minute < 1 or ban_after < 0 or ban_seconds < 1:
            raise ValueError("limit_per_minute and ban_seconds are positive, ban_after >= 0")
        self.limit = limit_per_minute
        self.ban_after = ban_after
        self.ban_seconds = ban_seconds
        self.max_ban_seconds = max(ban_seconds, max_ban_seconds)
        self.store: Store = store if store is not None else MemoryStore()

    async def used(self, key: str, now_ms: int) -> int:
        """The weight ``key`` has used in the current window."""
        window = now_ms // WINDOW_MS
        return await self.store.get(f"w:{key}:{window}", now_ms)

    async def hit(self, key: str, weight: int, now_ms: int) -> Usage:
        """Count a request of ``weight`` by ``key`` at ``now_ms``; its :class:`Usage`."""
        window = now_ms // WINDOW_MS
        window_end = (window + 1) * WINDOW_MS
        banned_until, used = await self.store.incr_unless(
            f"b:{key}", f"w:{key}:{window}", weight, window_end, now_ms
        )
        if banned_until > now_ms:
            return Usage(
                await self.used(key, now_ms),
                _seconds_until(banned_until, now_ms),
                True,
                banned_until,
            )
        if used <= self.limit:
            return Usage(used)
        violations = await self.store.incr(f"v:{key}:{window}", 1, window_end, now_ms)
        if violations <= self.ban_after:
            return Usage(used, _seconds_until(window_end, now_ms), False, window_end)
        until = now_ms + await self._ban_ms(key, now_ms)
        await self.store.put(f"b:{key}", until, until, now_ms)
        return Usage(used, _seconds_until(until, now_ms), True, until)

    async def _ban_ms(self, key: str, now_ms: int) -> int:
        strikes = await self.store.incr(f"s:{key}", 1, now_ms + STRIKE_MEMORY_MS, now_ms)
        seconds = self.ban_seconds << min(strikes - 1, 32)
        return min(seconds, self.max_ban_seconds) * 1000

    def error(self, usage: Usage) -> errors.ApiError | None:
        """The -1003 error (429 or 418, with Retry-After) for a refused request."""
        if usage.retry_after_s is None:
            return None
        if usage.banned:
            return errors.ip_banned(usage.until_ms, usage.retry_after_s)
        return errors.too_much_weight(self.limit, usage.retry_after_s, WINDOW_TEXT)


ORDER_WINDOW_MS = 10_000
# Market makers re-quote many times a second: far above Binance's 100 per 10 s by default.
DEFAULT_ORDERS_PER_10S = 10_000
ORDER_COUNT_HEADER = "X-MBX-ORDER-COUNT-10S"


class OrderLimiter:
    """Binance's ``ORDERS`` limit: new orders per account per 10 seconds (-1015, 429).

    Counted per user, whichever key or gateway the order came through; refused orders
    count too, as on Binance. No bans: the window's end is the wait.
    """

    def __init__(self, limit_per_10s: int, store: Store) -> None:
        if limit_per_10s < 1:
            raise ValueError("limit_per_10s is positive")
        self.limit = limit_per_10s
        self.store = store

    async def hit(self, user_id: int, now_ms: int) -> tuple[int, errors.ApiError | None]:
        """The account's order count in this window, and the error when over the limit."""
        window = now_ms // ORDER_WINDOW_MS
        end = (window + 1) * ORDER_WINDOW_MS
        count = await self.store.incr(f"o:{user_id}:{window}", 1, end, now_ms)
        if count <= self.limit:
            return count, None
        return count, errors.too_many_orders(self.limit, "10 SECOND")


class Limits(NamedTuple):
    """The API's limits: request weight per IP, new orders per account."""

    weight: RateLimiter
    orders: OrderLimiter

    @classmethod
    def configured(cls, store: Store) -> Limits:
        """Limits from the environment (``RIALTO_IP_WEIGHT_PER_MINUTE``,
        ``RIALTO_ORDERS_PER_10S``) on ``store``."""
        weight = int(os.environ.get("RIALTO_IP_WEIGHT_PER_MINUTE", "6000"))
        orders = int(os.environ.get("RIALTO_ORDERS_PER_10S", str(DEFAULT_ORDERS_PER_10S)))
        return cls(RateLimiter(weight, store=store), OrderLimiter(orders, store))

    @classmethod
    def in_memory(cls) -> Limits:
        return cls.configured(MemoryStore())

    def rate_limits(self) -> list[dict[str, object]]:
        """``exchangeInfo``'s ``rateLimits``, as configured."""
        return [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": self.weight.limit,
            },
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
             "limit": self.orders.limit},
        ]  # fmt: skip
