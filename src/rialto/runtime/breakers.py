"""Ends circuit-breaker halts on time: a journaled ResumeMarket when a cooling period is over.

The engine halts a market itself (status BREAK, resuming at ``until``) but reads no clock,
so it cannot resume by itself. This timer, fed the node's durable outcomes, submits
``ResumeMarket(symbol)`` once the node's clock reaches ``until``; the request is in the
journal, so a replay resumes the market at the same place. A ResumeMarket that comes
too early (or after an operator's HALT) does nothing, so the timer can simply try again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from rialto.domain import requests as req
from rialto.domain.events import MarketStatusChanged
from rialto.domain.exchange import Outcome
from rialto.domain.orders import MarketStatus
from rialto.runtime.node import Node, NodeStopped, RequestError

log = logging.getLogger(__name__)
RETRY_S = 0.05  # a resume stamped a little early (clock granularity): try again this soon


class BreakerClock:
    def __init__(self, node: Node) -> None:
        self.node = node
        self._timers: dict[str, asyncio.Task[None]] = {}

    def start(self) -> None:
        """Arm a timer for every market recovered in BREAK (and take the node's outcomes)."""
        for symbol, engine in sorted(self.node.exchange.engines.items()):
            if engine.status is MarketStatus.BREAK and engine.halted_until:
                self._arm(symbol, engine.halted_until)
        self.node.subscribe(self.on_outcomes)

    def on_outcomes(self, outcomes: list[Outcome]) -> None:
        for o in outcomes:
            for e in o.events:
                if type(e) is MarketStatusChanged:
                    if e.status is MarketStatus.BREAK and e.until:
                        self._arm(o.symbol, e.until)
                    else:
                        self._disarm(o.symbol)

    async def close(self) -> None:
        timers = list(self._timers.values())
        self._timers.clear()
        for t in timers:
            t.cancel()
        await asyncio.gather(*timers, return_exceptions=True)

    def _arm(self, symbol: str, until: int) -> None:
        self._disarm(symbol)
        self._timers[symbol] = asyncio.create_task(self._resume(symbol, until), name="breaker")

    def _disarm(self, symbol: str) -> None:
        timer = self._timers.pop(symbol, None)
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()

    async def _resume(self, symbol: str, until: int) -> None:
        with contextlib.suppress(NodeStopped):
            while True:
                await asyncio.sleep(max(0.0, (until - self.node.clock()) / 1000))
                engine = self.node.exchange.engines[symbol]
                if engine.status is not MarketStatus.BREAK or engine.halted_until != until:
                    return  # resumed or halted again by someone else: nothing to do
                try:
                    await self.node.submit(req.ResumeMarket(symbol))
                except RequestError:
                    log.exception("resume of %s refused", symbol)
                    return
                if engine.status is not MarketStatus.BREAK:
                    return
                await asyncio.sleep(RETRY_S)
