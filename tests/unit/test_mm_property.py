"""Property: over random market paths the market maker never trades with itself, never
crosses its own quotes and never exceeds its limits.

The bot's real decision code (:func:`rialto.marketmaker.core.desired` and
:func:`rialto.marketmaker.reconcile.plan`) drives the real matching engine and accounts
(:class:`rialto.domain.exchange.Exchange`) in process: the same LIMIT_MAKER orders with
``EXPIRE_TAKER`` the bot sends over the API, against a trader who takes, rests and moves
the price along a random path.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rialto.domain import requests as req
from rialto.domain.events import OrderAccepted, OrderUpdate, Trade
from rialto.domain.exchange import Exchange, Outcome
from rialto.domain.instruments import Instrument
from rialto.domain.orders import FINAL_STATUSES, OrderType, SelfTradePrevention, Side, TimeInForce
from rialto.marketmaker import core
from rialto.marketmaker.config import RiskLimits, StrategyParams
from rialto.marketmaker.quotes import BUY, SELL, MarketSpec
from rialto.marketmaker.reconcile import Live, plan
from rialto.marketmaker.reference import Reference
from rialto.marketmaker.risk import Exposure, Guard, Ledger, book_notional, worst_positions
from rialto.marketmaker.strategy import MarketModel

INS = Instrument("BTCUSDT", "BTC", "USDT", "0.01", "0.0001", min_notional="5")
SPEC = MarketSpec(
    "BTCUSDT", "BTC", "USDT", Decimal("0.01"), Decimal("0.0001"), Decimal("0.0001"), Decimal("5")
)
BTC_UNIT, USDT_UNIT = Decimal("1e-8"), Decimal("1e-6")
LIMITS = RiskLimits(
    max_position={"BTC": Decimal("0.5"), "USDT": Decimal(40_000)},
    max_notional=Decimal(30_000),
    max_daily_loss=Decimal(300),
)


class Sim:
    """The exchange and the bot's book-keeping, one request at a time."""

    def __init__(self, params: StrategyParams) -> None:
        self.ex = Exchange()
        self.seq = 0
        self.apply(req.AddAsset("BTC", 8))
        self.apply(req.AddAsset("USDT", 6))
        self.apply(req.AddMarket.of(INS))
        self.bot = self.apply(req.CreateUser("bot@mm.test", "x")).user_id
        self.trader = self.apply(req.CreateUser("trader@mm.test", "x")).user_id
        for user in (self.bot, self.trader):
            self.apply(req.Deposit(user, "BTC", 100 * 10**8))
            self.apply(req.Deposit(user, "USDT", 10_000_000 * 10**6))
        self.start = self.balances()
        self.model = MarketModel(SPEC, params, Reference(initial=65000.0))
        self.ledger = Ledger()
        self.guard = Guard(LIMITS)
        self.live: dict[str, Live] = {}
        self.trades: list[Trade] = []

    def apply(self, r: Any) -> Outcome:
        self.seq += 1
        out = self.ex.apply(self.seq, 1_000 * self.seq, r)
        self.book(out)
        return out

    def book(self, out: Outcome) -> None:
        for e in out.events:
            if isinstance(e, Trade):
                self.trades.append(e)
                if e.maker_user_id == self.bot or e.taker_user_id == self.bot:
                    mine = e.maker_order_id if e.maker_user_id == self.bot else e.taker_order_id
                    side = self.live[str(mine)].side
                    qty, price = e.qty * SPEC.step, e.price * SPEC.tick
                    self.ledger.fill("BTCUSDT", "BTC", "USDT", side, qty, price)
                    self.model.on_fill(side, float(qty), float(price))
            elif isinstance(e, OrderUpdate) and e.user_id == self.bot:
                oid = str(e.order_id)
                if e.status in FINAL_STATUSES:
                    self.live.pop(oid, None)
                elif oid in self.live:
                    o = self.live[oid]
                    self.live[oid] = Live(oid, o.side, o.price, e.remaining * SPEC.step)

    def balances(self) -> dict[str, Decimal]:
        acc = self.ex.shard(self.bot)
        btc, usdt = sum(acc.balance(self.bot, "BTC")), sum(acc.balance(self.bot, "USDT"))
        return {"BTC": btc * BTC_UNIT, "USDT": usdt * USDT_UNIT}

    def prices(self) -> dict[str, Decimal]:
        ref = self.model.reference.price(self.seq * 1000) or 65000.0
        return {"USDT": Decimal(1), "BTC": Decimal(repr(ref))}

    def requote(self) -> None:
        now = self.seq * 1000
        prices = self.prices()
        self.guard.check(
            now,
            self.ledger.value(prices),
            self.ledger.deltas,
            prices,
            book_notional(self.exposures(), prices),
        )
        want = core.desired(self.model, now, self.ledger, self.guard, LIMITS, [], prices)
        p = plan(want, list(self.live.values()), 0.25, keep_bps=3.0)
        for oid in p.cancels:
            self.apply(req.CancelOrder(self.bot, "BTCUSDT", int(oid)))
            self.live.pop(oid, None)
        for q in p.places:
            r = req.NewOrder(
                self.bot,
                "BTCUSDT",
                Side(q.side),
                OrderType.LIMIT_MAKER,
                qty=INS.qty_lots(str(q.qty)),
                price=INS.price_ticks(str(q.price)),
                stp=SelfTradePrevention.EXPIRE_TAKER,
            )
            self.seq += 1
            out = self.ex.apply(self.seq, 1000 * self.seq, r)
            if out.reject is None and any(isinstance(e, OrderAccepted) for e in out.events):
                self.live[str(out.order_id)] = Live(str(out.order_id), q.side, q.price, q.qty)
            self.book(out)

    def exposures(self) -> list[Exposure]:
        return [Exposure("BTC", "USDT", o.side, o.price, o.qty) for o in self.live.values()]

    def check(self) -> None:
        engine = self.ex.engines["BTCUSDT"]
        mine = engine.open_orders(self.bot)
        bids = [o.price for o in mine if o.side is Side.BUY]
        asks = [o.price for o in mine if o.side is Side.SELL]
        assert not bids or not asks or max(bids) < min(asks), "the bot crossed its own quotes"
        assert all(t.maker_user_id != t.taker_user_id for t in self.trades), "a self-trade"
        # What the engine holds for the bot, not what the bot believes.
        orders = [
            Exposure(
                "BTC",
                "USDT",
                BUY if o.side is Side.BUY else SELL,
                o.price * SPEC.tick,
                o.remaining * SPEC.step,
            )
            for o in mine
        ]
        now = self.balances()
        held = {a: now[a] - self.start[a] for a in now}
        hi, lo = worst_positions(held, orders)
        fee_slack = Decimal("0.001")  # fees make the real position a touch smaller
        for asset, cap in LIMITS.max_position.items():
            assert abs(held[asset]) <= cap + fee_slack * cap, (asset, held[asset])
            assert hi[asset] <= cap * (1 + fee_slack) and lo[asset] >= -cap * (1 + fee_slack)
        assert LIMITS.max_notional is not None
        assert sum(o.price * o.qty for o in orders) <= LIMITS.max_notional
        if self.guard.killed is not None:
            assert not mine, "killed, yet quoting"


step = st.tuples(
    st.integers(-400, 400),  # the path's move, bps
    st.integers(1, 40),  # the trader's size, in 0.01 BTC
    st.sampled_from(["take", "take", "rest", "external"]),
)


@settings(max_examples=40, deadline=None)
@given(
    path=st.lists(step, min_size=5, max_size=30),
    levels=st.integers(1, 6),
    spread=st.integers(2, 40),
    pool=st.floats(0.5, 20),
    trade_anchor=st.floats(0, 1),
)
def test_never_self_trades_never_crosses_never_exceeds_limits(
    path: list[tuple[int, int, str]], levels: int, spread: int, pool: float, trade_anchor: float
) -> None:
    params = StrategyParams(
        levels=levels,
        min_spread_bps=spread,
        pool_base=pool,
        trade_anchor=trade_anchor,
        vol_sample_s=0,
    )
    sim = Sim(params)
    price = 65000.0
    sim.requote()
    sim.check()
    for move, size, kind in path:
        price *= 1 + move / 10_000
        ticks = INS.price_ticks(str(SPEC.price(price, BUY)))
        engine = sim.ex.engines["BTCUSDT"]
        bid, ask = engine.bids.best(), engine.asks.best()
        up = not ask or ticks >= (ask if bid is None else (bid + ask) // 2)
        if kind == "external":
            sim.model.reference.on_external(price * 0.9995, price * 1.0005, sim.seq * 1000)
        else:
            sim.apply(
                req.NewOrder(
                    sim.trader,
                    "BTCUSDT",
                    Side.BUY if up else Side.SELL,
                    OrderType.LIMIT,
                    qty=size * 100,
                    price=ticks,
                    tif=TimeInForce.IOC if kind == "take" else TimeInForce.GTC,
                )
            )
        sim.check()
        sim.requote()
        sim.check()
