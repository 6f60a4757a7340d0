"""What the market maker keeps per market and per hedge order."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from decimal import Decimal

from rialto.marketmaker.config import MarketConfig
from rialto.marketmaker.quotes import MarketSpec, Quote, Side
from rialto.marketmaker.reconcile import Live
from rialto.marketmaker.risk import ZERO, Exposure
from rialto.marketmaker.strategy import MarketModel


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class MarketRun:
    cfg: MarketConfig
    spec: MarketSpec
    model: MarketModel
    live: dict[str, Live] = field(default_factory=dict)
    in_flight: list[Quote] = field(default_factory=list)  # places sent, not yet answered
    ended: set[str] = field(default_factory=set)  # ids the stream saw end before the ACK
    quote_ids: set[str] = field(default_factory=set)  # every quote the bot placed here
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    fill_ts: int | None = None  # trade time of the first fill not yet re-quoted
    halted_until: float = 0.0
    quotes: int = 0
    rejects: int = 0

    def exposures(self) -> list[Exposure]:
        s = self.spec
        out = [Exposure(s.base, s.quote, o.side, o.price, o.qty) for o in self.live.values()]
        out += [Exposure(s.base, s.quote, q.side, q.price, q.qty) for q in self.in_flight]
        return out


@dataclass
class HedgeRecord:
    venue: str
    symbol: str
    side: Side
    qty: Decimal
    order_id: str
    status: str = "NEW"
    filled: Decimal = ZERO
    avg_price: Decimal = ZERO
