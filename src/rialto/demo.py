"""Terminal demo of the matching engine: demo markets with a quoting bot and random takers.

This is the imperative shell around the pure engine: it owns the clock and the
randomness and stamps them on each command, as the runtime's sequencer will.
"""

from __future__ import annotations

import random
import sys
import time
from dataclasses import dataclass

from rialto.domain.commands import CancelAll, PlaceOrder
from rialto.domain.engine import MatchingEngine
from rialto.domain.events import Event, Trade
from rialto.domain.instruments import Instrument
from rialto.domain.orders import OrderType, SelfTradePrevention, Side, TimeInForce

DEMO_MARKETS = (
    (Instrument("BTCUSDT", "BTC", "USDT", "0.01", "0.00001", min_notional="5"), "65000.00"),
    (Instrument("ETHUSDT", "ETH", "USDT", "0.01", "0.0001", min_notional="5"), "3200.00"),
    (Instrument("ETHBTC", "ETH", "BTC", "0.00001", "0.0001", min_notional="0.0001"), "0.04900"),
)
MAKER, TAKERS = 1, range(2, 12)


@dataclass
class Market:
    engine: MatchingEngine
    mid: int  # ticks
    trades: int = 0
    volume: int = 0  # lots
    last: int = 0


def run_demo(seconds: float, seed: int) -> int:
    rng = random.Random(seed)
    markets = [Market(MatchingEngine(ins), ins.price_ticks(mid)) for ins, mid in DEMO_MARKETS]
    seq = 0
    applied = 0
    start = time.monotonic()
    next_print = start
    try:
        while time.monotonic() - start < seconds:
            for m in markets:
                for cmd in _round(m, rng, seq):
                    seq += 1
                    stamped = cmd._replace(seq=seq, ts=time.time_ns() // 1_000_000)
                    _record(m, m.engine.apply(stamped))
                    applied += 1
            now = time.monotonic()
            if now >= next_print:
                _print(markets, applied, now - start)
                next_print = now + 1.0
            time.sleep(0.02)
    except KeyboardInterrupt:
        pass
    _print(markets, applied, time.monotonic() - start)
    return 0


def _round(m: Market, rng: random.Random, seq: int) -> list[PlaceOrder | CancelAll]:
    """The bot re-quotes a ladder around a random-walk mid; a few takers cross it."""
    ins = m.engine.instrument
    m.mid = max(100, m.mid + round(rng.gauss(0, m.mid * 0.0004)))
    step = max(1, m.mid // 5000)
    lots = max(ins.min_lots, (ins.min_notional_units * 3) // m.mid + 1)
    cmds: list[PlaceOrder | CancelAll] = []
    if m.engine.open_orders(MAKER):
        cmds.append(CancelAll(seq, 0, MAKER))
    for i in range(1, 6):
        for side, price in ((Side.BUY, m.mid - i * step), (Side.SELL, m.mid + i * step)):
            cmds.append(
                PlaceOrder(
                    seq,
                    0,
                    MAKER,
                    side,
                    OrderType.LIMIT,
                    qty=lots * rng.randint(1, 4) * i,
                    price=price,
                    stp=SelfTradePrevention.EXPIRE_MAKER,
                )
            )
    for _ in range(rng.randint(0, 2)):
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        cmds.append(
            PlaceOrder(
                seq,
                0,
                rng.choice(TAKERS),
                side,
                OrderType.LIMIT,
                qty=lots * rng.randint(1, 5),
                price=m.mid + 3 * step if side is Side.BUY else m.mid - 3 * step,
                tif=TimeInForce.IOC,
            )
        )
    return cmds


def _record(m: Market, events: list[Event]) -> None:
    for e in events:
        if isinstance(e, Trade):
            m.trades += 1
            m.volume += e.qty
            m.last = e.price


def _print(markets: list[Market], applied: int, elapsed: float) -> None:
    out = [f"\n--- {elapsed:5.1f}s, {applied} commands applied ---"]
    for m in markets:
        ins = m.engine.instrument
        _, bids, asks = m.engine.depth(3)
        bid = f"{ins.format_qty(bids[0][1])} @ {ins.format_price(bids[0][0])}" if bids else "-"
        ask = f"{ins.format_qty(asks[0][1])} @ {ins.format_price(asks[0][0])}" if asks else "-"
        last = ins.format_price(m.last) if m.last else "-"
        out.append(
            f"{ins.symbol:8} bid {bid:>26}  ask {ask:>26}  last {last:>12}  "
            f"trades {m.trades:5}  volume {ins.format_qty(m.volume)} {ins.base_asset}"
        )
    print("\n".join(out), file=sys.stdout, flush=True)
