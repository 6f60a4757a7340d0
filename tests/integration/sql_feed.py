"""A deterministic, realistic stream of journal items for the SQL store tests.

``feed()`` runs a real MatchingEngine on a seeded mix of commands (limits, IOC, market orders by
quantity and by quote amount, stops, amends, cancels) on ``match.BTCUSDT``, and settles every
trade on ``accounts.0`` with a balanced posting (6 legs, fees to user 0), after deposits that
include an 18-decimal asset beyond 2**64. ``expected(items)`` is the read model the projector
must end with, computed straight from the events. Imported by the tests and by the crash child.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, NamedTuple

from rialto.adapters.sql import StreamItem
from rialto.domain.commands import (
    AmendOrder,
    CancelAll,
    CancelOrder,
    Command,
    PlaceOrder,
)
from rialto.domain.engine import MatchingEngine
from rialto.domain.events import OrderAccepted, OrderAmended, OrderUpdate, Trade
from rialto.domain.instruments import Instrument
from rialto.domain.orders import OrderType, Side, TimeInForce
from rialto.domain.postings import AccountKind, Leg, Posting

SYMBOL = "BTCUSDT"
MATCH = f"match.{SYMBOL}"
ACCOUNTS = "accounts.0"
USERS = range(1, 9)
BIG = 123456789012345678901234567890  # 18-decimal ETH minor units, far beyond 2**64
INSTRUMENT = Instrument(
    symbol=SYMBOL, base_asset="BTC", quote_asset="USDT", tick_size="1", step_size="1"
)


def deposit(user_id: int, asset: str, amount: int, ts: int, ref: str) -> Posting:
    return Posting(
        "deposit",
        ref,
        ts,
        (
            Leg(AccountKind.HOT_WALLET, 0, asset, amount),
            Leg(AccountKind.FREE, user_id, asset, amount),
        ),
    )


def settlement(t: Trade) -> Posting:
    """The accounts shard's posting for one trade: holds released, proceeds less fees."""
    cost = t.price * t.qty
    buyer, seller = (
        (t.taker_user_id, t.maker_user_id)
        if t.taker_side is Side.BUY
        else (t.maker_user_id, t.taker_user_id)
    )
    fee_base, fee_quote = t.qty // 1000, cost // 1000
    return Posting(
        "trade",
        f"trade:{SYMBOL}:{t.trade_id}",
        t.ts,
        (
            Leg(AccountKind.LOCKED, buyer, "USDT", -cost),
            Leg(AccountKind.FREE, buyer, "BTC", t.qty - fee_base),
            Leg(AccountKind.LOCKED, seller, "BTC", -t.qty),
            Leg(AccountKind.FREE, seller, "USDT", cost - fee_quote),
            Leg(AccountKind.FEES, 0, "BTC", fee_base),
            Leg(AccountKind.FEES, 0, "USDT", fee_quote),
        ),
    )


def command(rng: random.Random, seq: int, live: list[tuple[int, int]]) -> Command:
    """One command of a seeded mix; cancels and amends name live orders ``(order_id, user)``."""
    ts = 1_700_000_000_000 + seq
    user = rng.choice(USERS)
    side = rng.choice((Side.BUY, Side.SELL))
    roll = rng.random()
    price = 1000 + rng.randint(-20, 20)
    if live and roll >= 0.70:
        order_id, owner = rng.choice(live)
        if roll < 0.85:
            return AmendOrder(seq, ts, owner, order_id, price=price, qty=rng.randint(1, 9000))
        if roll < 0.98:
            return CancelOrder(seq, ts, owner, order_id)
        return CancelAll(seq, ts, owner)
    if roll < 0.55:
        tif = TimeInForce.IOC if rng.random() < 0.1 else TimeInForce.GTC
        cid = f"c{seq}" if rng.random() < 0.3 else ""
        qty = rng.randint(1, 5000)
        return PlaceOrder(
            seq, ts, user, side, OrderType.LIMIT, qty, price, tif, client_order_id=cid
        )
    if roll < 0.62:
        return PlaceOrder(seq, ts, user, side, OrderType.MARKET, qty=rng.randint(1, 3000))
    if roll < 0.66:
        budget = rng.randint(10**5, 10**6)
        return PlaceOrder(seq, ts, user, side, OrderType.MARKET, quote_qty=budget)
    stop = 1000 + rng.randint(5, 25) * (-1 if side is Side.SELL else 1)
    return PlaceOrder(seq, ts, user, side, OrderType.STOP_LOSS, qty=100, stop_price=stop)


def feed(n_commands: int = 240, seed: int = 7) -> list[StreamItem]:
    """Match items and accounts items, interleaved as two journals would deliver them."""
    engine = MatchingEngine(INSTRUMENT)
    items: list[StreamItem] = []
    acct_seq = 0

    def accounts(*postings: Posting) -> None:
        nonlocal acct_seq
        acct_seq += 1
        items.append(StreamItem(ACCOUNTS, acct_seq, "", postings))

    accounts(*(deposit(u, "USDT", 10**12, 1, f"dep:usdt:{u}") for u in USERS))
    accounts(*(deposit(u, "BTC", 10**9, 2, f"dep:btc:{u}") for u in USERS))
    accounts(deposit(1, "ETH", BIG, 3, "dep:eth:1"), deposit(2, "ETH", BIG * 7 + 1, 3, "dep:eth:2"))
    rng = random.Random(seed)
    for seq in range(1, n_commands + 1):
        live = [(o.order_id, o.user_id) for o in engine.orders.values()]
        cmd = command(rng, seq, live)
        events = engine.apply(cmd)
        items.append(StreamItem(MATCH, cmd.seq, SYMBOL, events))
        trades = [e for e in events if isinstance(e, Trade)]
        if trades:
            accounts(*(settlement(t) for t in trades))
    return items


def batches(items: Sequence[StreamItem], size: int = 25) -> list[list[StreamItem]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


class Expected(NamedTuple):
    orders: dict[tuple[str, int], dict[str, Any]]
    trades: set[tuple[str, int]]
    legs: dict[tuple[str, int, int, int], int]
    balances: dict[tuple[int, str, str], int]


def expected(items: Sequence[StreamItem]) -> Expected:
    """The read model after projecting ``items`` once, applied one event at a time."""
    orders: dict[tuple[str, int], dict[str, Any]] = {}
    trades: set[tuple[str, int]] = set()
    legs: dict[tuple[str, int, int, int], int] = {}
    balances: dict[tuple[int, str, str], int] = {}
    for item in items:
        p = 0
        for e in item.events:
            if isinstance(e, OrderAccepted):
                orders[(item.symbol, e.order_id)] = {
                    "status": "NEW",
                    "price": e.price,
                    "qty": e.qty,
                    "remaining": e.qty,
                    "filled": 0,
                    "filled_quote": 0,
                    "updated_ts": e.ts,
                }
            elif isinstance(e, OrderUpdate):
                orders[(item.symbol, e.order_id)].update(
                    status=str(e.status),
                    remaining=e.remaining,
                    filled=e.filled,
                    filled_quote=e.filled_quote,
                    updated_ts=e.ts,
                )
            elif isinstance(e, OrderAmended):
                orders[(item.symbol, e.order_id)].update(
                    price=e.price, qty=e.qty, remaining=e.remaining, updated_ts=e.ts
                )
            elif isinstance(e, Trade):
                trades.add((item.symbol, e.trade_id))
            elif isinstance(e, Posting):
                for i, leg in enumerate(e.legs):
                    legs[(item.stream, item.seq, p, i)] = leg.amount
                    key = (leg.user_id, str(leg.account), leg.asset)
                    balances[key] = balances.get(key, 0) + leg.amount
                p += 1
    return Expected(orders, trades, legs, balances)
