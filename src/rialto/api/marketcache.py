"""Books and tickers shared by the gateways (Redis), so any gateway answers alike.

Every API process with a cache publishes, a few times a second, each market's snapshot:
the depth (up to :data:`LEVELS` a side, with its ``lastUpdateId``), the 24h ticker and the
book ticker, tagged with the seq it was taken at. The store keeps the snapshot with the
highest seq, whoever wrote it (compare-and-set), so a gateway that lags never overwrites a
newer one. ``depth`` (up to :data:`LEVELS`), ``ticker/24hr``, ``ticker/price`` and
``ticker/bookTicker`` answer from the shared snapshot; without a cache (``rialto up`` on its
own) they answer from the process's own market data.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

import orjson

from rialto.api import views
from rialto.domain.instruments import Instrument
from rialto.marketdata import MarketData

log = logging.getLogger(__name__)
LEVELS = 1000
PUBLISH_EVERY_S = 0.25
REFRESH_QUIET_S = 5.0  # a quiet market's 24h window still slides


class MarketCache(Protocol):
    async def put(self, symbol: str, seq: int, snapshot: bytes, now_ms: int) -> bool:
        """Store ``snapshot`` unless a newer one is there (a higher seq; at the same seq,
        one refreshed less than a second before ``now_ms``)."""
        ...

    async def get(self, symbol: str) -> bytes | None: ...


TICKER_KINDS = ("ticker", "book", "price")


def ticker_view(market: MarketData, ins: Instrument, kind: str, now_ms: int) -> dict[str, Any]:
    """One of a market's ticker answers: ``ticker`` (24h), ``book`` or ``price``."""
    symbol = ins.symbol
    if kind == "ticker":
        t = market.ticker_24h(symbol, market.now(symbol, now_ms))
        return views.ticker_24h(ins, t, market.book_ticker(symbol))
    if kind == "book":
        return views.book_ticker(ins, market.book_ticker(symbol))
    return {"symbol": symbol, "price": views.price(ins, market.last_price(symbol))}


def snapshot(market: MarketData, ins: Instrument, now_ms: int) -> dict[str, Any]:
    update_id, bids, asks = market.depth(ins.symbol, LEVELS)
    depth = {
        "lastUpdateId": update_id,
        "bids": views.levels(ins, bids),
        "asks": views.levels(ins, asks),
    }
    return {"depth": depth} | {k: ticker_view(market, ins, k, now_ms) for k in TICKER_KINDS}


class SharedMarket:
    """Reads and publishes the shared snapshots for one API process."""

    def __init__(
        self,
        cache: MarketCache,
        market: MarketData,
        instrument_of: Callable[[str], Instrument],
        clock: Callable[[], int],
    ) -> None:
        self.cache = cache
        self.market = market
        self.instrument_of = instrument_of
        self.clock = clock
        self._published: dict[str, tuple[int, float]] = {}  # symbol -> (seq, monotonic)

    async def read(self, symbol: str) -> dict[str, Any] | None:
        raw = await self.cache.get(symbol)
        return None if raw is None else orjson.loads(raw)

    async def publish_once(self) -> int:
        """Publish the markets that changed (or went quiet long enough); how many."""
        seq = self.market.last_seq
        now = asyncio.get_running_loop().time()
        done = 0
        for symbol in self.market.symbols():
            last = self._published.get(symbol)
            if last is not None and last[0] == seq and now - last[1] < REFRESH_QUIET_S:
                continue
            now_ms = self.clock()
            body = snapshot(self.market, self.instrument_of(symbol), now_ms)
            await self.cache.put(symbol, seq, orjson.dumps(body), now_ms)
            self._published[symbol] = (seq, now)
            done += 1
        return done

    async def run(self) -> None:
        while True:
            try:
                await self.publish_once()
            except Exception:  # Redis away for a moment: the next round tries again
                log.exception("publishing market snapshots failed")
            await asyncio.sleep(PUBLISH_EVERY_S)
