"""Accounts-shard throughput, and projection of postings into MariaDB.

``ops_per_s``: an in-memory mix of order holds, trade settlements (each side is
one operation) and releases on one accounts shard, 1,000 users, generated in
advance by a generator shard and replayed on a fresh one (the same mix the
pipeline sends: hold -> settle buyer side, settle seller side -> release).
``rows_per_s``: rows written per second by the SQL projector into the MariaDB at
127.0.0.1:3306 (postings, trades and balances), batched. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rialto.domain.accounts import Accounts
from rialto.domain.assets import Asset
from rialto.domain.instruments import Instrument
from rialto.domain.orders import Side

USERS = 1_000
SYMBOL = "BTCUSDT"
MID = 3_000_000  # ticks of 0.01


def setup() -> Accounts:
    acc = Accounts()
    acc.add_asset(Asset("BTC", 8))
    acc.add_asset(Asset("USDT", 6))
    acc.add_market(Instrument(SYMBOL, "BTC", "USDT", "0.01", "0.0001"))
    seq = 0
    for user in range(1, USERS + 1):
        seq += 1
        acc.deposit("gen", seq, 0, user, "USDT", 10**15)
        seq += 1
        acc.deposit("gen", seq, 0, user, "BTC", 10**12)
    return acc


Op = tuple[Callable[..., Any], tuple[Any, ...]]


def generate(n_ops: int, seed: int) -> list[tuple[str, tuple[Any, ...]]]:
    """Operations by method name and arguments, valid by construction."""
    rng = random.Random(seed)
    acc = setup()
    ops: list[tuple[str, tuple[Any, ...]]] = []
    open_holds: dict[Side, list[tuple[int, int, int]]] = {Side.BUY: [], Side.SELL: []}
    seq = 10_000_000
    hold_id = 0
    trade_id = 0
    while len(ops) < n_ops:
        r = rng.random()
        buys, sells = open_holds[Side.BUY], open_holds[Side.SELL]
        if r < 0.4 or not buys or not sells:
            seq += 1
            hold_id += 1
            side = Side.BUY if rng.random() < 0.5 else Side.SELL
            price = MID + rng.randint(-500, 500)
            qty = rng.randint(1, 50)
            args = ("acc", seq, seq, hold_id, rng.randint(1, USERS), SYMBOL, side, price, qty)
            ops.append(("hold_order", args))
            acc.hold_order(*args)
            open_holds[side].append((hold_id, price, qty))
        elif r < 0.8:
            bi = rng.randrange(len(buys))
            si = rng.randrange(len(sells))
            b_id, b_price, b_qty = buys[bi]
            s_id, s_price, s_qty = sells[si]
            q = min(b_qty, s_qty)
            price = min(b_price, s_price)
            trade_id += 1
            maker_buys = rng.random() < 0.5
            for hid, side, qleft, idx, book in (
                (b_id, Side.BUY, b_qty - q, bi, buys),
                (s_id, Side.SELL, s_qty - q, si, sells),
            ):
                args = (
                    SYMBOL,
                    trade_id,
                    seq,
                    hid,
                    side,
                    maker_buys == (side is Side.BUY),
                    price,
                    q,
                )
                ops.append(("settle", args))
                acc.settle(*args)
                if qleft:
                    book[idx] = (hid, book[idx][1], qleft)
                else:
                    book[idx] = book[-1]
                    book.pop()
                    ops.append(("release", (seq, hid)))
                    acc.release(seq, hid)
        else:
            side = Side.BUY if rng.random() < 0.5 else Side.SELL
            book = open_holds[side]
            idx = rng.randrange(len(book))
            hid = book[idx][0]
            book[idx] = book[-1]
            book.pop()
            ops.append(("release", (seq, hid)))
            acc.release(seq, hid)
    return ops[:n_ops]


def run_ops(ops: list[tuple[str, tuple[Any, ...]]]) -> tuple[float, str, int]:
    acc = setup()
    bound = [(getattr(acc, name), args) for name, args in ops]
    postings = 0
    gc.disable()
    t0 = time.perf_counter()
    for fn, args in bound:
        postings += len(fn(*args).postings)
    elapsed = time.perf_counter() - t0
    gc.enable()
    if any(acc.totals().values()):
        raise SystemExit("conservation broken")
    return elapsed, acc.state_hash(), postings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="200k operations instead of 1M")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--no-sql", action="store_true", help="skip the MariaDB projection figure")
    args = ap.parse_args()
    n = 200_000 if args.quick else 1_000_000
    ops = generate(n, args.seed)
    elapsed, _, postings = run_ops(ops)
    result: dict[str, Any] = {
        "bench": "ledger",
        "ops": n,
        "ops_per_s": round(n / elapsed),
        "postings": postings,
    }
    if not args.no_sql:
        from _projection import measure_projection

        rows = 20_000 if args.quick else 100_000
        result["rows_per_s"] = round(measure_projection("mariadb", rows))
        result["rows_target"] = rows
    result["python"] = platform.python_version()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
