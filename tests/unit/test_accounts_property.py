"""Property test: the accounts shard driven by real matching engines.

Random deposits, limit orders (GTC/IOC, with and without self-trade prevention), market sells
by quantity, market buys by quote amount, cancels, withdrawals (hold, then finalize or return),
adjustments, fee-tier changes, snapshot/restore and replays of earlier operations, for 2-6
users on BTCUSDT, ETHBTC and ETHUSDT (BTC 8, USDT 6, ETH 18 decimals). Every order is first
held (``hold_order``); one refused for insufficient funds never reaches its engine. The
engine's events are mapped onto the accounts: each ``Trade`` settles the buyer side and the
seller side, each final ``OrderUpdate`` releases the order's hold.

After every step:

* ``totals()`` is all zeros (liabilities equal wallet holdings) and ``clearing`` is zero;
* no free or locked balance is negative;
* every user's locked amount per asset equals the sum of that user's open holds in it;
* the open holds are exactly those of the orders resting in the engines, and a resting buy's
  hold still covers its remaining quantity at its limit price;
* every balance, hold, pending withdrawal and system account equals an independent model of
  the rules (fee ``ceil(received x rate)``, rebate rounded towards zero, price improvement
  back to free).
"""

from __future__ import annotations

from fractions import Fraction
from math import ceil, floor
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts_support import run
from rialto.domain.accounts import Accounts, MarketTerms, Result
from rialto.domain.assets import Asset
from rialto.domain.commands import CancelOrder, PlaceOrder
from rialto.domain.engine import MatchingEngine
from rialto.domain.events import Event, OrderAccepted, OrderRejected, OrderUpdate, Trade
from rialto.domain.instruments import Instrument
from rialto.domain.orders import OrderStatus, OrderType, SelfTradePrevention, Side, TimeInForce
from rialto.domain.postings import AccountKind
from rialto.domain.rejects import Reject

BUY, SELL = Side.BUY, Side.SELL
LIMIT, MARKET = OrderType.LIMIT, OrderType.MARKET
FREE_KINDS = (
    AccountKind.FEES,
    AccountKind.HOT_WALLET,
    AccountKind.WITHDRAWALS_PENDING,
    AccountKind.ADJUSTMENTS,
    AccountKind.CLEARING,
)
FINAL = frozenset(
    {
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.EXPIRED,
        OrderStatus.EXPIRED_IN_MATCH,
    }
)

ASSETS = (Asset("BTC", 8), Asset("USDT", 6), Asset("ETH", 18))
INSTRUMENTS = (
    Instrument("BTCUSDT", "BTC", "USDT", "0.01", "0.0001", maker_fee="0.0008", taker_fee="0.0012"),
    Instrument("ETHBTC", "ETH", "BTC", "0.00001", "0.001", maker_fee="0.00075", taker_fee="0.001"),
    # One notional unit (0.1 x 0.001) is 100 USDT minor units: quote_per_unit is not 1 here.
    Instrument("ETHUSDT", "ETH", "USDT", "0.1", "0.001", maker_fee="0.001", taker_fee="0.001"),
)
SYMBOLS = tuple(i.symbol for i in INSTRUMENTS)
# 30000.00 USDT, 0.05000 BTC, 3000.0 USDT in ticks
CENTER = {"BTCUSDT": 3_000_000, "ETHBTC": 5_000, "ETHUSDT": 30_000}
TIERS = {"mm": ("-0.0002", "0.0005"), "vip": ("0", "0.0009")}
TIER_NAMES = ("", "mm", "vip")
# Deposit sizes: enough for a few orders each, so that some holds are refused.
DEPOSIT_MAX = {"BTC": 2_000_000, "USDT": 300_000_000, "ETH": 10**17}


def rate_fee(received: int, rate: str) -> int:
    """The rule, independently: a fee rounded up, a rebate rounded towards zero."""
    exact = received * Fraction(rate)
    return ceil(exact) if exact >= 0 else -floor(-exact)


class Model:
    """What the balances should be, from the documented rules alone."""

    def __init__(self) -> None:
        self.bal: dict[tuple[int, str], list[int]] = {}
        self.sys: dict[tuple[AccountKind, str], int] = {}
        self.holds: dict[int, list[Any]] = {}  # hid -> [user, asset, amount, limit price]
        self.withdrawals: dict[int, tuple[int, str, int]] = {}
        self.tiers: dict[int, str] = {}

    def b(self, user: int, asset: str) -> list[int]:
        return self.bal.setdefault((user, asset), [0, 0])

    def add(self, kind: AccountKind, asset: str, amount: int) -> None:
        self.sys[(kind, asset)] = self.sys.get((kind, asset), 0) + amount

    def rates(self, user: int, ins: Instrument) -> tuple[str, str]:
        tier = self.tiers.get(user, "")
        return TIERS[tier] if tier else (ins.maker_fee, ins.taker_fee)


class Harness:
    def __init__(self, n_users: int, tiers: list[str]) -> None:
        self.acc = Accounts()
        for asset in ASSETS:
            self.acc.add_asset(asset)
        self.terms: dict[str, MarketTerms] = {}
        self.engines: dict[str, MatchingEngine] = {}
        for ins in INSTRUMENTS:
            self.terms[ins.symbol] = self.acc.add_market(ins)
            self.engines[ins.symbol] = MatchingEngine(ins)
        for name, (maker, taker) in TIERS.items():
            self.acc.set_tier(name, maker, taker)
        self.model = Model()
        self.users = list(range(1, n_users + 1))
        for user, tier in zip(self.users, tiers, strict=False):
            self.set_tier(user, tier)
        self.seq = 0
        self.hold_id = 0
        self.withdrawal_id = 0
        self.order_hold: dict[tuple[str, int], int] = {}  # (symbol, engine order id) -> hold id
        self.done: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []  # every ok op

    # --- plumbing -------------------------------------------------------------

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def call(self, op: str, *args: Any, **kwargs: Any) -> Result:
        result = run(self.acc, op, *args, **kwargs)
        if result.ok:
            self.done.append((op, args, kwargs))
        return result

    def user(self, k: int) -> int:
        return self.users[k % len(self.users)]

    def set_tier(self, user: int, tier: str) -> None:
        self.acc.assign_tier(user, tier)
        if tier:
            self.model.tiers[user] = tier
        else:
            self.model.tiers.pop(user, None)

    # --- operations -----------------------------------------------------------

    def deposit(self, user: int, asset: str, amount: int) -> None:
        seq = self.next_seq()
        assert self.call("deposit", "log", seq, seq, user, asset, amount).ok
        self.model.b(user, asset)[0] += amount
        self.model.add(AccountKind.HOT_WALLET, asset, amount)

    def adjust(self, user: int, asset: str, amount: int) -> None:
        seq = self.next_seq()
        r = self.call("adjust", "log", seq, seq, user, asset, amount, f"case {seq}")
        bal = self.model.b(user, asset)
        if bal[0] + amount < 0:
            assert r.reason is Reject.INSUFFICIENT_BALANCE, r
            return
        assert r.ok and r.postings[0].memo == f"case {seq}"
        bal[0] += amount
        self.model.add(AccountKind.ADJUSTMENTS, asset, -amount)

    def withdraw(self, user: int, asset: str, amount: int) -> None:
        seq = self.next_seq()
        self.withdrawal_id += 1
        wid = self.withdrawal_id
        r = self.call("hold_withdrawal", "log", seq, seq, wid, user, asset, amount)
        bal = self.model.b(user, asset)
        if bal[0] < amount:
            assert r.reason is Reject.INSUFFICIENT_BALANCE, r
            return
        assert r.ok, r
        bal[0] -= amount
        self.model.add(AccountKind.WITHDRAWALS_PENDING, asset, amount)
        self.model.withdrawals[wid] = (user, asset, amount)

    def finish_withdrawal(self, k: int, finalize: bool) -> None:
        if not self.model.withdrawals:
            return
        wid = sorted(self.model.withdrawals)[k % len(self.model.withdrawals)]
        user, asset, amount = self.model.withdrawals.pop(wid)
        seq = self.next_seq()
        if finalize:
            assert self.call("finalize_withdrawal", seq, wid).ok
            self.model.add(AccountKind.HOT_WALLET, asset, -amount)
        else:
            assert self.call("return_withdrawal", seq, wid).ok
            self.model.b(user, asset)[0] += amount
        self.model.add(AccountKind.WITHDRAWALS_PENDING, asset, -amount)

    def place(
        self,
        symbol: str,
        user: int,
        side: Side,
        order_type: OrderType,
        qty: int = 0,
        price: int = 0,
        quote: int = 0,
        tif: TimeInForce = TimeInForce.GTC,
        stp: SelfTradePrevention | None = None,
    ) -> None:
        m = self.terms[symbol]
        if side is BUY:
            asset = m.quote.symbol
            need = quote if quote else qty * price * m.quote_per_unit
            limit = 0 if quote else price
        else:
            asset, need, limit = m.base.symbol, qty * m.base_per_lot, 0
        seq = self.next_seq()
        self.hold_id += 1
        hid = self.hold_id
        r = self.call(
            "hold_order",
            "log",
            seq,
            seq,
            hid,
            user,
            symbol,
            side,
            price=price,
            qty=qty,
            quote=quote,
        )
        bal = self.model.b(user, asset)
        if bal[0] < need:
            assert r.reason is Reject.INSUFFICIENT_BALANCE, r
            return  # never reaches the engine
        assert r.ok and r.held == need, (r, need)
        bal[0] -= need
        bal[1] += need
        self.model.holds[hid] = [user, asset, need, limit]
        cmd = PlaceOrder(
            seq,
            seq,
            user,
            side,
            order_type,
            qty=qty,
            price=price,
            tif=tif,
            quote_qty=quote // m.quote_per_unit,
            stp=stp,
        )
        self.apply_events(symbol, self.engines[symbol].apply(cmd), hid)

    def cancel(self, symbol: str, k: int) -> None:
        engine = self.engines[symbol]
        if not engine.orders:
            return
        oid = sorted(engine.orders)[k % len(engine.orders)]
        seq = self.next_seq()
        cmd = CancelOrder(seq, seq, engine.orders[oid].user_id, oid)
        self.apply_events(symbol, engine.apply(cmd), 0)

    def restore(self) -> None:
        data = self.acc.snapshot()
        self.acc = Accounts.restore(data)
        assert self.acc.snapshot() == data

    def replay(self, k: int) -> None:
        """An operation that succeeded before, again: a duplicate that changes nothing."""
        if not self.done:
            return
        op, args, kwargs = self.done[-1 - k % len(self.done)]
        before = self.acc.state_hash()
        r = run(self.acc, op, *args, **kwargs)
        assert r == Result(False, True, None, ()), (op, args, r)
        assert self.acc.state_hash() == before

    # --- engine events -> accounts ----------------------------------------------

    def apply_events(self, symbol: str, events: list[Event], hid: int) -> None:
        for e in events:
            if isinstance(e, OrderAccepted):
                self.order_hold[(symbol, e.order_id)] = hid
            elif isinstance(e, OrderRejected):
                if hid:  # a refused placement: give the hold back
                    self.release(hid)
            elif isinstance(e, Trade):
                self.settle(symbol, e)
            elif isinstance(e, OrderUpdate) and e.status in FINAL:
                self.release(self.order_hold.pop((symbol, e.order_id)))

    def settle(self, symbol: str, t: Trade) -> None:
        m = self.terms[symbol]
        ins = m.instrument
        if t.taker_side is BUY:
            buy_oid, sell_oid = t.taker_order_id, t.maker_order_id
        else:
            buy_oid, sell_oid = t.maker_order_id, t.taker_order_id
        base_amt = t.qty * m.base_per_lot
        quote_amt = t.qty * t.price * m.quote_per_unit
        base, quote = m.base.symbol, m.quote.symbol
        for side, oid in ((BUY, buy_oid), (SELL, sell_oid)):
            hid = self.order_hold[(symbol, oid)]
            is_maker = side is not t.taker_side
            r = self.call("settle", symbol, t.trade_id, t.ts, hid, side, is_maker, t.price, t.qty)
            assert r.ok, r
            hold = self.model.holds[hid]
            user = hold[0]
            maker_rate, taker_rate = self.model.rates(user, ins)
            rate = maker_rate if is_maker else taker_rate
            if side is BUY:
                used = t.qty * hold[3] * m.quote_per_unit if hold[3] else quote_amt
                assert used <= hold[2]
                fee = rate_fee(base_amt, rate)
                hold[2] -= used
                qb = self.model.b(user, quote)
                qb[1] -= used
                qb[0] += used - quote_amt
                self.model.b(user, base)[0] += base_amt - fee
                self.model.add(AccountKind.FEES, base, fee)
            else:
                assert base_amt <= hold[2]
                fee = rate_fee(quote_amt, rate)
                hold[2] -= base_amt
                self.model.b(user, base)[1] -= base_amt
                self.model.b(user, quote)[0] += quote_amt - fee
                self.model.add(AccountKind.FEES, quote, fee)

    def release(self, hid: int) -> None:
        seq = self.next_seq()
        r = self.call("release", seq, hid)
        assert r.ok, r
        user, asset, amount, _ = self.model.holds.pop(hid)
        bal = self.model.b(user, asset)
        bal[1] -= amount
        bal[0] += amount

    # --- invariants ---------------------------------------------------------------

    def check(self) -> None:
        acc = self.acc
        assert set(acc.totals().values()) == {0}, acc.totals()
        for asset in acc.assets:
            assert acc.system_balance(AccountKind.CLEARING, asset) == 0
        locked_by_holds: dict[tuple[int, str], int] = {}
        for h in acc.holds.values():
            key = (h.user_id, h.asset)
            locked_by_holds[key] = locked_by_holds.get(key, 0) + h.amount
        for user, per in acc.balances.items():
            for asset, (free, locked) in per.items():
                assert free >= 0 and locked >= 0, (user, asset, free, locked)
                assert locked == locked_by_holds.get((user, asset), 0), (user, asset)
        # Open holds are exactly those of resting orders, and a buy's hold covers its rest.
        resting: set[int] = set()
        for symbol, engine in self.engines.items():
            qpu, bpl = self.terms[symbol].quote_per_unit, self.terms[symbol].base_per_lot
            for oid, o in engine.orders.items():
                hid = self.order_hold[(symbol, oid)]
                resting.add(hid)
                h = acc.holds[hid]
                assert (h.user_id, h.symbol, h.side) == (o.user_id, symbol, o.side)
                if o.side is BUY:
                    assert h.amount >= o.remaining * o.price * qpu, (o, h.amount)
                else:
                    assert h.amount >= o.remaining * bpl, (o, h.amount)
        assert set(acc.holds) == resting
        # Everything agrees with the model.
        model = self.model
        for (user, asset), (free, locked) in model.bal.items():
            assert acc.balance(user, asset) == (free, locked), (user, asset)
        for user, per in acc.balances.items():
            for asset, bal in per.items():
                assert (user, asset) in model.bal or bal == [0, 0]
        for asset in acc.assets:
            for kind in FREE_KINDS:
                assert acc.system_balance(kind, asset) == model.sys.get((kind, asset), 0), (
                    kind,
                    asset,
                )
        assert {hid: h.amount for hid, h in acc.holds.items()} == {
            hid: h[2] for hid, h in model.holds.items()
        }
        assert acc.withdrawals == model.withdrawals


# --- strategies -------------------------------------------------------------------

symbols = st.sampled_from(SYMBOLS)
assets = st.sampled_from([a.symbol for a in ASSETS])
ks = st.integers(0, 63)
lots = st.integers(1, 60)


@st.composite
def deposits(draw: st.DrawFn) -> tuple[Any, ...]:
    asset = draw(assets)
    amount = draw(st.integers(1, DEPOSIT_MAX[asset]))
    return ("deposit", draw(ks), asset, amount)


@st.composite
def withdrawals(draw: st.DrawFn) -> tuple[Any, ...]:
    asset = draw(assets)
    amount = draw(st.integers(1, DEPOSIT_MAX[asset] // 2))
    return ("withdraw", draw(ks), asset, amount)


@st.composite
def adjustments(draw: st.DrawFn) -> tuple[Any, ...]:
    asset = draw(assets)
    cap = DEPOSIT_MAX[asset] // 4
    amount = draw(st.integers(-cap, cap).filter(bool))
    return ("adjust", draw(ks), asset, amount)


limits = st.tuples(
    st.just("limit"),
    symbols,
    ks,
    st.sampled_from([BUY, SELL]),
    st.integers(-5, 5),
    lots,
    st.sampled_from([TimeInForce.GTC] * 3 + [TimeInForce.IOC]),
    st.sampled_from([None, None, SelfTradePrevention.NONE]),
)
market_sells = st.tuples(st.just("market_sell"), symbols, ks, lots)
market_buys = st.tuples(st.just("market_buy_quote"), symbols, ks, st.integers(1, 100_000_000))
cancels = st.tuples(st.just("cancel"), symbols, ks)
finishes = st.tuples(st.just("finish"), ks, st.booleans())
tier_changes = st.tuples(st.just("tier"), ks, st.sampled_from(TIER_NAMES))
restores = st.just(("restore",))
replays = st.tuples(st.just("replay"), st.integers(0, 7) | ks)

# Weighted: st.one_of would collapse repeated branches, sampled_from keeps them.
operations = st.sampled_from(
    [
        *[limits] * 8,
        market_sells,
        market_buys,
        cancels,
        deposits(),
        withdrawals(),
        finishes,
        adjustments(),
        tier_changes,
        restores,
        replays,
    ]
).flatmap(lambda strategy: strategy)


def step(h: Harness, op: tuple[Any, ...]) -> None:
    kind = op[0]
    if kind == "deposit":
        h.deposit(h.user(op[1]), op[2], op[3])
    elif kind == "limit":
        _, symbol, k, side, offset, qty, tif, stp = op
        price = CENTER[symbol] + offset
        h.place(symbol, h.user(k), side, LIMIT, qty=qty, price=price, tif=tif, stp=stp)
    elif kind == "market_sell":
        _, symbol, k, qty = op
        h.place(symbol, h.user(k), SELL, MARKET, qty=qty)
    elif kind == "market_buy_quote":
        _, symbol, k, quote = op
        if symbol == "ETHBTC":  # up to 0.01 BTC; elsewhere up to 100 USDT
            quote = max(1, quote // 100)
        h.place(symbol, h.user(k), BUY, MARKET, quote=quote)
    elif kind == "cancel":
        h.cancel(op[1], op[2])
    elif kind == "withdraw":
        h.withdraw(h.user(op[1]), op[2], op[3])
    elif kind == "finish":
        h.finish_withdrawal(op[1], op[2])
    elif kind == "adjust":
        h.adjust(h.user(op[1]), op[2], op[3])
    elif kind == "tier":
        h.set_tier(h.user(op[1]), op[2])
    elif kind == "restore":
        h.restore()
    elif kind == "replay":
        h.replay(op[1])
    else:  # pragma: no cover
        raise AssertionError(op)


@settings(
    max_examples=700,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    n_users=st.integers(2, 6),
    tiers=st.lists(st.sampled_from(TIER_NAMES), min_size=6, max_size=6),
    funding=st.lists(st.integers(0, 3), min_size=18, max_size=18),
    ops=st.lists(operations, min_size=40, max_size=120),
)
def test_accounts_follow_the_engines(
    n_users: int, tiers: list[str], funding: list[int], ops: list[Any]
) -> None:
    h = Harness(n_users, tiers)
    # Opening balances: from nothing to three times the largest single deposit.
    for i, user in enumerate(h.users):
        for j, asset in enumerate(ASSETS):
            if funding[3 * i + j]:
                h.deposit(user, asset.symbol, funding[3 * i + j] * DEPOSIT_MAX[asset.symbol])
    h.check()
    for op in ops:
        step(h, op)
        h.check()
    # Cancel everything still resting: every hold comes back, nothing is locked.
    for symbol, engine in h.engines.items():
        while engine.orders:
            h.cancel(symbol, 0)
            h.check()
    assert h.acc.holds == {}
    for per in h.acc.balances.values():
        assert all(locked == 0 for _, locked in per.values())
    restored = Accounts.restore(h.acc.snapshot())
    assert restored.state_hash() == h.acc.state_hash()
