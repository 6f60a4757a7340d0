"""Child process for the node kill -9 test: opens a Node and drives a load until it is killed.

    python node_load.py DATA_DIR RUN_ID SHARDS SNAPSHOT_EVERY

Prints ``ready LAST_SEQ`` once ``Node.open`` has recovered. Then it sets up what is missing (the
assets BTC and USDT, the market BTCUSDT, a deposit of each asset for every user) and runs
``TASKS`` concurrent asyncio tasks, each placing limit GTC/IOC/FOK, market and stop-limit orders,
amending and cancelling its users' open orders. After ``submit`` has returned (the request is
durable) a task prints one line ``SEQ DIGEST REQUEST``: ``DIGEST`` is :func:`outcome_digest` of
the outcome and ``REQUEST`` is :func:`request_text` of the request. A printed line is an
acknowledged request. A request the node refuses outright (``RequestError``) prints
``refused ...``: the load never sends one, so the parent treats it as a failure.

The test module imports the helpers below, so the child and the parent digest the same way.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import sys

from rialto.domain import requests as req
from rialto.domain.exchange import Exchange, Outcome
from rialto.domain.instruments import Instrument
from rialto.domain.orders import OrderType, Side, TimeInForce
from rialto.runtime.node import Node, RequestError

SYMBOL = "BTCUSDT"
INSTRUMENT = Instrument(SYMBOL, "BTC", "USDT", "0.01", "0.0001")
ASSETS = (("BTC", 8), ("USDT", 6))
USERS = 120
TASKS = 12
MID = 6_500_000  # 65,000.00 in ticks
FUNDS = {"BTC": 20 * 10**8, "USDT": 2_000_000 * 10**6}  # minor units per user


def add_market(instrument: Instrument) -> req.AddMarket:
    return req.AddMarket.of(instrument)


def outcome_digest(outcome: Outcome) -> str:
    """A digest of everything an outcome says (events and postings are NamedTuples and enums)."""
    return hashlib.sha256(repr(outcome).encode()).hexdigest()[:24]


def request_text(r: req.Request) -> str:
    """The request as one line of JSON, with its type's name first."""
    return json.dumps([type(r).__name__, *r], separators=(",", ":"))


def missing_setup(ex: Exchange, users: int = USERS) -> list[req.Request]:
    """What is still to be done of the set-up (a kill may have cut it short)."""
    out: list[req.Request] = []
    for symbol, decimals in ASSETS:
        if symbol not in ex.accounts[0].assets:
            out.append(req.AddAsset(symbol, decimals))
    if SYMBOL not in ex.engines:
        out.append(add_market(INSTRUMENT))
    for user in range(1, users + 1):
        for asset, amount in FUNDS.items():
            if ex.shard(user).balance(user, asset) == (0, 0):
                out.append(req.Deposit(user, asset, amount))
    return out


class Load:
    """Concurrent tasks sending the request mix to ``node``.

    With ``echo`` every acknowledged request is printed (the child process); otherwise the
    outcomes are kept in ``acked`` by seq (in-process tests).
    """

    def __init__(
        self, node: Node, run_id: str, users: int = USERS, tasks: int = TASKS, echo: bool = True
    ) -> None:
        self.node = node
        self.run_id = run_id
        self.users = users
        self.tasks = tasks
        self.echo = echo
        self.acked: dict[int, tuple[req.Request, Outcome]] = {}
        self.refused: list[tuple[req.Request, str]] = []

    async def send(self, r: req.Request) -> int:
        """Submit; record the acknowledgement; return the order id of a placement (or 0)."""
        try:
            out = await self.node.submit(r)
        except RequestError as exc:
            self.refused.append((r, str(exc)))
            if self.echo:
                sys.stdout.write(f"refused {request_text(r)} {exc}\n")
                sys.stdout.flush()
            return 0
        if self.echo:
            sys.stdout.write(f"{out.seq} {outcome_digest(out)} {request_text(r)}\n")
            sys.stdout.flush()
        else:
            self.acked[out.seq] = (r, out)
        return out.order_id if out.reject is None else 0

    async def setup(self) -> None:
        for r in missing_setup(self.node.exchange, self.users):
            await self.send(r)

    async def run(self, per_task: int | None = None) -> None:
        """Set up what is missing, then run every task (``per_task`` requests each, or forever)."""
        await self.setup()
        await asyncio.gather(*(self.task(t, per_task) for t in range(self.tasks)))

    async def task(self, task: int, limit: int | None = None) -> None:
        rng = random.Random(f"{self.run_id}:{task}")
        users = [u for u in range(1, self.users + 1) if u % self.tasks == task]
        engine = self.node.exchange.engines[SYMBOL]
        mine: dict[int, list[int]] = {u: [] for u in users}
        for oid, o in engine.orders.items():  # after a restart: what is still open
            if o.user_id in mine:
                mine[o.user_id].append(oid)
        n = 0
        while limit is None or n < limit:
            n += 1
            user = rng.choice(users)
            live = [oid for oid in mine[user] if oid in engine.orders]
            mine[user] = live
            r = self.request(rng, user, live, n)
            oid = await self.send(r)
            if oid and type(r) is req.NewOrder:
                mine[user].append(oid)

    def request(self, rng: random.Random, user: int, live: list[int], n: int) -> req.Request:
        """One request of the mix for ``user``, whose open orders are ``live``."""
        engine = self.node.exchange.engines[SYMBOL]
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        sign = -1 if side is Side.BUY else 1  # away from the mid, on the side's own half
        qty = rng.randint(1, 300)
        x = rng.random()
        if x < 0.34 or (x < 0.70 and not live):
            price = MID + sign * rng.randint(-3, 40)  # some cross
            return req.NewOrder(user, SYMBOL, side, OrderType.LIMIT, qty, price)
        if x < 0.46:
            tif = TimeInForce.IOC if rng.random() < 0.8 else TimeInForce.FOK
            price = MID - sign * rng.randint(0, 30)  # crossing
            return req.NewOrder(user, SYMBOL, side, OrderType.LIMIT, qty, price, tif)
        if x < 0.52:
            if rng.random() < 0.5:
                return req.NewOrder(user, SYMBOL, side, OrderType.MARKET, qty)
            return req.NewOrder(user, SYMBOL, side, OrderType.MARKET, quote_qty=qty * MID)
        if x < 0.55:
            stop = MID - sign * rng.randint(50, 200)  # mostly not triggered at once
            return req.NewOrder(
                user, SYMBOL, side, OrderType.STOP_LOSS_LIMIT, qty, stop - sign * 5, stop_price=stop
            )
        if x < 0.68:
            oid = rng.choice(live)
            o = engine.orders[oid]
            price = max(o.price + rng.randint(-5, 5), 1) if rng.random() < 0.6 else 0
            new_qty = max(1, o.qty + rng.randint(-50, 50)) if rng.random() < 0.6 else 0
            return req.AmendOrder(user, SYMBOL, oid, price, new_qty)
        if x < 0.97:
            return req.CancelOrder(user, SYMBOL, rng.choice(live) if live else n)
        if x < 0.985:
            return req.CancelAllOrders(user, SYMBOL)
        return req.Deposit(user, rng.choice(("BTC", "USDT")), rng.randint(1, 10**6))


async def main() -> None:
    data_dir, run_id = sys.argv[1], sys.argv[2]
    shards, snapshot_every = int(sys.argv[3]), int(sys.argv[4])
    node = await Node.open(data_dir, shards=shards, snapshot_every=snapshot_every)
    sys.stdout.write(f"ready {node.exchange.last_seq}\n")
    sys.stdout.flush()
    await Load(node, run_id).run()


if __name__ == "__main__":
    asyncio.run(main())
