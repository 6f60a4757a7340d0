"""Scenario tests of the funds flow through :class:`rialto.domain.exchange.Exchange`.

NewOrder -> hold on the user's accounts shard -> matching engine -> every Trade settles the
buyer side and the seller side -> every finished order releases the rest of its hold.

Every request goes through :meth:`Venue.apply`, which checks what every request must satisfy:
the Outcome echoes seq/ts, every posting in ``Outcome.events`` is balanced, the postings add up
to exactly the balance changes the request made across all shards, every shard's ``totals()``
is zero, no balance is negative, locked equals the sum of the open holds, clearing nets to zero,
and the open engine orders are exactly the order holds.

Units: BTCUSDT has tick 0.01 and step 0.0001, so one lot is 10_000 sat and one notional unit
(tick x lot) is 1 micro-USDT; ETHBTC has tick 0.00001 and step 0.001 (one lot is 10**15 wei,
one notional unit 1 sat). Every test runs with 2 and with 3 accounts shards (users by
``user_id % shards``).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from rialto.domain import requests as rq
from rialto.domain.accounts import Hold
from rialto.domain.assets import Asset
from rialto.domain.commands import PlaceOrder
from rialto.domain.engine import MatchingEngine
from rialto.domain.events import (
    BookDelta,
    MarketStatusChanged,
    OrderAccepted,
    OrderAmended,
    OrderRejected,
    OrderUpdate,
    StopTriggered,
    Trade,
)
from rialto.domain.exchange import Exchange, Outcome
from rialto.domain.instruments import Instrument
from rialto.domain.orders import (
    FINAL_STATUSES,
    MarketStatus,
    OrderStatus,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from rialto.domain.postings import AccountKind, Posting, imbalance
from rialto.domain.rejects import Reject

BUY, SELL = Side.BUY, Side.SELL
LIMIT, MARKET, LIMIT_MAKER = OrderType.LIMIT, OrderType.MARKET, OrderType.LIMIT_MAKER
FREE, LOCKED, FEES = AccountKind.FREE, AccountKind.LOCKED, AccountKind.FEES

ASSETS = {"BTC": Asset("BTC", 8), "USDT": Asset("USDT", 6), "ETH": Asset("ETH", 18)}
BTCUSDT = Instrument(
    "BTCUSDT", "BTC", "USDT", "0.01", "0.0001", maker_fee="0.001", taker_fee="0.002"
)
ETHBTC = Instrument("ETHBTC", "ETH", "BTC", "0.00001", "0.001")
SELLER, BUYER, OTHER = 1, 2, 3
INSUFFICIENT = Reject.INSUFFICIENT_BALANCE


def btc(text: str) -> int:
    return ASSETS["BTC"].parse(text)


def usdt(text: str) -> int:
    return ASSETS["USDT"].parse(text)


def eth(text: str) -> int:
    return ASSETS["ETH"].parse(text)


def px(text: str, ins: Instrument = BTCUSDT) -> int:
    return ins.price_ticks(text)


def lots(text: str, ins: Instrument = BTCUSDT) -> int:
    return ins.qty_lots(text)


def spec(ins: Instrument) -> tuple[tuple[str, object], ...]:
    return tuple(sorted(ins.to_dict().items()))


Key = tuple[AccountKind, int, str]


def ledger(ex: Exchange) -> Counter[Key]:
    """Every account over all shards, keyed like a Leg (system accounts summed over shards)."""
    out: Counter[Key] = Counter()
    for acc in ex.accounts:
        for user, per in acc.balances.items():
            for asset, (free, locked) in per.items():
                out[(FREE, user, asset)] += free
                out[(LOCKED, user, asset)] += locked
        for (kind, asset), amount in acc.system.items():
            out[(kind, 0, asset)] += amount
    return out


def nonzero(c: Counter[Key]) -> dict[Key, int]:
    return {k: v for k, v in c.items() if v}


def check_invariants(ex: Exchange) -> None:
    n = len(ex.accounts)
    clearing: Counter[str] = Counter()
    for i, acc in enumerate(ex.accounts):
        assert set(acc.totals().values()) <= {0}, (i, acc.totals())
        held: Counter[tuple[int, str]] = Counter()
        for h in acc.holds.values():
            assert h.amount >= 0
            assert h.user_id % n == i
            held[(h.user_id, h.asset)] += h.amount
        for user, per in acc.balances.items():
            assert user % n == i, f"user {user} has balances on shard {i}"
            for asset, (free, locked) in per.items():
                assert free >= 0 and locked >= 0, (user, asset, free, locked)
                assert locked == held[(user, asset)], (user, asset, locked, held)
        for (kind, asset), amount in acc.system.items():
            if kind is AccountKind.CLEARING:
                clearing[asset] += amount
    assert set(clearing.values()) <= {0}, clearing
    order_holds = {(s, h) for s, m in ex.order_holds.items() for h in m.values()}
    all_holds = {(h.symbol, hid) for acc in ex.accounts for hid, h in acc.holds.items()}
    assert order_holds == all_holds
    for symbol, engine in ex.engines.items():
        mine = ex.order_holds.get(symbol, {})
        assert set(mine) == set(engine.orders), symbol
        for oid, o in engine.orders.items():
            h = ex.shard(o.user_id).holds[mine[oid]]
            assert (h.user_id, h.symbol, h.side) == (o.user_id, symbol, o.side)


class Venue:
    """An Exchange fed through ``apply`` with seq 1, 2, 3, ... and ts = 1000 + seq."""

    def __init__(self, shards: int = 3, extra: tuple[Instrument, ...] = (), **btcusdt: Any) -> None:
        self.ex = Exchange(shards)
        self.seq = 0
        self.btcusdt = BTCUSDT
        for asset in ASSETS.values():
            assert self.apply(rq.AddAsset(asset.symbol, asset.decimals)).reject is None
        if btcusdt:
            self.btcusdt = Instrument.from_dict({**BTCUSDT.to_dict(), **btcusdt})
        for ins in (self.btcusdt, ETHBTC, *extra):
            out = self.apply(rq.AddMarket(spec(ins)))
            assert (out.reject, out.symbol) == (None, ins.symbol)

    # --- requests -------------------------------------------------------

    def apply(self, r: Any) -> Outcome:
        self.seq += 1
        before = ledger(self.ex)
        out = self.ex.apply(self.seq, 1000 + self.seq, r)
        assert (out.seq, out.ts) == (self.seq, 1000 + self.seq)
        legs: Counter[Key] = Counter()
        for p in self.postings(out):
            assert set(imbalance(p).values()) <= {0}, f"unbalanced {p}"
            for leg in p.legs:
                legs[(leg.account, leg.user_id, leg.asset)] += leg.amount
        after = ledger(self.ex)
        changes = Counter({k: after[k] - before[k] for k in before.keys() | after.keys()})
        assert nonzero(legs) == nonzero(changes), "the postings are not what changed"
        check_invariants(self.ex)
        return out

    def deposit(self, user: int, asset: str, amount: int) -> None:
        out = self.apply(rq.Deposit(user, asset, amount))
        assert out.reject is None

    def order(self, user: int, side: Side, order_type: OrderType, **kw: Any) -> Outcome:
        symbol = kw.pop("symbol", "BTCUSDT")
        return self.apply(rq.NewOrder(user, symbol, side, order_type, **kw))

    def limit(self, user: int, side: Side, price: str, qty: str, **kw: Any) -> Outcome:
        ins = ETHBTC if kw.get("symbol") == "ETHBTC" else self.btcusdt
        return self.order(user, side, LIMIT, price=px(price, ins), qty=lots(qty, ins), **kw)

    def rest(self, user: int, side: Side, price: str, qty: str, **kw: Any) -> int:
        """Place a limit order that must rest untouched; its order id."""
        out = self.limit(user, side, price, qty, **kw)
        assert out.reject is None and not trades(out), out
        return out.order_id

    def cancel(self, user: int, order_id: int, symbol: str = "BTCUSDT") -> Outcome:
        return self.apply(rq.CancelOrder(user, symbol, order_id))

    def amend(self, user: int, order_id: int, price: int = 0, qty: int = 0) -> Outcome:
        return self.apply(rq.AmendOrder(user, "BTCUSDT", order_id, price, qty))

    def refused(self, r: Any, reason: Reject) -> Outcome:
        """Apply ``r``, which must be refused and change nothing but the exchange's last seq."""
        before = json.loads(self.ex.snapshot())
        out = self.apply(r)
        assert out.reject is reason, out
        after = json.loads(self.ex.snapshot())
        # Only the exchange's record of the last request it carried out may move.
        expected = {**before, "last_seq": self.seq}
        if "last_ts" in before:
            expected["last_ts"] = 1000 + self.seq
        assert after == expected, "a refused request changed the state"
        return out

    # --- state ----------------------------------------------------------

    def bal(self, user: int, asset: str) -> tuple[int, int]:
        return self.ex.shard(user).balance(user, asset)

    def fees(self, asset: str) -> int:
        return sum(acc.system_balance(FEES, asset) for acc in self.ex.accounts)

    def hold(self, order_id: int, symbol: str = "BTCUSDT") -> Hold | None:
        hold_id = self.ex.order_holds.get(symbol, {}).get(order_id)
        if hold_id is None:
            return None
        o = self.ex.engines[symbol].orders[order_id]
        return self.ex.shard(o.user_id).holds[hold_id]

    @staticmethod
    def postings(out: Outcome) -> list[Posting]:
        return [e for e in out.events if type(e) is Posting]


def trades(out: Outcome) -> list[Trade]:
    return [e for e in out.events if type(e) is Trade]


def updates(out: Outcome) -> list[OrderUpdate]:
    return [e for e in out.events if type(e) is OrderUpdate]


def final_status(out: Outcome, order_id: int) -> OrderStatus:
    return [u for u in updates(out) if u.order_id == order_id][-1].status


def kinds(out: Outcome) -> list[str]:
    return [p.kind if type(p) is Posting else type(p).__name__ for p in out.events]


@pytest.fixture(params=[2, 3], ids=["2shards", "3shards"])
def v(request: pytest.FixtureRequest) -> Venue:
    return Venue(request.param)


# --- setup -----------------------------------------------------------------


def test_setup_adds_assets_and_markets_to_every_shard(v: Venue) -> None:
    assert sorted(v.ex.engines) == ["BTCUSDT", "ETHBTC"]
    assert len(v.ex.accounts) in (2, 3) and v.ex.last_seq == v.seq == 5
    for acc in v.ex.accounts:
        assert sorted(acc.assets) == ["BTC", "ETH", "USDT"]
        assert (acc.markets["BTCUSDT"].base_per_lot, acc.markets["BTCUSDT"].quote_per_unit) == (
            10_000,
            1,
        )
        assert (acc.markets["ETHBTC"].base_per_lot, acc.markets["ETHBTC"].quote_per_unit) == (
            10**15,
            1,
        )
    n = len(v.ex.accounts)
    assert [v.ex.shard(u) for u in (SELLER, BUYER, OTHER)] == [
        v.ex.accounts[u % n] for u in (SELLER, BUYER, OTHER)
    ]


def test_deposit_credits_free_on_the_users_shard(v: Venue) -> None:
    out = v.apply(rq.Deposit(BUYER, "USDT", usdt("12.5")))
    assert out.reject is None and kinds(out) == ["deposit"]
    assert v.bal(BUYER, "USDT") == (usdt("12.5"), 0)
    assert v.ex.shard(BUYER).system_balance(AccountKind.HOT_WALLET, "USDT") == usdt("12.5")
    assert all(acc.balances == {} for acc in v.ex.accounts if acc is not v.ex.shard(BUYER))


def test_requests_need_increasing_seq(v: Venue) -> None:
    with pytest.raises(ValueError):
        v.ex.apply(v.seq, 1, rq.Deposit(BUYER, "USDT", 1))
    with pytest.raises(ValueError):
        v.ex.apply(v.seq - 1, 1, rq.Deposit(BUYER, "USDT", 1))
    assert v.bal(BUYER, "USDT") == (0, 0)


# --- a crossing pair ---------------------------------------------------------


def test_crossing_limit_orders_settle_both_users_exactly(v: Venue) -> None:
    v.deposit(SELLER, "BTC", btc("1"))
    v.deposit(BUYER, "USDT", usdt("40000"))
    sell = v.limit(SELLER, SELL, "30000.00", "0.5")
    assert sell.reject is None and kinds(sell)[:2] == ["hold", "OrderAccepted"]
    assert v.bal(SELLER, "BTC") == (btc("0.5"), btc("0.5"))
    assert v.hold(sell.order_id) is not None

    # The buyer's limit is above the trade price: held at 30100, trades at 30000.
    buy = v.limit(BUYER, BUY, "30100.00", "0.5")
    assert buy.reject is None and buy.order_id == sell.order_id + 1
    hold = buy.events[0]
    assert type(hold) is Posting and hold.kind == "hold"
    assert {leg.amount for leg in hold.legs} == {-usdt("15050"), usdt("15050")}
    [t] = trades(buy)
    assert (t.price, t.qty, t.maker_order_id, t.taker_order_id) == (
        px("30000"),
        lots("0.5"),
        sell.order_id,
        buy.order_id,
    )
    assert final_status(buy, sell.order_id) is OrderStatus.FILLED
    assert final_status(buy, buy.order_id) is OrderStatus.FILLED

    # Buyer: paid 15000 (50 improvement back to free), got 0.5 BTC minus the 0.2% taker fee.
    assert v.bal(BUYER, "USDT") == (usdt("25000"), 0)
    assert v.bal(BUYER, "BTC") == (btc("0.5") - btc("0.001"), 0)
    # Seller: gave 0.5 BTC, got 15000 USDT minus the 0.1% maker fee.
    assert v.bal(SELLER, "BTC") == (btc("0.5"), 0)
    assert v.bal(SELLER, "USDT") == (usdt("15000") - usdt("15"), 0)
    assert (v.fees("BTC"), v.fees("USDT")) == (btc("0.001"), usdt("15"))
    # Fees land on the shard of the user who paid them.
    assert v.ex.shard(BUYER).system_balance(FEES, "BTC") == btc("0.001")
    assert v.ex.shard(SELLER).system_balance(FEES, "USDT") == usdt("15")
    # Holds released on fill.
    assert v.ex.order_holds["BTCUSDT"] == {}
    assert all(acc.holds == {} for acc in v.ex.accounts)


def test_trade_postings_follow_their_trade_buyer_side_first(v: Venue) -> None:
    v.deposit(SELLER, "BTC", btc("1"))
    v.deposit(BUYER, "USDT", usdt("40000"))
    a = v.rest(SELLER, SELL, "30000.00", "0.2")
    b = v.rest(SELLER, SELL, "30010.00", "0.2")
    out = v.limit(BUYER, BUY, "30020.00", "0.5")
    t1, t2 = trades(out)
    assert (t1.maker_order_id, t2.maker_order_id) == (a, b)
    items = out.events
    for t in (t1, t2):
        i = items.index(t)
        buyer_side, seller_side = items[i + 1], items[i + 2]
        assert type(buyer_side) is Posting and type(seller_side) is Posting
        assert buyer_side.ref == f"BTCUSDT:{t.trade_id}:BUY"
        assert seller_side.ref == f"BTCUSDT:{t.trade_id}:SELL"
    # The taker's rest (0.1 at 30020) still rests, held at its limit price.
    assert final_status(out, out.order_id) is OrderStatus.PARTIALLY_FILLED
    assert v.bal(BUYER, "USDT") == (
        usdt("40000") - usdt("6000") - usdt("6002") - usdt("3002"),  # 3002 held for the rest
        usdt("3002"),
    )
    assert v.hold(out.order_id).amount == usdt("3002")  # type: ignore[union-attr]


def test_outcome_has_the_engine_events_and_balanced_postings(v: Venue) -> None:
    v.deposit(SELLER, "BTC", btc("1"))
    v.deposit(BUYER, "USDT", usdt("40000"))
    v.rest(SELLER, SELL, "30000.00", "0.1")
    v.rest(SELLER, SELL, "30001.00", "0.1")
    twin = MatchingEngine.restore(v.ex.engines["BTCUSDT"].snapshot())
    out = v.limit(BUYER, BUY, "30001.00", "0.25", tif=TimeInForce.IOC)
    expected = twin.place(
        PlaceOrder(
            v.seq, 1000 + v.seq, BUYER, BUY, LIMIT, lots("0.25"), px("30001"), TimeInForce.IOC
        )
    )
    assert [e for e in out.events if type(e) is not Posting] == expected
    assert out.order_id == expected[0].order_id  # type: ignore[union-attr]
    assert out.symbol == "BTCUSDT" and out.reject is None
    assert {type(e) for e in expected} >= {OrderAccepted, Trade, OrderUpdate, BookDelta}
    # The hold, both sides of both trades; the IOC's rest (0.05 x 30001) is released.
    assert [p.kind for p in Venue.postings(out)] == ["hold"] + ["trade"] * 4 + ["release"]
    for p in Venue.postings(out):
        assert set(imbalance(p).values()) == {0}


def test_crossing_pair_on_ethbtc_with_18_decimals(v: Venue) -> None:
    v.deposit(OTHER, "ETH", eth("2"))
    v.deposit(SELLER, "BTC", btc("0.1"))
    sell = v.limit(OTHER, SELL, "0.05000", "2", symbol="ETHBTC")
    assert v.bal(OTHER, "ETH") == (0, eth("2"))
    buy = v.limit(SELLER, BUY, "0.05100", "1.5", symbol="ETHBTC")
    [t] = trades(buy)
    assert (t.price, t.qty) == (px("0.05", ETHBTC), lots("1.5", ETHBTC))
    # 1.5 ETH at 0.05 = 0.075 BTC; the 0.1% taker fee in ETH, the 0.1% maker fee in BTC.
    assert v.bal(SELLER, "BTC") == (btc("0.025"), 0)
    assert v.bal(SELLER, "ETH") == (eth("1.5") - eth("0.0015"), 0)
    assert v.bal(OTHER, "ETH") == (0, eth("0.5"))
    assert v.bal(OTHER, "BTC") == (btc("0.075") - btc("0.000075"), 0)
    assert v.hold(sell.order_id, "ETHBTC").amount == eth("0.5")  # type: ignore[union-attr]


# --- cancels -----------------------------------------------------------------


def test_cancel_releases_the_whole_hold(v: Venue) -> None:
    v.deposit(BUYER, "USDT", usdt("5000"))
    oid = v.rest(BUYER, BUY, "30000.00", "0.1")
    assert v.bal(BUYER, "USDT") == (usdt("2000"), usdt("3000"))
    out = v.cancel(BUYER, oid)
    assert out.reject is None and out.order_id == oid
    assert kinds(out) == ["OrderUpdate", "release", "BookDelta"]
    assert final_status(out, oid) is OrderStatus.CANCELED
    assert v.bal(BUYER, "USDT") == (usdt("5000"), 0)
    assert v.ex.order_holds["BTCUSDT"] == {} and v.ex.shard(BUYER).holds == {}


def test_cancel_of_a_sell_releases_the_base(v: Venue) -> None:
    v.deposit(SELLER, "BTC", btc("0.3"))
    oid = v.rest(SELLER, SELL, "31000.00", "0.25")
    assert v.bal(SELLER, "BTC") == (btc("0.05"), btc("0.25"))
    v.cancel(SELLER, oid)
    assert v.bal(SELLER, "BTC") == (btc("0.3"), 0)


def test_partial_fill_then_cancel_releases_the_rest(v: Venue) -> None:
    v.deposit(SELLER, "BTC", btc("1"))
    v.deposit(BUYER, "USDT", usdt("20000"))
    v.rest(SELLER, SELL, "30000.00", "0.3")
    buy = v.limit(BUYER, BUY, "30050.00", "0.5")
    assert final_status(buy, buy.order_id) is OrderStatus.PARTIALLY_FILLED
    # Paid 9000 for 0.3; 0.2 x 30050 still held; 0.3 x 50 improvement back to free.
    assert v.bal(BUYER, "USDT") == (usdt("20000") - usdt("9000") - usdt("6010"), usdt("6010"))
    out = v.cancel(BUYER, buy.order_id)
    assert final_status(out, buy.order_id) is OrderStatus.CANCELED
    assert v.bal(BUYER, "USDT") == (usdt("11000"), 0)
    assert v.bal(BUYER, "BTC") == (btc("0.3") - btc("0.0006"), 0)


def test_partially_filled_maker_canceled_gets_its_base_back(v: Venue) -> None:
    v.deposit(SELLER, "BTC", btc("1"))
    v.deposit(BUYER, "USDT", usdt("20000"))
    sell = v.rest(SELLER, SELL, "30000.00", "1")
    v.limit(BUYER, BUY, "30000.00", "0.4")
    assert v.bal(SELLER, "BTC") == (0, btc("0.6"))
    v.cancel(SELLER, sell)
    assert v.bal(SELLER, "BTC") == (btc("0.6"), 0)
    assert v.bal(SELLER, "USDT") == (usdt("12000") - usdt("12"), 0)


def test_cancel_all_releases_every_hold_of_the_user(v: Venue) -> None:
    v.deposit(BUYER, "USDT", usdt("10000"))
    v.deposit(BUYER, "BTC", btc("1"))
    v.rest(BUYER, BUY, "29000.00", "0.1")
    v.rest(BUYER, BUY, "29500.00", "0.1")
    v.rest(BUYER, SELL, "31000.00", "0.5")
    stop = v.order(BUYER, SELL, OrderType.STOP_LOSS, qty=lots("0.2"), stop_price=px("28000"))
    assert stop.reject is None
    assert v.bal(BUYER, "BTC") == (btc("0.3"), btc("0.7"))
    out = v.apply(rq.CancelAllOrders(BUYER, "BTCUSDT"))
    assert out.reject is None
    assert [u.status for u in updates(out)] == [OrderStatus.CANCELED] * 4
    assert v.bal(BUYER, "USDT") == (usdt("10000"), 0)
    assert v.bal(BUYER, "BTC") == (btc("1"), 0)
    assert v.ex.order_holds["BTCUSDT"] == {}


def test_cancel_of_someone_elses_or_unknown_order_changes_nothing(v: Venue) -> None:
    v.deposit(BUYER, "USDT", usdt("5000"))
    oid = v.rest(BUYER, BUY, "30000.00", "0.1")
    for r in (
        rq.CancelOrder(SELLER, "BTCUSDT", oid),
        rq.CancelOrder(BUYER, "BTCUSDT", oid + 7),
        rq.CancelAllOrders(SELLER, "BTCUSDT"),
        rq.AmendOrder(SELLER, "BTCUSDT", oid, px("29000")),
    ):
        before = [a.snapshot() for a in v.ex.accounts]
        out = v.apply(r)
        assert out.reject is Reject.UNKNOWN_ORDER
        assert [type(e) for e in out.events] == [OrderRejected]
        assert [a.snapshot() for a in v.ex.accounts] == before
    assert v.bal(BUYER, "USDT") == (usdt("2000"), usdt("3000"))


# --- refusals ------------------------------------------------------------------


def test_insufficient_funds_is_refused_and_changes_nothing(v: Venue) -> None:
    v.deposit(BUYER, "USDT", usdt("100"))
    v.deposit(SELLER, "BTC", btc("0.001"))
    v.refused(rq.NewOrder(BUYER, "BTCUSDT", BUY, LIMIT, lots("0.01"), px("30000")), INSUFFICIENT)
    v.refused(rq.NewOrder(SELLER, "BTCUSDT", SELL, LIMIT, lots("0.002"), px("30000")), INSUFFICIENT)
    # Market buy by quote amount above the free balance.
    v.refused(
        rq.NewOrder(BUYER, "BTCUSDT", BUY, MARKET, quote_qty=BTCUSDT.quote_units("100.01")),
        INSUFFICIENT,
    )
    # Nothing at all in the asset: a market buy by quantity / a market sell by quote amount.
    v.refused(rq.NewOrder(SELLER, "BTCUSDT", BUY, MARKET, qty=1), INSUFFICIENT)
    v.refused(
        rq.NewOrder(BUYER, "BTCUSDT", SELL, MARKET, quote_qty=BTCUSDT.quote_units("10")),
        INSUFFICIENT,
    )
    # A user the shard has never seen: refused, and no account is created for it.
    v.refused(rq.NewOrder(OTHER, "ETHBTC", SELL, LIMIT, 1, 5000), INSUFFICIENT)
    assert OTHER not in v.ex.shard(OTHER).balances
    assert v.bal(BUYER, "USDT") == (usdt("100"), 0)
    # Exactly enough is fine.
    out = v.order(BUYER, BUY, LIMIT, qty=lots("0.001"), price=px("30000"))
    assert out.reject is None and v.bal(BUYER, "USDT") == (usdt("70"), usdt("30"))


def test_market_order_with_less_than_one_unit_free_is_refused(v: Venue) -> None:
    v.deposit(SELLER, "BTC", 9_999)  # below one lot (10_000 sat)
    v.refused(
        rq.NewOrder(SELLER, "BTCUSDT", SELL, MARKET, quote_qty=BTCUSDT.quote_units("10")),
        INSUFFICIENT,
    )


def test_unknown_symbol_is_invalid_symbol(v: Venue) -> None:
    v.deposit(BUYER, "USDT", usdt("100"))
    for r in (
        rq.NewOrder(BUYER, "XRPUSDT", BUY, LIMIT, 1, 100),
        rq.CancelOrder(BUYER, "XRPUSDT", 1),
        rq.CancelAllOrders(BUYER, "XRPUSDT"),
        rq.AmendOrder(BUYER, "XRPUSDT", 1, 100),
        rq.SetMarketStatus("XRPUSDT", MarketStatus.HALT),
    ):
        out = v.refused(r, Reject.INVALID_SYMBOL)
        assert out.events == [] and out.symbol == "XRPUSDT"


STOP_LOSS = OrderType.STOP_LOSS
ENGINE_REFUSALS = [
    pytest.param(
        dict(side=BUY, order_type=LIMIT_MAKER, qty=100, price=3_000_000),
        Reject.WOULD_TAKE,
        id="limit-maker-buy-would-take",
    ),
    pytest.param(
        dict(side=SELL, order_type=LIMIT_MAKER, qty=100, price=2_999_000),
        Reject.WOULD_TAKE,
        id="limit-maker-sell-would-take",
    ),
    pytest.param(dict(side=BUY, order_type=LIMIT, qty=0, price=2_990_000), Reject.LOT_SIZE),
    pytest.param(dict(side=SELL, order_type=LIMIT, qty=100, price=0), Reject.PRICE_FILTER),
    pytest.param(dict(side=BUY, order_type=MARKET), Reject.MARKET_LOT_SIZE),
    pytest.param(
        dict(side=BUY, order_type=MARKET, qty=10, price=3_000_000),
        Reject.INVALID_ORDER,
        id="market-with-price",
    ),
    pytest.param(
        dict(side=BUY, order_type=LIMIT, qty=1, price=1, quote_qty=5),
        Reject.INVALID_ORDER,
        id="limit-with-quote-qty",
    ),
    pytest.param(
        dict(side=BUY, order_type=STOP_LOSS, qty=10, stop_price=2_990_000),
        Reject.WOULD_TRIGGER_IMMEDIATELY,
        id="stop-buy-would-trigger",
    ),
    pytest.param(
        dict(side=SELL, order_type=STOP_LOSS, qty=10, stop_price=3_010_000),
        Reject.WOULD_TRIGGER_IMMEDIATELY,
        id="stop-sell-would-trigger",
    ),
    pytest.param(
        dict(side=BUY, order_type=LIMIT, qty=1, price=1, client_order_id="dup"),
        Reject.DUPLICATE_ORDER,
    ),
]


@pytest.mark.parametrize(("order", "reason"), ENGINE_REFUSALS)
def test_engine_refusals_leave_no_hold_behind(
    v: Venue, order: dict[str, Any], reason: Reject
) -> None:
    v.deposit(SELLER, "BTC", btc("1"))
    v.deposit(BUYER, "USDT", usdt("100000"))
    v.deposit(BUYER, "BTC", btc("1"))
    v.rest(SELLER, SELL, "30000.00", "0.01")
    v.rest(SELLER, SELL, "30000.00", "0.01")  # two asks, so one trade leaves a book
    v.deposit(OTHER, "USDT", usdt("300"))
    assert len(trades(v.limit(OTHER, BUY, "30000.00", "0.01"))) == 1  # last price 30000.00
    v.deposit(SELLER, "USDT", usdt("100"))
    v.rest(SELLER, BUY, "29990.00", "0.001")
    v.rest(BUYER, BUY, "1.00", "0.01", client_order_id="dup")
    free_locked = [v.bal(BUYER, a) for a in ASSETS]
    v.refused(rq.NewOrder(BUYER, "BTCUSDT", **order), reason)
    assert [v.bal(BUYER, a) for a in ASSETS] == free_locked


def test_halt_refuses_new_orders_and_amends_but_cancels_work(v: Venue) -> None:
    v.deposit(BUYER, "USDT", usdt("10000"))
    oid = v.rest(BUYER, BUY, "30000.00", "0.1")
    out = v.apply(rq.SetMarketStatus("BTCUSDT", MarketStatus.HALT))
    assert out.reject is None and [type(e) for e in out.events] == [MarketStatusChanged]
    v.refused(rq.NewOrder(BUYER, "BTCUSDT", BUY, LIMIT, 10, px("29000")), Reject.MARKET_CLOSED)
    v.refused(rq.NewOrder(BUYER, "BTCUSDT", BUY, MARKET, qty=10), Reject.MARKET_CLOSED)
    out = v.amend(BUYER, oid, price=px("29000"))
    assert out.reject is Reject.MARKET_CLOSED
    # The other market still trades.
    v.deposit(SELLER, "BTC", btc("0.01"))
    assert v.limit(SELLER, BUY, "0.04000", "0.1", symbol="ETHBTC").reject is None
    out = v.cancel(BUYER, oid)
    assert out.reject is None and v.bal(BUYER, "USDT") == (usdt("10000"), 0)
    v.apply(rq.SetMarketStatus("BTCUSDT", MarketStatus.TRADING))
    assert v.limit(BUYER, BUY, "30000.00", "0.1").reject is None
    assert v.bal(BUYER, "USDT") == (usdt("7000"), usdt("3000"))


# --- market orders ---------------------------------------------------------------


def test_market_buy_by_quantity_holds_all_free_quote_and_is_capped_by_it(v: Venue) -> None:
    v.deposit(SELLER, "BTC", btc("1"))
    v.deposit(BUYER, "USDT", usdt("4500"))
    v.rest(SELLER, SELL, "30000.00", "0.1")
    v.rest(SELLER, SELL, "30100.00", "0.1")
    out = v.order(BUYER, BUY, MARKET, qty=lots("0.2"))
    assert out.reject is None
    hold = out.events[0]
    assert type(hold) is Posting and hold.kind == "hold"
    assert {leg.amount for leg in hold.legs} == {-usdt("4500"), usdt("4500")}
    accepted = out.events[1]
    assert type(accepted) is OrderAccepted and accepted.cap == usdt("4500")
    # 0.1 at 30000 (3000 USDT), then what 1500 USDT buys at 30100: 498 lots (1498.98 USDT).
    assert [(t.price, t.qty) for t in trades(out)] == [
        (px("30000"), lots("0.1")),
        (px("30100"), 498),
    ]
    assert final_status(out, out.order_id) is OrderStatus.EXPIRED
    assert v.bal(BUYER, "USDT") == (usdt("1.02"), 0)
    base = btc("0.1") + 498 * 10_000
    fee = btc("0.0002") + 9_960  # 0.2% of each trade's base, rounded up
    assert v.bal(BUYER, "BTC") == (base - fee, 0)
    assert v.ex.shard(BUYER).holds == {} and out.order_id not in v.ex.order_holds["BTCUSDT"]


def test_market_buy_by_quantity_with_enough_funds_fills_and_releases_the_rest(
    v: Venue,
) -> None:
    v.deposit(SELLER, "BTC", btc("1"))
    v.deposit(BUYER, "USDT", usdt("50000"))
    v.rest(SELLER, SELL, "30000.00", "0.1")
    v.rest(SELLER, SELL, "30100.00", "0.1")
    out = v.order(BUYER, BUY, MARKET, qty=lots("0.15"))
    assert final_status(out, out.order_id) is OrderStatus.FILLED
    assert v.bal(BUYER, "USDT") == (usdt("50000") - usdt("3000") - usdt("1505"), 0)
    assert kinds(out).count("release") == 1


def test_market_buy_by_quantity_on_an_empty_book_expires_and_releases(v: Venue) -> None:
    v.deposit(BUYER, "USDT", usdt("4500"))
    out = v.order(BUYER, BUY, MARKET, qty=lots("0.2"))
    assert out.reject is None and final_status(out, out.order_id) is OrderStatus.EXPIRED
    assert kinds(out) == ["hold", "OrderAccepted", "OrderUpdate", "release"]
    assert v.bal(BUYER, "USDT") == (usdt("4500"), 0)


def test_market_buy_by_quote_amount(v: Venue) -> None:
    v.deposit(SELLER, "BTC", btc("1"))
    v.deposit(BUYER, "USDT", usdt("10000"))
    v.rest(SELLER, SELL, "30000.00", "0.05")
    v.rest(SELLER, SELL, "30100.00", "0.1")
    out = v.order(BUYER, BUY, MARKET, quote_qty=BTCUSDT.quote_units("3000"))
    hold = out.events[0]
    assert type(hold) is Posting and {leg.amount for leg in hold.legs} == {
        -usdt("3000"),
        usdt("3000"),
    }
    assert [(t.price, t.qty) for t in trades(out)] == [
        (px("30000"), lots("0.05")),
        (px("30100"), 498),
    ]
    assert final_status(out, out.order_id) is OrderStatus.FILLED
    # Spent 1500 + 1498.98; the 1.02 left of the budget comes back.
    assert v.bal(BUYER, "USDT") == (usdt("10000") - usdt("2998.98"), 0)
    assert v.bal(BUYER, "BTC") == (btc("0.0998") - btc("0.0001") - 9_960, 0)
    assert v.bal(SELLER, "USDT") == (usdt("2998.98") - usdt("1.5") - 1_498_980, 0)


def test_market_sell_by_quote_amount_holds_all_free_base_and_is_capped(v: Venue) -> None:
    v.deposit(SELLER, "BTC", btc("1"))
    v.deposit(BUYER, "USDT", usdt("10000"))
    v.rest(BUYER, BUY, "30000.00", "0.05")
    v.rest(BUYER, BUY, "29900.00", "0.1")
    out = v.order(SELLER, SELL, MARKET, quote_qty=BTCUSDT.quote_units("3000"))
    assert out.reject is None
    hold = out.events[0]
    assert type(hold) is Posting and {leg.amount for leg in hold.legs} == {-btc("1"), btc("1")}
    # 0.05 at 30000 (1500 USDT), then 501 lots at 29900 (1497.99 USDT): 2.01 short of 3000,
    # less than one more lot.
    assert [(t.price, t.qty) for t in trades(out)] == [
        (px("30000"), lots("0.05")),
        (px("29900"), 501),
    ]
    assert v.bal(SELLER, "BTC") == (btc("1") - btc("0.1001"), 0)
    received = usdt("1500") + usdt("1497.99")
    fee = usdt("3") + 2_995_980
    assert v.bal(SELLER, "USDT") == (received - fee, 0)
    assert v.ex.shard(SELLER).holds == {}


def test_market_sell_by_quote_amount_is_filled_when_its_budget_is_spent(v: Venue) -> None:
    """Binance reports a quoteOrderQty order that got its quote amount as FILLED.

    The exchange turns the order into a MARKET with both qty (the whole free base) and the
    quote amount; the engine then only reports FILLED when that whole quantity traded.
    """
    v.deposit(SELLER, "BTC", btc("1"))
    v.deposit(BUYER, "USDT", usdt("10000"))
    v.rest(BUYER, BUY, "30000.00", "0.2")
    out = v.order(SELLER, SELL, MARKET, quote_qty=BTCUSDT.quote_units("3000"))
    assert [(t.price, t.qty) for t in trades(out)] == [(px("30000"), lots("0.1"))]
    assert final_status(out, out.order_id) is OrderStatus.FILLED


def test_market_sell_by_quote_amount_is_not_refused_for_a_large_balance() -> None:
    """The cap is the funds held, not the order: a big balance must not break MARKET_LOT_SIZE."""
    v = Venue(market_max_qty="1")
    v.deposit(SELLER, "BTC", btc("2"))  # more than market_max_qty
    v.deposit(BUYER, "USDT", usdt("10000"))
    v.rest(BUYER, BUY, "30000.00", "0.2")
    out = v.order(SELLER, SELL, MARKET, quote_qty=BTCUSDT.quote_units("3000"))
    assert out.reject is None, out
    assert [(t.price, t.qty) for t in trades(out)] == [(px("30000"), lots("0.1"))]
    assert v.bal(SELLER, "BTC") == (btc("1.9"), 0)


def test_market_sell_by_quantity_holds_just_that_quantity(v: Venue) -> None:
    v.deposit(SELLER, "BTC", btc("1"))
    v.deposit(BUYER, "USDT", usdt("10000"))
    v.rest(BUYER, BUY, "30000.00", "0.05")
    out = v.order(SELLER, SELL, MARKET, qty=lots("0.1"))
    hold = out.events[0]
    assert type(hold) is Posting and {leg.amount for leg in hold.legs} == {
        -btc("0.1"),
        btc("0.1"),
    }
    assert final_status(out, out.order_id) is OrderStatus.EXPIRED
    assert v.bal(SELLER, "BTC") == (btc("0.95"), 0)


ETHUSDT = Instrument("ETHUSDT", "ETH", "USDT", "0.01", "0.01")  # 100 micro-USDT per unit


def test_market_with_notional_unit_of_100_minor_units() -> None:
    """ETHUSDT: one notional unit (0.01 x 0.01) is 100 micro-USDT, one lot 10**16 wei."""
    v = Venue(extra=(ETHUSDT,))
    v.deposit(SELLER, "ETH", eth("10"))
    v.deposit(BUYER, "USDT", usdt("100.000050"))
    v.order(SELLER, SELL, LIMIT, symbol="ETHUSDT", price=px("20", ETHUSDT), qty=30)
    v.order(SELLER, SELL, LIMIT, symbol="ETHUSDT", price=px("21", ETHUSDT), qty=700)
    # A limit buy holds qty x price: 0.1 ETH at 20.50 = 2.05 USDT; it pays 2.00.
    out = v.order(BUYER, BUY, LIMIT, symbol="ETHUSDT", price=px("20.5", ETHUSDT), qty=10)
    assert [(t.price, t.qty) for t in trades(out)] == [(2000, 10)]
    assert v.bal(BUYER, "USDT") == (usdt("98.00005"), 0)
    assert v.bal(BUYER, "ETH") == (eth("0.1") - eth("0.0001"), 0)
    # A market buy by quantity holds all free USDT, capped at whole notional units: 98.00005
    # USDT buys 0.2 ETH at 20 (4 USDT), then 4.47 ETH at 21 (93.87 USDT) of the 5 wanted.
    out = v.order(BUYER, BUY, MARKET, symbol="ETHUSDT", qty=500)
    accepted = out.events[1]
    assert type(accepted) is OrderAccepted and accepted.cap == 980_000
    assert [(t.price, t.qty) for t in trades(out)] == [(2000, 20), (2100, 447)]
    assert final_status(out, out.order_id) is OrderStatus.EXPIRED
    assert v.bal(BUYER, "USDT") == (usdt("0.13005"), 0)
    assert v.bal(BUYER, "ETH") == (eth("4.77") - eth("0.0001") - eth("0.0002") - eth("0.00447"), 0)
    # A market buy by quote amount holds quote_qty x 100 micro-USDT.
    v.deposit(BUYER, "USDT", usdt("10"))
    out = v.order(BUYER, BUY, MARKET, symbol="ETHUSDT", quote_qty=ETHUSDT.quote_units("4.2"))
    hold = out.events[0]
    assert type(hold) is Posting and {leg.amount for leg in hold.legs} == {
        -usdt("4.2"),
        usdt("4.2"),
    }
    assert [(t.price, t.qty) for t in trades(out)] == [(2100, 20)]
    assert v.bal(BUYER, "USDT") == (usdt("10.13005") - usdt("4.2"), 0)


# --- stops ---------------------------------------------------------------------


def test_stop_loss_buy_holds_all_free_quote_while_pending_and_cancel_releases(
    v: Venue,
) -> None:
    v.deposit(BUYER, "USDT", usdt("5000"))
    out = v.order(BUYER, BUY, OrderType.STOP_LOSS, qty=lots("0.1"), stop_price=px("31000"))
    assert out.reject is None and kinds(out) == ["hold", "OrderAccepted"]
    assert v.bal(BUYER, "USDT") == (0, usdt("5000"))
    assert out.order_id in v.ex.engines["BTCUSDT"].orders
    # Everything is held: another order is refused.
    v.refused(rq.NewOrder(BUYER, "BTCUSDT", BUY, LIMIT, 1, px("1")), INSUFFICIENT)
    out = v.cancel(BUYER, out.order_id)
    assert final_status(out, out.order_id) is OrderStatus.CANCELED
    assert v.bal(BUYER, "USDT") == (usdt("5000"), 0)


def test_triggered_stop_loss_buy_settles_in_another_users_request(v: Venue) -> None:
    v.deposit(BUYER, "USDT", usdt("5000"))
    v.deposit(SELLER, "BTC", btc("1"))
    v.deposit(OTHER, "USDT", usdt("5000"))
    stop = v.order(BUYER, BUY, OrderType.STOP_LOSS, qty=lots("0.1"), stop_price=px("31000"))
    v.rest(SELLER, SELL, "31000.00", "0.1")
    v.rest(SELLER, SELL, "31500.00", "0.1")
    out = v.limit(OTHER, BUY, "31000.00", "0.05")
    assert [e.order_id for e in out.events if type(e) is StopTriggered] == [stop.order_id]
    assert [(t.price, t.qty, t.taker_order_id) for t in trades(out)] == [
        (px("31000"), lots("0.05"), out.order_id),
        (px("31000"), lots("0.05"), stop.order_id),
        (px("31500"), lots("0.05"), stop.order_id),
    ]
    assert final_status(out, stop.order_id) is OrderStatus.FILLED
    assert v.bal(BUYER, "USDT") == (usdt("5000") - usdt("1550") - usdt("1575"), 0)
    assert v.bal(BUYER, "BTC") == (btc("0.1") - btc("0.0002"), 0)
    assert v.bal(OTHER, "USDT") == (usdt("3450"), 0)
    assert v.bal(SELLER, "BTC") == (btc("0.8"), btc("0.05"))


def test_triggered_stop_loss_buy_is_capped_by_the_funds_it_held(v: Venue) -> None:
    v.deposit(BUYER, "USDT", usdt("1000"))
    v.deposit(SELLER, "BTC", btc("1"))
    v.deposit(OTHER, "USDT", usdt("5000"))
    stop = v.order(BUYER, BUY, OrderType.STOP_LOSS, qty=lots("0.1"), stop_price=px("31000"))
    accepted = stop.events[1]
    assert type(accepted) is OrderAccepted and accepted.cap == usdt("1000")
    v.rest(SELLER, SELL, "31000.00", "0.2")
    v.deposit(BUYER, "USDT", usdt("500"))  # arrives after the hold: not part of the cap
    out = v.limit(OTHER, BUY, "31000.00", "0.05")
    # 1000 USDT buys 322 lots at 31000 (998.20 USDT), not the 0.1 BTC asked for.
    assert [(t.qty, t.taker_order_id) for t in trades(out)] == [
        (lots("0.05"), out.order_id),
        (322, stop.order_id),
    ]
    assert final_status(out, stop.order_id) is OrderStatus.EXPIRED
    assert v.bal(BUYER, "USDT") == (usdt("501.8"), 0)
    assert v.bal(BUYER, "BTC") == (322 * 10_000 - 6_440, 0)


def test_stop_loss_limit_buy_holds_at_its_limit_price(v: Venue) -> None:
    v.deposit(BUYER, "USDT", usdt("5000"))
    out = v.order(
        BUYER,
        BUY,
        OrderType.STOP_LOSS_LIMIT,
        qty=lots("0.1"),
        price=px("31100"),
        stop_price=px("31000"),
    )
    assert out.reject is None
    assert v.bal(BUYER, "USDT") == (usdt("1890"), usdt("3110"))


def test_stop_loss_sell_holds_its_quantity(v: Venue) -> None:
    v.deposit(SELLER, "BTC", btc("1"))
    out = v.order(SELLER, SELL, OrderType.STOP_LOSS, qty=lots("0.3"), stop_price=px("29000"))
    assert out.reject is None
    assert v.bal(SELLER, "BTC") == (btc("0.7"), btc("0.3"))


# --- amends ----------------------------------------------------------------------


def test_amend_quantity_decrease_keeps_the_order_and_settles_exactly(v: Venue) -> None:
    v.deposit(BUYER, "USDT", usdt("20000"))
    v.deposit(SELLER, "BTC", btc("1"))
    oid = v.rest(BUYER, BUY, "30000.00", "0.5")
    out = v.amend(BUYER, oid, qty=lots("0.2"))
    assert out.reject is None and out.order_id == oid
    [amended] = [e for e in out.events if type(e) is OrderAmended]
    assert (amended.qty, amended.remaining, amended.kept_priority) == (lots("0.2"), 2000, True)
    free, locked = v.bal(BUYER, "USDT")
    assert free + locked == usdt("20000") and locked >= usdt("6000")
    sell = v.limit(SELLER, SELL, "30000.00", "0.5")
    assert [(t.qty, t.maker_order_id) for t in trades(sell)] == [(lots("0.2"), oid)]
    assert final_status(sell, oid) is OrderStatus.FILLED
    assert v.bal(BUYER, "USDT") == (usdt("14000"), 0)
    assert v.bal(BUYER, "BTC") == (btc("0.2") - btc("0.0002"), 0)


def test_amend_buy_price_above_the_held_price_is_refused(v: Venue) -> None:
    v.deposit(BUYER, "USDT", usdt("100000"))
    oid = v.rest(BUYER, BUY, "30000.00", "0.5")
    out = v.refused(rq.AmendOrder(BUYER, "BTCUSDT", oid, px("30000.01")), INSUFFICIENT)
    assert out.order_id == oid and out.events == []
    # Also a larger quantity than is held.
    v.refused(rq.AmendOrder(BUYER, "BTCUSDT", oid, 0, lots("0.6")), INSUFFICIENT)
    assert v.ex.engines["BTCUSDT"].orders[oid].price == px("30000")


def test_amend_sell_quantity_above_the_hold_is_refused(v: Venue) -> None:
    v.deposit(SELLER, "BTC", btc("1"))
    oid = v.rest(SELLER, SELL, "30000.00", "0.5")
    v.refused(rq.AmendOrder(SELLER, "BTCUSDT", oid, 0, lots("0.6")), INSUFFICIENT)
    # A lower price for a sell needs no more funds.
    out = v.amend(SELLER, oid, price=px("29000"))
    assert out.reject is None and v.bal(SELLER, "BTC") == (btc("0.5"), btc("0.5"))


def test_amend_buy_price_decrease_then_fill_settles_with_improvement(v: Venue) -> None:
    v.deposit(BUYER, "USDT", usdt("20000"))
    v.deposit(SELLER, "BTC", btc("1"))
    oid = v.rest(BUYER, BUY, "30000.00", "0.5")
    out = v.amend(BUYER, oid, price=px("29000"))
    assert out.reject is None and out.order_id == oid
    assert v.bal(BUYER, "USDT") == (usdt("5000"), usdt("15000"))
    # Back up to the held price is allowed again (it is covered).
    assert v.amend(BUYER, oid, price=px("29500")).reject is None
    assert v.amend(BUYER, oid, price=px("29000")).reject is None
    sell = v.limit(SELLER, SELL, "28500.00", "0.3")
    assert [(t.price, t.qty) for t in trades(sell)] == [(px("29000"), lots("0.3"))]
    # Paid 0.3 x 29000 = 8700 out of 9000 held for it; 0.2 x 30000 still held.
    assert v.bal(BUYER, "USDT") == (usdt("20000") - usdt("8700") - usdt("6000"), usdt("6000"))
    sell = v.limit(SELLER, SELL, "29000.00", "0.2")
    assert final_status(sell, oid) is OrderStatus.FILLED
    assert v.bal(BUYER, "USDT") == (usdt("20000") - usdt("14500"), 0)
    assert v.bal(BUYER, "BTC") == (btc("0.5") - btc("0.0005"), 0)  # maker fee 0.1%
    assert v.bal(SELLER, "USDT") == (usdt("14500") - usdt("17.4") - usdt("11.6"), 0)


def test_amend_to_a_crossing_price_trades_and_settles(v: Venue) -> None:
    v.deposit(BUYER, "USDT", usdt("20000"))
    v.deposit(SELLER, "BTC", btc("1"))
    v.rest(BUYER, BUY, "29000.00", "0.5")
    ask = v.rest(SELLER, SELL, "30000.00", "0.5")
    out = v.amend(SELLER, ask, price=px("28000"))
    # The amended sell takes the bid at 29000 (the bid is the maker).
    assert [(t.price, t.qty) for t in trades(out)] == [(px("29000"), lots("0.5"))]
    assert v.bal(SELLER, "USDT") == (usdt("14500") - usdt("29"), 0)
    assert v.bal(BUYER, "USDT") == (usdt("5500"), 0)


# --- self-trade -----------------------------------------------------------------


def test_self_trade_with_stp_none_settles_both_sides_of_one_user(v: Venue) -> None:
    v.deposit(SELLER, "BTC", btc("1"))
    v.deposit(SELLER, "USDT", usdt("40000"))
    sell = v.rest(SELLER, SELL, "30000.00", "0.5")
    out = v.limit(SELLER, BUY, "30100.00", "0.5", stp=SelfTradePrevention.NONE)
    [t] = trades(out)
    assert (t.maker_user_id, t.taker_user_id, t.maker_order_id) == (SELLER, SELLER, sell)
    # Paid 15000 and got it back less the 0.1% maker fee; got 0.5 BTC back less 0.2% taker fee.
    assert v.bal(SELLER, "USDT") == (usdt("40000") - usdt("15"), 0)
    assert v.bal(SELLER, "BTC") == (btc("1") - btc("0.001"), 0)
    assert v.ex.shard(SELLER).holds == {}


def test_self_trade_prevention_expire_maker_releases_the_maker(v: Venue) -> None:
    v.deposit(SELLER, "BTC", btc("1"))
    v.deposit(SELLER, "USDT", usdt("40000"))
    sell = v.rest(SELLER, SELL, "30000.00", "0.5")
    out = v.limit(SELLER, BUY, "30100.00", "0.5")  # default STP: EXPIRE_MAKER
    assert trades(out) == []
    assert final_status(out, sell) is OrderStatus.EXPIRED_IN_MATCH
    assert v.bal(SELLER, "BTC") == (btc("1"), 0)
    assert v.bal(SELLER, "USDT") == (usdt("40000") - usdt("15050"), usdt("15050"))


# --- IOC / FOK ------------------------------------------------------------------


def test_ioc_and_fok_release_what_they_do_not_fill(v: Venue) -> None:
    v.deposit(SELLER, "BTC", btc("1"))
    v.deposit(BUYER, "USDT", usdt("20000"))
    v.rest(SELLER, SELL, "30000.00", "0.1")
    out = v.limit(BUYER, BUY, "30000.00", "0.3", tif=TimeInForce.FOK)
    assert trades(out) == [] and final_status(out, out.order_id) is OrderStatus.EXPIRED
    assert v.bal(BUYER, "USDT") == (usdt("20000"), 0)
    out = v.limit(BUYER, BUY, "30000.00", "0.3", tif=TimeInForce.IOC)
    assert len(trades(out)) == 1 and final_status(out, out.order_id) is OrderStatus.EXPIRED
    assert v.bal(BUYER, "USDT") == (usdt("17000"), 0)
    assert all(u.status in FINAL_STATUSES for u in updates(out))


# --- snapshots --------------------------------------------------------------------


def test_snapshot_restore_round_trips_with_open_orders(v: Venue) -> None:
    v.deposit(SELLER, "BTC", btc("1"))
    v.deposit(BUYER, "USDT", usdt("20000"))
    v.rest(SELLER, SELL, "30000.00", "0.3")
    v.limit(BUYER, BUY, "30050.00", "0.5")
    v.order(SELLER, SELL, OrderType.STOP_LOSS, qty=lots("0.1"), stop_price=px("29000"))
    snap = v.ex.snapshot()
    twin = Exchange.restore(snap)
    assert twin.snapshot() == snap and twin.state_hash() == v.ex.state_hash()
    assert twin.order_holds == v.ex.order_holds and twin.last_seq == v.seq
    r = rq.NewOrder(SELLER, "BTCUSDT", SELL, LIMIT, lots("0.2"), px("30000"))
    assert twin.apply(v.seq + 1, 2000, r) == v.ex.apply(v.seq + 1, 2000, r)
    assert twin.state_hash() == v.ex.state_hash()
