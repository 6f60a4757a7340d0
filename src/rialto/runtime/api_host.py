"""The public API over a core: REST, streams and the people pages, on one HTTP port.

The core is the :class:`~rialto.runtime.node.Node` itself in ``rialto up``, or a
:class:`~rialto.runtime.replication.Replica` of it in ``rialto serve gateway``; either
way the market data, user data and answers come from outcomes in seq order, so every
gateway answers alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from rialto.adapters.sql.rows import TradeRow
from rialto.api.gateway import Gateway, now_ms
from rialto.api.marketcache import SharedMarket
from rialto.api.rest import create_app
from rialto.api.server import HttpServer
from rialto.api.userdata import UserData
from rialto.api.ws import Hub
from rialto.api.wsframes import RawSendCapture
from rialto.domain.exchange import Outcome
from rialto.domain.orders import Side
from rialto.marketdata import MarketData, TradeTick
from rialto.runtime.core import Core
from rialto.runtime.keyring import SecretBox
from rialto.runtime.projection import SqlFeed
from rialto.runtime.shared_state import SharedState

HISTORY_TRADES = 20_000  # per market, loaded at start: about an hour of the busy demo


def trade_tick(r: TradeRow) -> TradeTick:
    buyer_is_maker = r.taker_side is Side.SELL
    return TradeTick(r.symbol, r.trade_id, r.price, r.qty, r.ts, buyer_is_maker)


class Feeding(Core, Protocol):
    def subscribe(self, subscriber: Callable[[list[Outcome]], None]) -> None: ...


def seed_market_data(core: Core) -> MarketData:
    """The market-data read model, seeded with the books as the core has them now."""
    market = MarketData()
    for symbol, engine in core.exchange.engines.items():
        update_id, bids, asks = engine.depth(None)
        market.add_market(symbol, update_id, bids, asks, engine.last_price or 0, engine.status)
    market.last_seq = core.durable_seq
    return market


class ApiHost:
    def __init__(
        self,
        core: Feeding,
        history: SqlFeed,
        box: SecretBox,
        shared: SharedState,
        host: str,
        port: int,
        trusted_proxies: str | None = None,
        reuse_port: bool = False,
    ) -> None:
        market = seed_market_data(core)
        self.gateway = Gateway(core, history, market, box)
        userdata = UserData(core.exchange, self.gateway.instrument, now_ms, shared.listen_keys)
        ex = core.exchange
        self.hub = Hub(market, self.gateway.instrument, lambda: set(ex.engines), userdata,
                       self.gateway.keys)  # fmt: skip
        core.subscribe(self.hub.on_outcomes)
        self.shared_market = None
        if shared.market is not None:
            self.shared_market = SharedMarket(
                shared.market, market, self.gateway.instrument, now_ms
            )
        app = RawSendCapture(
            create_app(
                self.gateway,
                self.hub,
                shared.limits,
                self.shared_market,
                shared.sessions,
                shared.throttle,
            )
        )
        self.http = HttpServer(app, host, port, trusted_proxies, reuse_port)
        self._tasks: list[asyncio.Task[None]] = []

    async def load_history(self, history: SqlFeed, trades: int = HISTORY_TRADES) -> None:
        """Trades and candles from before this process, from the SQL read model (``rialto
        up``; a gateway replays the whole feed instead)."""
        await history.drain()
        market = self.gateway.market
        for symbol in market.symbols():
            rows = await asyncio.to_thread(history.store.latest_trades, symbol, trades)
            market.load_trades(symbol, [trade_tick(r) for r in rows])

    async def start(self) -> None:
        if self.shared_market is not None:  # before serving: REST reads what it publishes
            await self.shared_market.publish_once()
            self._tasks.append(asyncio.create_task(self.shared_market.run(), name="md-cache"))
        await self.http.start()
        self._tasks.append(asyncio.create_task(self.hub.run(), name="streams"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.http.stop()
