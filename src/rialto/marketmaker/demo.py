"""The market maker in ``rialto up --demo``: in-process, against the node's own API.

The demo maker account gets an HMAC key through the node (as ``rialto apikeys create``
does); its secret is read back from the sealed copy in the journal on later starts, so
restarts do not pile up keys. A little taker flow goes straight to the node so that the
market moves without spending the API's per-IP weight the bot needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any

from rialto.domain import requests as req
from rialto.domain.orders import OrderType, Side, TimeInForce
from rialto.marketmaker import config
from rialto.runtime import admin
from rialto.runtime.node import Node, NodeStopped

# Demo sizing: pool depth per market in base units, and a position cap per asset.
DEMO_POOLS = {"BTCUSDT": 50.0, "ETHUSDT": 1000.0, "ETHBTC": 1000.0}
DEMO_LIMITS = {
    "numeraire": "USDT",
    "max_position": {"BTC": "20", "ETH": "400", "USDT": "2000000"},
    "max_notional": "3000000",
    "max_daily_loss": "200000",
}


async def maker_key(node: Node, email: str) -> tuple[str, str]:
    """(api key, secret) of a live trading HMAC key of ``email``; one is made if none."""
    user = node.exchange.users.find(email)
    if user is None:
        raise ValueError(f"no demo user {email}")
    for k in node.exchange.users.keys.values():
        if (
            k.user_id == user.user_id
            and k.kind == "HMAC"
            and not k.revoked_ts
            and "trade" in k.permissions
            and not k.ips
        ):
            return k.api_key, node.secret_box().unseal(k.verifier, k.api_key)
    out = await admin.execute(
        node, {"op": "apikeys.create", "email": email, "permissions": "read,trade"}
    )
    return out["api_key"], out["secret"]


def demo_config(url: str, key: str, secret: str, prices: dict[str, str]) -> config.Config:
    markets: list[dict[str, Any]] = [
        {
            "symbol": symbol,
            "initial_price": price,
            "strategy": {"pool_base": DEMO_POOLS.get(symbol, 1.0)},
        }
        for symbol, price in prices.items()
    ]
    return config.from_dict(
        {
            "name": "demo-marketmaker",
            "url": url,
            "api_key": key,
            "secret": secret,
            "markets": markets,
            "strategy": {"levels": 5, "level_step_bps": 8, "min_spread_bps": 8},
            "risk": DEMO_LIMITS,
        }
    )


async def taker_flow(
    node: Node, takers: list[int], symbols: list[str], stop: asyncio.Event, pace_s: float = 1.5
) -> None:
    """Now and then a trader takes a level or two of the best bid or ask (IOC)."""
    rng = random.Random()
    ex = node.exchange
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), rng.uniform(0.3, pace_s))
            if stop.is_set():
                return
            symbol = rng.choice(symbols)
            engine = ex.engines[symbol]
            bid, ask = engine.bids.best(), engine.asks.best()
            if not bid or not ask:
                continue
            ins = engine.instrument
            buy = rng.random() < 0.5
            price = ask + (ask - bid) if buy else max(1, bid - (ask - bid))
            lots = max(ins.min_lots, (ins.min_notional_units * rng.randint(2, 6)) // price + 1)
            await node.submit(
                req.NewOrder(
                    rng.choice(takers),
                    symbol,
                    Side.BUY if buy else Side.SELL,
                    OrderType.LIMIT,
                    qty=lots,
                    price=price,
                    tif=TimeInForce.IOC,
                )
            )
    except NodeStopped:
        return
