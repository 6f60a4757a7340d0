"""Matching-engine throughput and latency on exchange-core's command mix.

One book, about 1,000 resting orders over about 750 price levels, 1,000 accounts;
9% GTC, 3% IOC, 6% cancel, 82% move (amend price). Commands are generated in
advance by driving a generator engine (so cancels and moves always name live
orders), then replayed on fresh engines: once untimed per command for
throughput, once timing every command for the latency percentiles. Every event
is consumed (trades are summed, deltas counted). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from rialto.domain.commands import AmendOrder, CancelOrder, Command, PlaceOrder
from rialto.domain.engine import MatchingEngine
from rialto.domain.events import BookDelta, Event, OrderAccepted, OrderUpdate, Trade
from rialto.domain.instruments import Instrument
from rialto.domain.orders import OrderType, SelfTradePrevention, Side, TimeInForce

MID = 1_000_000
SPREAD_LEVELS = 750
TARGET_ORDERS = 1_000
ACCOUNTS = 1_000
end_orders = end_levels = 0
INSTRUMENT = Instrument(
    symbol="BTCUSDT", base_asset="BTC", quote_asset="USDT", tick_size="0.01", step_size="0.00001"
)


def generate(n_warm: int, n_cmds: int, seed: int) -> tuple[list[Command], list[Command]]:
    """Warm-up commands that build the book, then the measured mix."""
    rng = random.Random(seed)
    engine = MatchingEngine(INSTRUMENT)
    live: dict[int, tuple[int, Side, int]] = {}  # order id -> (user, side, price)
    live_ids: list[int] = []
    pos: dict[int, int] = {}
    seq = 0

    def track(events: list[Event]) -> None:
        for e in events:
            t = type(e)
            if t is OrderAccepted:
                assert isinstance(e, OrderAccepted)
                if e.tif is TimeInForce.GTC and e.order_type is OrderType.LIMIT:
                    live[e.order_id] = (e.user_id, e.side, e.price)
                    pos[e.order_id] = len(live_ids)
                    live_ids.append(e.order_id)
            elif t is OrderUpdate:
                assert isinstance(e, OrderUpdate)
                if e.status.value in ("FILLED", "CANCELED", "EXPIRED", "EXPIRED_IN_MATCH"):
                    oid = e.order_id
                    if oid in live:
                        del live[oid]
                        i = pos.pop(oid)
                        last = live_ids.pop()
                        if last != oid:
                            live_ids[i] = last
                            pos[last] = i

    def gtc(side: Side | None = None) -> PlaceOrder:
        side = side or (Side.BUY if rng.random() < 0.5 else Side.SELL)
        off = rng.randint(1, SPREAD_LEVELS)
        price = MID - off if side is Side.BUY else MID + off
        qty = rng.randint(1, 100)
        if len(live) > TARGET_ORDERS:
            # Keep the book near its target size: this GTC crosses and takes.
            best = engine.asks.best() if side is Side.BUY else engine.bids.best()
            if best is not None:
                price = best + 3 if side is Side.BUY else best - 3
                qty = rng.randint(50, 250)
        return PlaceOrder(
            seq,
            seq,
            rng.randrange(ACCOUNTS),
            side,
            OrderType.LIMIT,
            qty=qty,
            price=price,
            stp=SelfTradePrevention.NONE,
        )

    def one(kind: float) -> Command:
        if not live_ids or kind < 0.09 or (kind < 0.15 and len(live) < TARGET_ORDERS * 0.9):
            return gtc()
        if kind < 0.12:
            side = Side.BUY if rng.random() < 0.5 else Side.SELL
            best = engine.asks.best() if side is Side.BUY else engine.bids.best()
            base = best if best is not None else MID
            price = base + 2 if side is Side.BUY else base - 2
            return PlaceOrder(
                seq,
                seq,
                rng.randrange(ACCOUNTS),
                side,
                OrderType.LIMIT,
                qty=rng.randint(1, 60),
                price=price,
                tif=TimeInForce.IOC,
                stp=SelfTradePrevention.NONE,
            )
        oid = live_ids[rng.randrange(len(live_ids))]
        user, side, price = live[oid]
        if kind < 0.18:
            return CancelOrder(seq, seq, user, oid)
        # Move: a few ticks either way; now and then across the spread.
        new = price + rng.randint(-12, 12)
        if new == price:
            new += 1
        lo, hi = (
            (MID - SPREAD_LEVELS, MID + 4) if side is Side.BUY else (MID - 4, MID + SPREAD_LEVELS)
        )
        new = min(max(new, lo), hi)
        if new == price:
            new = price - 1 if side is Side.BUY else price + 1
        return AmendOrder(seq, seq, user, oid, price=new)

    warm: list[Command] = []
    while len(live) < TARGET_ORDERS - 1:
        seq += 1
        cmd = gtc()
        warm.append(cmd)
        track(engine.apply(cmd))
    cmds: list[Command] = []
    for _ in range(n_cmds):
        seq += 1
        cmd = one(rng.random())
        cmds.append(cmd)
        track(engine.apply(cmd))
    return warm, cmds


def consume(events: list[Event], acc: list[int]) -> None:
    for e in events:
        t = type(e)
        if t is Trade:
            acc[0] += e.qty  # type: ignore[union-attr]
        elif t is BookDelta:
            acc[1] += 1


def fresh(warm: list[Command]) -> MatchingEngine:
    engine = MatchingEngine(INSTRUMENT)
    for cmd in warm:
        engine.apply(cmd)
    return engine


def run_throughput(warm: list[Command], cmds: list[Command]) -> tuple[float, list[int], str]:
    engine = fresh(warm)
    apply = engine.apply
    acc = [0, 0]
    gc.disable()
    t0 = time.perf_counter()
    for cmd in cmds:
        consume(apply(cmd), acc)
    elapsed = time.perf_counter() - t0
    gc.enable()
    global end_orders, end_levels
    end_orders, end_levels = len(engine.orders), len(engine.bids) + len(engine.asks)
    return elapsed, acc, engine.state_hash()


def run_latency(warm: list[Command], cmds: list[Command]) -> tuple[list[int], str]:
    engine = fresh(warm)
    apply = engine.apply
    clock = time.perf_counter_ns
    acc = [0, 0]
    lat = [0] * len(cmds)
    gc.disable()
    for i, cmd in enumerate(cmds):
        t0 = clock()
        consume(apply(cmd), acc)
        lat[i] = clock() - t0
    gc.enable()
    return lat, engine.state_hash()


def pct(sorted_ns: list[int], p: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(len(sorted_ns) * p))] / 1000.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="300k commands instead of 2M")
    ap.add_argument("--commands", type=int, default=0)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    n = args.commands or (300_000 if args.quick else 2_000_000)
    warm, cmds = generate(TARGET_ORDERS, n, args.seed)
    elapsed, acc, hash_a = run_throughput(warm, cmds)
    lat, hash_b = run_latency(warm, cmds)
    if hash_a != hash_b:
        raise SystemExit("non-deterministic engine: state hashes differ between runs")
    lat.sort()
    engine = fresh(warm)
    result: dict[str, Any] = {
        "bench": "engine",
        "commands": n,
        "ops_per_s": round(n / elapsed),
        "p50_us": round(pct(lat, 0.50), 2),
        "p99_us": round(pct(lat, 0.99), 2),
        "p999_us": round(pct(lat, 0.999), 2),
        "traded_lots": acc[0],
        "book_deltas": acc[1],
        "resting_orders_at_start": len(engine.orders),
        "levels_at_start": len(engine.bids) + len(engine.asks),
        "resting_orders_at_end": end_orders,
        "levels_at_end": end_levels,
        "python": platform.python_version(),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
