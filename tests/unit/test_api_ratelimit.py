"""Request-weight limits: X-MBX-USED-WEIGHT-1M, 429 with Retry-After, then a 418 ban."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from rialto.api.ratelimit import (
    WEIGHT_HEADER,
    MemoryStore,
    OrderLimiter,
    RateLimiter,
    Store,
    Usage,
)

MINUTE = 60_000
T0 = 1_700_000_020_000  # 40 s into a minute
_LOOP = asyncio.new_event_loop()
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return _LOOP.run_until_complete(coro)


def hit(limiter: RateLimiter, key: str, weight: int, now: int) -> Usage:
    return run(limiter.hit(key, weight, now))


def test_t0_is_40s_into_its_minute() -> None:
    assert T0 % MINUTE == 40_000


def test_under_the_limit_requests_pass_and_report_the_used_weight() -> None:
    limiter = RateLimiter(limit_per_minute=10)
    first = hit(limiter, "1.2.3.4", 4, T0)
    assert first == Usage(4)
    assert (first.allowed, first.status, first.headers()) == (True, 200, {WEIGHT_HEADER: "4"})
    assert hit(limiter, "1.2.3.4", 6, T0 + 1) == Usage(10)  # exactly the limit is fine
    assert run(limiter.used("1.2.3.4", T0 + 2)) == 10
    assert limiter.error(Usage(10)) is None


def test_429_until_the_window_ends_then_418_ban_with_retry_after() -> None:
    limiter = RateLimiter(limit_per_minute=10, ban_after=3, ban_seconds=120)
    ip = "1.2.3.4"
    assert hit(limiter, ip, 5, T0).allowed
    assert hit(limiter, ip, 5, T0).allowed

    over = hit(limiter, ip, 5, T0)  # 15 > 10: the first violation
    assert over == Usage(15, 20, False, T0 + 20_000)
    assert over.status == 429
    assert over.headers() == {WEIGHT_HEADER: "15", "Retry-After": "20"}
    error = limiter.error(over)
    assert error is not None
    assert (error.status, error.code, error.headers()) == (429, -1003, {"Retry-After": "20"})
    assert error.msg == (
        "Too much request weight used; current limit is 10 request weight per 1 MINUTE. "
        "Please use WebSocket Streams for live updates to avoid polling the API."
    )

    # two more 429s (Retry-After shrinks with the window) ...
    assert hit(limiter, ip, 1, T0 + 5_000) == Usage(16, 15, False, T0 + 20_000)
    assert hit(limiter, ip, 1, T0 + 19_001) == Usage(17, 1, False, T0 + 20_000)
    # ... and the fourth violation in the window is a ban
    banned = hit(limiter, ip, 1, T0 + 19_500)
    assert banned == Usage(18, 120, True, T0 + 19_500 + 120_000)
    assert banned.status == 418
    error = limiter.error(banned)
    assert error is not None
    assert (error.status, error.code, error.retry_after_s) == (418, -1003, 120)
    assert error.msg == (
        f"Way too much request weight used; IP banned until {T0 + 139_500}. "
        "Please use WebSocket Streams for live updates to avoid bans."
    )


def _ban(limiter: RateLimiter, key: str, now: int) -> Usage:
    usage = hit(limiter, key, limiter.limit + 1, now)
    while not usage.banned:
        usage = hit(limiter, key, 1, now)
    return usage


def test_a_ban_outlasts_the_window_adds_no_weight_and_then_ends() -> None:
    limiter = RateLimiter(limit_per_minute=10, ban_after=3, ban_seconds=120)
    banned = _ban(limiter, "k", T0)
    until = banned.until_ms
    assert until == T0 + 120_000

    # the next minute: still banned; its weight is not counted, the ban not extended
    later = hit(limiter, "k", 5, T0 + 61_000)
    assert later == Usage(0, 59, True, until)
    assert run(limiter.used("k", T0 + 61_000)) == 0
    assert hit(limiter, "k", 5, until - 1) == Usage(0, 1, True, until)

    # the ban is over: a fresh window
    assert hit(limiter, "k", 5, until) == Usage(5)


def test_the_window_resets_on_the_minute() -> None:
    limiter = RateLimiter(limit_per_minute=10)
    end = T0 - T0 % MINUTE + MINUTE
    assert hit(limiter, "ip", 10, end - 1_000).allowed
    refused = hit(limiter, "ip", 1, end - 500)
    assert (refused.retry_after_s, refused.until_ms) == (1, end)  # rounded up to 1 s
    assert hit(limiter, "ip", 1, end) == Usage(1)
    assert run(limiter.used("ip", end)) == 1


def test_violations_are_counted_per_window() -> None:
    limiter = RateLimiter(limit_per_minute=10, ban_after=3)
    now = T0
    for _ in range(3):  # three violations in each of many windows never ban
        usage = hit(limiter, "ip", 11, now)
        usage = hit(limiter, "ip", 1, now)
        usage = hit(limiter, "ip", 1, now)
        assert (usage.status, usage.banned) == (429, False)
        now += MINUTE


def test_ban_after_zero_bans_on_the_first_violation() -> None:
    limiter = RateLimiter(limit_per_minute=10, ban_after=0, ban_seconds=60)
    assert hit(limiter, "ip", 10, T0).allowed
    usage = hit(limiter, "ip", 1, T0)
    assert (usage.status, usage.retry_after_s) == (418, 60)


def test_repeat_offenders_get_doubling_bans_up_to_the_maximum() -> None:
    limiter = RateLimiter(limit_per_minute=10, ban_seconds=120, max_ban_seconds=300)
    first = _ban(limiter, "ip", T0)
    assert first.retry_after_s == 120
    second = _ban(limiter, "ip", first.until_ms)
    assert second.retry_after_s == 240
    third = _ban(limiter, "ip", second.until_ms)
    assert third.retry_after_s == 300
    # a day without a ban: back to the shortest ban
    rested = third.until_ms + 86_400_000
    assert _ban(limiter, "ip", rested).retry_after_s == 120


def test_keys_are_limited_independently() -> None:
    limiter = RateLimiter(limit_per_minute=10, ban_after=0)
    _ban(limiter, "1.1.1.1", T0)
    assert hit(limiter, "2.2.2.2", 10, T0) == Usage(10)
    assert hit(limiter, "1.1.1.1", 1, T0).banned


def test_limiter_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        RateLimiter(limit_per_minute=0)
    with pytest.raises(ValueError):
        RateLimiter(ban_after=-1)
    with pytest.raises(ValueError):
        RateLimiter(ban_seconds=0)


def test_memory_store_expires() -> None:
    store = MemoryStore()
    assert run(store.incr("a", 2, expire_at_ms=100, now_ms=0)) == 2
    assert run(store.incr("a", 3, expire_at_ms=100, now_ms=50)) == 5
    assert run(store.get("a", 99)) == 5
    assert run(store.get("a", 100)) == 0  # expired
    assert run(store.incr("a", 1, expire_at_ms=200, now_ms=100)) == 1  # starts again from 0
    run(store.put("b", 7, expire_at_ms=150, now_ms=100))
    assert (run(store.get("b", 149)), run(store.get("b", 150))) == (7, 0)


def test_memory_store_sweeps_expired_entries() -> None:
    store = MemoryStore(sweep_every=2)
    run(store.put("a", 1, expire_at_ms=100, now_ms=0))
    run(store.put("b", 1, expire_at_ms=1_000, now_ms=0))  # second write: sweep, nothing expired
    assert len(store) == 2
    run(store.put("c", 1, expire_at_ms=1_000, now_ms=150))
    assert len(store) == 3  # "a" expired but not swept yet
    run(store.put("d", 1, expire_at_ms=1_000, now_ms=150))  # sweep drops "a"
    assert len(store) == 3
    assert run(store.get("a", 150)) == 0


class _DictStore:
    """A minimal third-party Store: proves the protocol is all the limiter needs."""

    def __init__(self) -> None:
        self.data: dict[str, tuple[int, int]] = {}

    async def get(self, key: str, now_ms: int) -> int:
        value, expire = self.data.get(key, (0, 0))
        return value if expire > now_ms else 0

    async def incr(self, key: str, amount: int, expire_at_ms: int, now_ms: int) -> int:
        value = await self.get(key, now_ms) + amount
        self.data[key] = (value, expire_at_ms)
        return value

    async def put(self, key: str, value: int, expire_at_ms: int, now_ms: int) -> None:
        self.data[key] = (value, expire_at_ms)

    async def incr_unless(
        self, guard: str, key: str, amount: int, expire_at_ms: int, now_ms: int
    ) -> tuple[int, int]:
        until = await self.get(guard, now_ms)
        if until > now_ms:
            return until, 0
        return until, await self.incr(key, amount, expire_at_ms, now_ms)


def test_any_store_implementing_the_protocol_works() -> None:
    store: Store = _DictStore()
    limiter = RateLimiter(limit_per_minute=10, ban_after=1, ban_seconds=30, store=store)
    assert hit(limiter, "ip", 10, T0).allowed
    assert hit(limiter, "ip", 1, T0).status == 429
    assert hit(limiter, "ip", 1, T0).status == 418
    assert hit(limiter, "ip", 1, T0 + 29_999).banned
    assert hit(limiter, "ip", 1, T0 + 30_000) == Usage(1)  # a new window by then


def test_order_limiter_counts_per_account_per_10_seconds() -> None:
    limiter = OrderLimiter(2, MemoryStore())
    start = (T0 // 10_000) * 10_000
    assert run(limiter.hit(7, start)) == (1, None)
    assert run(limiter.hit(7, start + 1)) == (2, None)
    count, error = run(limiter.hit(7, start + 2))
    assert count == 3 and error is not None
    assert (error.code, error.status) == (-1015, 429)
    assert error.msg == "Too many new orders; current limit is 2 orders per 10 SECOND."
    assert run(limiter.hit(8, start + 2)) == (1, None)  # another account
    assert run(limiter.hit(7, start + 10_000)) == (1, None)  # the next window
