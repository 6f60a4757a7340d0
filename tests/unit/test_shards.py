"""The exchange split into shards (:mod:`rialto.domain.shards`), driven by :class:`ShardCluster`.

Scenario tests of the funds flow over the shards' logs (hold on the user's accounts shard,
``Place`` to the market's shard, ``Settle``/``Release`` back), admission and sequencing of
inputs, shard snapshots, the codec of shard journals and bus messages, and a property test:
random request sequences give the same answers, balances and books through the shards as
through the embedded :class:`Exchange`.

After every request of the scenario and property tests (:func:`check_books`): every accounts
shard's ``totals()`` is all zeros, so is their sum, the clearing accounts net to zero over the
shards (both sides of every trade settled once all messages are delivered), no balance is
negative, each user's locked amount is the sum of the user's holds, and each market's ``held``
names exactly its open orders, each backed by an open hold of the order's user on the user's
accounts shard (and every open hold backs one order).

Units: BTCUSDT has tick 0.01 and step 0.0001 (one lot is 10_000 sat, one notional unit
1 micro-USDT) and the market's default fee rates (0.1% maker and taker); ETHBTC has tick
0.00001 and step 0.001 (one lot 10**15 wei, one notional unit 1 sat), maker 0.05% and taker
0.2%. Users go to ``acct-<user % 3>``.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from rialto.domain import requests as rq
from rialto.domain.accounts import AccountsError
from rialto.domain.assets import Asset
from rialto.domain.events import (
    BookDelta,
    OrderAccepted,
    OrderRejected,
    OrderUpdate,
    Trade,
)
from rialto.domain.exchange import Exchange, Outcome
from rialto.domain.instruments import Instrument
from rialto.domain.orders import (
    LIMIT_PRICED_TYPES,
    MarketStatus,
    OrderStatus,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from rialto.domain.postings import AccountKind, Posting
from rialto.domain.rejects import BINANCE_ERRORS, Reject
from rialto.domain.shards import (
    AccountsShard,
    ControlShard,
    MatchingShard,
    Place,
    Release,
    Settle,
    new_shard,
    restore_shard,
)
from rialto.runtime.codec import (
    CodecError,
    Input,
    decode,
    decode_input,
    decode_message,
    encode,
    encode_input,
    encode_message,
)
from shard_cluster import ShardCluster, route

BUY, SELL = Side.BUY, Side.SELL
LIMIT, MARKET, LIMIT_MAKER = OrderType.LIMIT, OrderType.MARKET, OrderType.LIMIT_MAKER
GTC, IOC, FOK = TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK
INSUFFICIENT = Reject.INSUFFICIENT_BALANCE

ASSETS = (Asset("BTC", 8), Asset("USDT", 6), Asset("ETH", 18))
BTCUSDT = Instrument("BTCUSDT", "BTC", "USDT", "0.01", "0.0001")  # default fees: 0.1% / 0.1%
ETHBTC = Instrument(
    "ETHBTC", "ETH", "BTC", "0.00001", "0.001", maker_fee="0.0005", taker_fee="0.002"
)
INSTRUMENTS = (BTCUSDT, ETHBTC)
SYMBOLS = ("BTCUSDT", "ETHBTC")
SHARDS = 3
SELLER, BUYER, THIRD = 1, 2, 3  # on acct-1, acct-2 and acct-0


def spec(ins: Instrument) -> tuple[tuple[str, object], ...]:
    return rq.AddMarket.of(ins).spec


# --- invariants ----------------------------------------------------------------


def check_books(c: ShardCluster) -> None:
    """What holds between requests, once every message is delivered (see the module doc)."""
    n = c.user_shards
    total: Counter[str] = Counter()
    clearing: Counter[str] = Counter()
    holds: dict[tuple[str, int], Any] = {}
    for i, s in enumerate(c.accounts_shards()):
        acc = s.accounts
        totals = acc.totals()
        assert set(totals.values()) <= {0}, (s.name, totals)
        total.update(totals)
        held: Counter[tuple[int, str]] = Counter()
        for hid, h in acc.holds.items():
            assert h.amount >= 0 and h.user_id % n == i, (s.name, hid)
            held[(h.user_id, h.asset)] += h.amount
            holds[(s.name, hid)] = h
        for user, per in acc.balances.items():
            assert user % n == i, f"user {user} has balances on {s.name}"
            for asset, (free, locked) in per.items():
                assert free >= 0 and locked >= 0, (user, asset, free, locked)
                assert locked == held[(user, asset)], (s.name, user, asset, locked)
        for (kind, asset), amount in acc.system.items():
            if kind is AccountKind.CLEARING:
                clearing[asset] += amount
    assert set(total.values()) <= {0}, total
    assert set(clearing.values()) <= {0}, f"a trade settled on one side only: {clearing}"
    backing: set[tuple[str, int]] = set()
    for m in c.markets():
        orders = {} if m.engine is None else m.engine.orders
        assert set(m.held) == set(orders), (m.name, sorted(m.held), sorted(orders))
        for oid, hd in m.held.items():
            o = orders[oid]
            h = holds.get((hd.shard, hd.hold_id))
            assert h is not None, f"{m.name} order {oid} is backed by no open hold"
            assert (h.user_id, h.symbol, h.side) == (o.user_id, m.symbol, o.side)
            assert (hd.shard, hd.hold_id) not in backing, "two orders on one hold"
            backing.add((hd.shard, hd.hold_id))
    assert backing == set(holds), ("open holds backing no order", set(holds) - backing)


class Venue:
    """A ShardCluster of 3 user shards with BTC, USDT, ETH, BTCUSDT and ETHBTC; ts 1001, ..."""

    def __init__(self, user_shards: int = SHARDS) -> None:
        self.c = ShardCluster(user_shards)
        self.ts = 1000
        for a in ASSETS:
            assert self.req(rq.AddAsset(a.symbol, a.decimals)).reject is None
        for ins in INSTRUMENTS:
            out = self.req(rq.AddMarket(spec(ins)))
            assert (out.reject, out.symbol) == (None, ins.symbol)

    def req(self, r: rq.Request) -> Outcome:
        self.ts += 1
        out = self.c.request(r, self.ts)
        assert out.ts == self.ts
        check_books(self.c)
        return out

    def deposit(self, user: int, asset: str, amount: int) -> None:
        assert self.req(rq.Deposit(user, asset, amount)).reject is None

    def limit(self, user: int, side: Side, price: int, qty: int, **kw: Any) -> Outcome:
        symbol = kw.pop("symbol", "BTCUSDT")
        return self.req(rq.NewOrder(user, symbol, side, LIMIT, qty, price, **kw))

    def bal(self, user: int, asset: str) -> tuple[int, int]:
        return self.c.balance(user, asset)

    def fees(self, shard: str, asset: str) -> int:
        s = self.c.shard(shard)
        assert isinstance(s, AccountsShard)
        return s.accounts.system_balance(AccountKind.FEES, asset)

    def sends(self, shard: str, back: int = 1) -> list[tuple[str, Any]]:
        """The sends of the ``back``-th last input ``shard`` applied."""
        return self.c.journal[shard][-back].step.sends

    def state(self, shard: str) -> dict[str, Any]:
        """A shard's snapshot without its sequencing (what a refusal must not change)."""
        doc = json.loads(self.c.shard(shard).snapshot())
        return {"state": doc["state"], "received": doc["received"], "sent": doc["sent"]}


@pytest.fixture
def v() -> Venue:
    return Venue()


def usdt(units: int) -> int:
    return units * 10**6


def trades(out: Outcome) -> list[Trade]:
    return [e for e in out.events if type(e) is Trade]


# --- routing -------------------------------------------------------------------


def test_route_sends_each_request_to_its_shards() -> None:
    assert route(rq.CreateUser("a@b.c", "h"), 3) == ["ctl"]
    assert route(rq.Deposit(4, "BTC", 1), 3) == ["acct-1"]
    assert route(rq.Adjust(5, "BTC", -1, "why"), 3) == ["acct-2"]
    assert route(rq.NewOrder(6, "BTCUSDT", BUY, LIMIT, 1, 1), 3) == ["acct-0"]
    assert route(rq.NewOrder(6, "BTCUSDT", BUY, LIMIT, 1, 1), 4) == ["acct-2"]
    for r in (
        rq.CancelOrder(1, "ETHBTC", 3),
        rq.CancelAllOrders(1, "ETHBTC"),
        rq.AmendOrder(1, "ETHBTC", 3, 1, 1),
        rq.SetMarketStatus("ETHBTC", MarketStatus.HALT),
    ):
        assert route(r, 3) == ["mkt-ETHBTC"], r
    assert route(rq.AddAsset("BTC", 8), 2) == ["acct-0", "acct-1"]
    assert route(rq.AddMarket(spec(ETHBTC)), 2) == ["acct-0", "acct-1", "mkt-ETHBTC"]


def test_setup_reaches_every_shard(v: Venue) -> None:
    assert sorted(v.c.shards) == ["acct-0", "acct-1", "acct-2", "mkt-BTCUSDT", "mkt-ETHBTC"]
    for s in v.c.accounts_shards():
        assert sorted(s.accounts.assets) == ["BTC", "ETH", "USDT"]
        assert sorted(s.accounts.markets) == ["BTCUSDT", "ETHBTC"]
        assert s.last_seq == 5 and s.inbox_seq == 5
    assert v.c.market("BTCUSDT").engine is not None
    assert v.c.market("BTCUSDT").last_seq == 1
    with pytest.raises(AccountsError):  # a market is added once
        v.c.submit("mkt-BTCUSDT", rq.AddMarket(spec(BTCUSDT)), v.ts)
    with pytest.raises(AccountsError):  # and only to its own shard
        v.c.submit("mkt-BTCUSDT", rq.AddMarket(spec(ETHBTC)), v.ts)


# --- funds flow ----------------------------------------------------------------


def test_limit_buy_is_held_on_its_accounts_shard_and_rests_on_its_market(v: Venue) -> None:
    v.deposit(BUYER, "USDT", usdt(20_000))
    out = v.limit(BUYER, BUY, 3_000_000, 5_000)  # 0.5 BTC at 30000.00
    # The market answers: the order is accepted and rests.
    assert (out.reject, out.order_id, out.symbol) == (None, 1, "BTCUSDT")
    assert [type(e) for e in out.events] == [OrderAccepted, BookDelta]
    assert v.bal(BUYER, "USDT") == (usdt(5_000), usdt(15_000))
    # The accounts shard held the quote and sent the order on, numbered 1.
    entry = v.c.journal["acct-2"][-1]
    assert entry.step.reply is False
    assert [p.kind for p in entry.step.outcome.events if type(p) is Posting] == ["hold"]
    ((dest, place),) = entry.step.sends
    assert dest == "mkt-BTCUSDT" and type(place) is Place
    assert (place.user_id, place.hold_id, place.hold_price, place.held_qty) == (
        BUYER,
        entry.seq,
        3_000_000,
        5_000,
    )
    m = v.c.market("BTCUSDT")
    assert m.received == {"acct-2": 1} and v.c.shard("acct-2").sent == {"mkt-BTCUSDT": 1}
    assert m.held[1] == ("acct-2", entry.seq, 3_000_000, 5_000)
    assert m.engine is not None and [o.order_id for o in m.engine.open_orders(BUYER)] == [1]
    assert v.c.accounts_of(BUYER).accounts.holds[entry.seq].amount == usdt(15_000)


def test_a_crossing_sell_trades_and_settles_both_sides(v: Venue) -> None:
    v.deposit(BUYER, "USDT", usdt(20_000))
    v.deposit(SELLER, "BTC", 100_000_000)
    buy = v.limit(BUYER, BUY, 3_000_000, 5_000)
    hold_buy = v.c.market("BTCUSDT").held[buy.order_id].hold_id
    out = v.limit(SELLER, SELL, 2_900_000, 5_000)  # sells 0.5 BTC at 29000, trades at 30000
    assert out.reject is None and out.order_id == 2
    ((t,),) = [trades(out)]
    assert (t.price, t.qty, t.maker_order_id, t.taker_order_id) == (3_000_000, 5_000, 1, 2)
    assert (t.maker_user_id, t.taker_user_id, t.taker_side) == (BUYER, SELLER, SELL)
    # The market settled each side on its own shard and released both finished orders.
    sends = v.sends("mkt-BTCUSDT")
    assert [(d, type(m).__name__) for d, m in sends] == [
        ("acct-2", "Settle"),
        ("acct-1", "Settle"),
        ("acct-2", "Release"),
        ("acct-1", "Release"),
    ]
    hold_sell = v.c.journal["mkt-BTCUSDT"][-1].msg.hold_id
    assert sends[0][1] == Settle("BTCUSDT", 1, hold_buy, BUY, True, 3_000_000, 5_000)
    assert sends[1][1] == Settle("BTCUSDT", 1, hold_sell, SELL, False, 3_000_000, 5_000)
    assert (sends[2][1], sends[3][1]) == (
        Release("BTCUSDT", hold_buy),
        Release("BTCUSDT", hold_sell),
    )
    # Numbered per destination; the resting buy sent nothing.
    assert v.c.shard("mkt-BTCUSDT").sent == {"acct-2": 2, "acct-1": 2}
    assert v.c.shard("acct-2").received == {"mkt-BTCUSDT": 2}
    assert buy.order_id == 1
    # 0.5 BTC for 15000 USDT; the buyer (maker) pays 0.1% in BTC, the seller (taker) in USDT.
    assert v.bal(BUYER, "BTC") == (50_000_000 - 50_000, 0)
    assert v.bal(BUYER, "USDT") == (usdt(5_000), 0)
    assert v.bal(SELLER, "BTC") == (50_000_000, 0)
    assert v.bal(SELLER, "USDT") == (usdt(15_000) - usdt(15), 0)
    assert v.fees("acct-2", "BTC") == 50_000 and v.fees("acct-1", "USDT") == usdt(15)
    assert v.c.market("BTCUSDT").held == {}
    assert all(s.accounts.holds == {} for s in v.c.accounts_shards())


def test_a_crossing_buy_pays_the_maker_price_and_gets_the_rest_of_its_hold_back(v: Venue) -> None:
    v.deposit(THIRD, "ETH", 3 * 10**18)
    v.deposit(BUYER, "BTC", 6_000_000)
    ask = v.limit(THIRD, SELL, 5_000, 2_000, symbol="ETHBTC")  # 2 ETH at 0.05 BTC
    assert ask.reject is None and v.bal(THIRD, "ETH") == (10**18, 2 * 10**18)
    out = v.limit(BUYER, BUY, 5_100, 1_000, symbol="ETHBTC")  # 1 ETH at up to 0.051
    assert [(t.price, t.qty) for t in trades(out)] == [(5_000, 1_000)]
    statuses = [(e.order_id, e.status) for e in out.events if type(e) is OrderUpdate]
    assert statuses == [(1, OrderStatus.PARTIALLY_FILLED), (2, OrderStatus.FILLED)]
    # Held 0.051 BTC, paid 0.05: 0.001 back to free. Taker fee 0.2% of 1 ETH in ETH.
    assert v.bal(BUYER, "BTC") == (1_000_000, 0)
    assert v.bal(BUYER, "ETH") == (10**18 - 2 * 10**15, 0)
    # The maker keeps 1 ETH locked for the rest of its order; fee 0.05% of 0.05 BTC.
    assert v.bal(THIRD, "ETH") == (10**18, 10**18)
    assert v.bal(THIRD, "BTC") == (5_000_000 - 2_500, 0)
    assert v.fees("acct-2", "ETH") == 2 * 10**15 and v.fees("acct-0", "BTC") == 2_500
    assert [type(m).__name__ for _, m in v.sends("mkt-ETHBTC")] == ["Settle", "Settle", "Release"]
    assert v.c.market("ETHBTC").held.keys() == {1}


def test_a_market_buy_by_quantity_holds_the_whole_balance_and_releases_the_rest(v: Venue) -> None:
    v.deposit(SELLER, "BTC", 100_000_000)
    v.deposit(BUYER, "USDT", usdt(20_000))
    v.limit(SELLER, SELL, 3_000_000, 2_000)
    v.limit(SELLER, SELL, 3_100_000, 2_000)
    out = v.req(rq.NewOrder(BUYER, "BTCUSDT", BUY, MARKET, 3_000))
    assert out.reject is None
    assert [(t.price, t.qty) for t in trades(out)] == [(3_000_000, 2_000), (3_100_000, 1_000)]
    place = v.c.journal["mkt-BTCUSDT"][-1].msg
    assert type(place) is Place and place.hold_price == 0
    assert place.cap == usdt(20_000)  # one notional unit is one micro-USDT
    spent = usdt(6_000) + usdt(3_100)
    assert v.bal(BUYER, "USDT") == (usdt(20_000) - spent, 0)
    assert v.bal(BUYER, "BTC") == (30_000_000 - 30_000, 0)


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        (rq.NewOrder(BUYER, "BTCUSDT", BUY, LIMIT, 0, 3_000_000), Reject.LOT_SIZE),
        (rq.NewOrder(BUYER, "BTCUSDT", BUY, LIMIT, 5, 0), Reject.PRICE_FILTER),
        (rq.NewOrder(BUYER, "BTCUSDT", BUY, MARKET, 0), Reject.MARKET_LOT_SIZE),
        (rq.NewOrder(BUYER, "BTCUSDT", BUY, MARKET, 5, 3_000_000), Reject.INVALID_ORDER),
        (rq.NewOrder(BUYER, "DOGEUSDT", BUY, LIMIT, 5, 3_000_000), Reject.INVALID_SYMBOL),
        (rq.NewOrder(BUYER, "BTCUSDT", BUY, LIMIT, 10_000, 3_000_000), INSUFFICIENT),
        (rq.NewOrder(BUYER, "BTCUSDT", SELL, LIMIT, 1, 3_000_000), INSUFFICIENT),
        (rq.NewOrder(BUYER, "BTCUSDT", SELL, MARKET, 1), INSUFFICIENT),
        (rq.NewOrder(BUYER, "ETHBTC", BUY, MARKET, 1), INSUFFICIENT),
    ],
    ids=lambda x: x.value if isinstance(x, Reject) else None,
)
def test_a_refused_order_holds_nothing_and_reaches_no_market(
    v: Venue, request_: rq.NewOrder, reason: Reject
) -> None:
    v.deposit(BUYER, "USDT", usdt(20_000))  # 2/3 of what 1 BTC at 30000 costs
    before = v.state("acct-2")
    markets = {m.name: m.last_seq for m in v.c.markets()}
    out = v.req(request_)
    assert out.reject is reason and out.order_id == 0 and out.events == []
    assert v.c.journal["acct-2"][-1].step.sends == []
    assert v.state("acct-2") == before, "a refused order changed the accounts shard"
    assert {m.name: m.last_seq for m in v.c.markets()} == markets
    assert v.bal(BUYER, "USDT") == (usdt(20_000), 0)
    if reason is INSUFFICIENT:
        assert BINANCE_ERRORS[out.reject][0] == -2010


def test_a_post_only_order_that_would_cross_is_refused_by_the_market_and_released(
    v: Venue,
) -> None:
    v.deposit(THIRD, "BTC", 10_000_000)
    v.deposit(BUYER, "USDT", usdt(20_000))
    v.limit(THIRD, SELL, 3_000_000, 1_000)
    before = v.bal(BUYER, "USDT")
    out = v.req(rq.NewOrder(BUYER, "BTCUSDT", BUY, LIMIT_MAKER, 1_000, 3_000_000))
    assert (out.reject, out.order_id, out.symbol) == (Reject.WOULD_TAKE, 0, "BTCUSDT")
    assert [type(e) for e in out.events] == [OrderRejected]
    ((dest, release),) = v.sends("mkt-BTCUSDT")
    place = v.c.journal["mkt-BTCUSDT"][-1].msg
    assert (dest, release) == ("acct-2", Release("BTCUSDT", place.hold_id))
    assert v.bal(BUYER, "USDT") == before == (usdt(20_000), 0)
    assert v.c.accounts_of(BUYER).accounts.holds == {}
    assert set(v.c.market("BTCUSDT").held) == {1}
    # Below the ask it rests, held like any limit buy.
    out = v.req(rq.NewOrder(BUYER, "BTCUSDT", BUY, LIMIT_MAKER, 1_000, 2_999_999))
    assert out.reject is None and out.order_id == 2
    assert v.bal(BUYER, "USDT") == (usdt(20_000) - 2_999_999_000, 2_999_999_000)


def test_a_halted_market_and_a_duplicate_client_id_release_the_hold(v: Venue) -> None:
    v.deposit(BUYER, "USDT", usdt(20_000))
    assert v.limit(BUYER, BUY, 2_000_000, 1_000, client_order_id="c1").reject is None
    locked = v.bal(BUYER, "USDT")
    dup = v.limit(BUYER, BUY, 2_000_000, 1_000, client_order_id="c1")
    assert dup.reject is Reject.DUPLICATE_ORDER and v.bal(BUYER, "USDT") == locked
    assert v.req(rq.SetMarketStatus("BTCUSDT", MarketStatus.HALT)).reject is None
    closed = v.limit(BUYER, BUY, 2_000_000, 1_000)
    assert closed.reject is Reject.MARKET_CLOSED and v.bal(BUYER, "USDT") == locked
    assert [type(m) for _, m in v.sends("mkt-BTCUSDT")] == [Release]


def test_cancel_releases_the_hold(v: Venue) -> None:
    v.deposit(BUYER, "USDT", usdt(20_000))
    first = v.limit(BUYER, BUY, 3_000_000, 5_000, client_order_id="a").order_id
    second = v.limit(BUYER, BUY, 2_000_000, 1_000).order_id
    third = v.limit(BUYER, BUY, 1_000_000, 1_000).order_id
    assert v.bal(BUYER, "USDT") == (usdt(2_000), usdt(18_000))
    out = v.req(rq.CancelOrder(SELLER, "BTCUSDT", first))  # not the owner
    assert out.reject is Reject.UNKNOWN_ORDER and v.sends("mkt-BTCUSDT") == []
    out = v.req(rq.CancelOrder(BUYER, "BTCUSDT", 0, "a"))
    assert (out.reject, out.order_id) == (None, first)
    assert v.bal(BUYER, "USDT") == (usdt(17_000), usdt(3_000))
    assert [(d, type(m)) for d, m in v.sends("mkt-BTCUSDT")] == [("acct-2", Release)]
    out = v.req(rq.CancelAllOrders(BUYER, "BTCUSDT"))
    assert out.reject is None and len(v.sends("mkt-BTCUSDT")) == 2
    assert v.bal(BUYER, "USDT") == (usdt(20_000), 0)
    assert v.c.market("BTCUSDT").held == {} and v.c.accounts_of(BUYER).accounts.holds == {}
    out = v.req(rq.CancelOrder(BUYER, "BTCUSDT", second))
    assert out.reject is Reject.UNKNOWN_ORDER and third == second + 1


def test_amend_may_not_ask_for_more_than_was_held(v: Venue) -> None:
    v.deposit(BUYER, "USDT", usdt(100_000))
    v.deposit(SELLER, "BTC", 100_000_000)
    oid = v.limit(BUYER, BUY, 3_000_000, 5_000).order_id
    held = v.bal(BUYER, "USDT")
    assert held == (usdt(85_000), usdt(15_000))

    def amend(user: int, order_id: int, price: int = 0, qty: int = 0) -> Outcome:
        return v.req(rq.AmendOrder(user, "BTCUSDT", order_id, price, qty))

    # Dearer, or more of it: the hold would not cover it, whatever is free.
    for price, qty in ((3_000_001, 0), (0, 5_001), (3_000_001, 4_000)):
        out = amend(BUYER, oid, price, qty)
        assert (out.reject, out.order_id) == (INSUFFICIENT, oid)
        assert BINANCE_ERRORS[INSUFFICIENT][0] == -2010
        assert v.bal(BUYER, "USDT") == held
    o = v.c.market("BTCUSDT").engine.orders[oid]  # type: ignore[union-attr]
    assert (o.price, o.qty) == (3_000_000, 5_000)
    # Cheaper, then back up to the held price, or smaller: carried out, the hold unchanged.
    assert amend(BUYER, oid, price=2_900_000).reject is None
    assert amend(BUYER, oid, price=3_000_000).reject is None
    assert amend(BUYER, oid, qty=4_000).reject is None
    assert amend(BUYER, oid, qty=5_000).reject is None
    assert v.bal(BUYER, "USDT") == held
    # After a partial fill the hold still covers the original quantity, no more.
    assert v.limit(SELLER, SELL, 3_000_000, 1_000).reject is None
    assert amend(BUYER, oid, qty=5_001).reject is INSUFFICIENT
    assert amend(BUYER, oid, qty=4_500).reject is None
    # Someone else's order: the engine refuses it as unknown.
    assert amend(SELLER, oid, price=3_000_001).reject is Reject.UNKNOWN_ORDER
    # A sell holds base for its quantity: a larger one is refused though BTC is free.
    sell = v.limit(SELLER, SELL, 3_500_000, 1_000).order_id
    assert amend(SELLER, sell, qty=1_001).reject is INSUFFICIENT
    assert amend(SELLER, sell, price=4_000_000).reject is None
    assert amend(SELLER, sell, qty=900).reject is None


def test_users_are_numbered_by_the_control_shard(v: Venue) -> None:
    ids = [v.req(rq.CreateUser(f"u{i}@example.com", "hash")).user_id for i in range(3)]
    assert ids == [1, 2, 3]
    out = v.req(rq.CreateUser("  U1@Example.com ", "other"))
    assert (out.reject, out.user_id) == (Reject.USER_EXISTS, 0)
    assert v.req(rq.CreateUser("u4@example.com", "hash")).user_id == 4
    ctl = v.c.shard("ctl")
    assert isinstance(ctl, ControlShard)
    assert ctl.users.find("u1@example.com").password_hash == "hash"  # type: ignore[union-attr]
    assert ctl.last_seq == 5 and ctl.inbox_seq == 5


# --- admission and sequencing ----------------------------------------------------


def test_admits_only_the_next_message_from_each_source() -> None:
    s = new_shard("acct-0")
    assert s.admits("", 0, 1) and not s.admits("", 0, 0)
    s.apply(1, 10, "", 0, 4, rq.AddAsset("BTC", 8))
    assert s.inbox_seq == 4
    assert not s.admits("", 0, 4) and not s.admits("", 0, 3)
    assert s.admits("", 0, 5) and s.admits("", 0, 9)
    mkt = "mkt-BTCUSDT"
    assert s.admits(mkt, 1, 0)
    assert not s.admits(mkt, 2, 0), "a gap"
    assert not s.admits(mkt, 0, 0)
    s.apply(2, 11, mkt, 1, 0, Release("BTCUSDT", 99))
    assert s.received == {mkt: 1} and s.inbox_seq == 4
    assert not s.admits(mkt, 1, 0), "a duplicate"
    assert s.admits(mkt, 2, 0) and not s.admits(mkt, 3, 0)
    assert s.admits("mkt-ETHBTC", 1, 0), "numbers are per source"
    s.apply(3, 12, "mkt-ETHBTC", 1, 0, Release("ETHBTC", 98))
    assert s.received == {mkt: 1, "mkt-ETHBTC": 1}


@pytest.mark.parametrize(
    ("seq", "source", "number", "inbox_seq"),
    [
        (4, "mkt-BTCUSDT", 1, 0),  # a duplicate
        (4, "mkt-BTCUSDT", 3, 0),  # a gap
        (4, "mkt-BTCUSDT", 0, 0),
        (4, "", 0, 5),  # a caller request at the last inbox position
        (4, "", 0, 2),  # or before it
        (3, "mkt-BTCUSDT", 2, 0),  # the seq does not follow
        (5, "mkt-BTCUSDT", 2, 0),
        (3, "", 0, 6),
    ],
)
def test_apply_refuses_what_is_not_admitted_and_changes_nothing(
    seq: int, source: str, number: int, inbox_seq: int
) -> None:
    s = new_shard("acct-0")
    s.apply(1, 10, "", 0, 5, rq.AddAsset("BTC", 8))
    s.apply(2, 11, "mkt-BTCUSDT", 1, 0, Release("BTCUSDT", 99))
    s.apply(3, 12, "mkt-ETHBTC", 1, 0, Release("ETHBTC", 99))
    before = s.snapshot()
    with pytest.raises(ValueError):
        s.apply(seq, 13, source, number, inbox_seq, Release("BTCUSDT", 98))
    assert s.snapshot() == before
    # The right input still goes in.
    s.apply(4, 13, "mkt-BTCUSDT", 2, 0, Release("BTCUSDT", 98))
    assert s.received["mkt-BTCUSDT"] == 2


def test_a_shard_refuses_a_message_it_does_not_take() -> None:
    place = Place(1, "BTCUSDT", BUY, LIMIT, 1, 1, GTC, 0, 0, "", None, 1, 0, 1, 1)
    for name, msg in (
        ("acct-0", place),
        ("acct-0", rq.CancelOrder(1, "BTCUSDT", 1)),
        ("mkt-BTCUSDT", rq.Deposit(1, "BTC", 1)),
        ("ctl", rq.AddAsset("BTC", 8)),
    ):
        s = new_shard(name)
        before = s.snapshot()
        with pytest.raises(TypeError):
            s.apply(1, 1, "", 0, 1, msg)
        assert s.snapshot() == before
    for bad in ("acct-x", "mkt-", "acct", "control", ""):
        with pytest.raises(ValueError):
            new_shard(bad)


def test_sends_are_numbered_per_destination(v: Venue) -> None:
    v.deposit(SELLER, "BTC", 100_000_000)
    v.deposit(BUYER, "USDT", usdt(100_000))
    v.deposit(THIRD, "USDT", usdt(100_000))
    for user in (BUYER, THIRD, BUYER):
        v.limit(user, BUY, 3_000_000, 1_000)
    m = v.c.market("BTCUSDT")
    assert m.received == {"acct-2": 2, "acct-0": 1}
    v.limit(SELLER, SELL, 3_000_000, 3_000)
    entry = v.c.journal["mkt-BTCUSDT"][-1]
    assert (entry.source, entry.number) == ("acct-1", 1)
    got = [(d, type(msg).__name__) for d, msg in entry.step.sends]
    assert got == [
        ("acct-2", "Settle"),
        ("acct-1", "Settle"),
        ("acct-2", "Release"),
        ("acct-0", "Settle"),
        ("acct-1", "Settle"),
        ("acct-0", "Release"),
        ("acct-2", "Settle"),
        ("acct-1", "Settle"),
        ("acct-2", "Release"),
        ("acct-1", "Release"),
    ]
    assert m.sent == {"acct-2": 4, "acct-1": 4, "acct-0": 2}
    for name in ("acct-0", "acct-1", "acct-2"):
        mine = [e.number for e in v.c.journal[name] if e.source == "mkt-BTCUSDT"]
        assert mine == list(range(1, len(mine) + 1)), name
        assert v.c.shard(name).received.get("mkt-BTCUSDT", 0) == len(mine)


# --- snapshots -------------------------------------------------------------------


def traded_venue() -> Venue:
    """Users in ctl, trades on both markets, resting and partly filled orders, a pending stop."""
    v = Venue()
    for i in range(3):
        v.req(rq.CreateUser(f"u{i}@example.com", f"hash{i}"))
    v.deposit(SELLER, "BTC", 100_000_000)
    v.deposit(SELLER, "ETH", 5 * 10**18)
    v.deposit(BUYER, "USDT", usdt(100_000))
    v.deposit(BUYER, "BTC", 10_000_000)
    v.deposit(THIRD, "USDT", usdt(50_000))
    v.limit(BUYER, BUY, 3_000_000, 5_000, client_order_id="b1")
    v.limit(THIRD, BUY, 2_990_000, 2_000)
    v.limit(SELLER, SELL, 2_990_000, 6_000)  # fills the first, part of the second
    v.limit(SELLER, SELL, 3_100_000, 1_000)
    v.req(rq.NewOrder(THIRD, "BTCUSDT", BUY, OrderType.STOP_LOSS, 500, stop_price=3_050_000))
    v.limit(SELLER, SELL, 5_000, 2_000, symbol="ETHBTC")
    v.limit(BUYER, BUY, 5_000, 500, symbol="ETHBTC")
    v.req(rq.SetMarketStatus("ETHBTC", MarketStatus.HALT))
    return v


def clone(c: ShardCluster) -> ShardCluster:
    """A cluster whose every shard is restored from a snapshot of ``c``'s."""
    twin = ShardCluster(c.user_shards)
    for name, s in c.shards.items():
        twin.shards[name] = restore_shard(s.snapshot())
        twin.journal[name] = []
    twin.inbox = dict(c.inbox)
    return twin


def test_a_restored_shard_is_the_same_shard() -> None:
    v = traded_venue()
    kinds = set()
    for name, s in v.c.shards.items():
        data = s.snapshot()
        back = restore_shard(data)
        kinds.add(type(back))
        assert type(back) is type(s) and back.name == name
        assert back.state_hash() == s.state_hash(), name
        assert back.snapshot() == data
        assert (back.last_seq, back.last_ts, back.inbox_seq) == (s.last_seq, s.last_ts, s.inbox_seq)
        assert (back.received, back.sent) == (s.received, s.sent)
    assert kinds == {ControlShard, AccountsShard, MatchingShard}
    m = v.c.market("BTCUSDT")
    assert m.held and restore_shard(m.snapshot()).held == m.held  # type: ignore[attr-defined]
    # A cluster of restored shards carries on exactly like the original.
    twin = clone(v.c)
    follow = [
        rq.NewOrder(BUYER, "BTCUSDT", BUY, LIMIT, 2_000, 3_100_000),  # triggers the stop
        rq.CancelOrder(THIRD, "BTCUSDT", 2),
        rq.SetMarketStatus("ETHBTC", MarketStatus.TRADING),
        rq.AmendOrder(BUYER, "ETHBTC", 2, 0, 400),
        rq.NewOrder(BUYER, "ETHBTC", BUY, MARKET, 1_000),
        rq.NewOrder(BUYER, "BTCUSDT", BUY, LIMIT, 1_000, 3_000_000, client_order_id="b1"),
        rq.CreateUser("u0@example.com", "again"),
        rq.CreateUser("u9@example.com", "new"),
    ]
    outs = []
    for r in follow:
        v.ts += 1
        out = v.c.request(r, v.ts)
        assert twin.request(r, v.ts) == out, r
        outs.append(out)
    assert [type(e).__name__ for e in outs[0].events].count("StopTriggered") == 1
    assert trades(outs[4]) and outs[5].reject is None and outs[6].reject is Reject.USER_EXISTS
    assert {n: s.state_hash() for n, s in twin.shards.items()} == {
        n: s.state_hash() for n, s in v.c.shards.items()
    }


def _edit(data: bytes, change: Any) -> bytes:
    doc = json.loads(data)
    change(doc)
    return json.dumps(doc).encode()


def test_a_corrupt_snapshot_is_refused() -> None:
    v = traded_venue()
    acct, mkt, ctl = (v.c.shard(n).snapshot() for n in ("acct-1", "mkt-BTCUSDT", "ctl"))
    bad = [
        b"",
        b"not json",
        b"[]",
        b"null",
        acct[: len(acct) // 2],
        _edit(acct, lambda d: d.update(version=2)),
        _edit(acct, lambda d: d.update(name="ctl")),  # an accounts state under a control name
        _edit(mkt, lambda d: d.update(name="acct-0")),
        _edit(acct, lambda d: d.update(name="bogus")),
        _edit(acct, lambda d: d.pop("state")),
        _edit(acct, lambda d: d.pop("received")),
        _edit(acct, lambda d: d.update(last_seq="x")),
        _edit(acct, lambda d: d.update(sent=[1, 2])),
        _edit(acct, lambda d: d["state"]["accounts"].update(balances="x")),
        _edit(acct, lambda d: d["state"]["accounts"].update(version=7)),
        _edit(mkt, lambda d: d["state"].update(held=[[1, "acct-2", 3]])),
        _edit(ctl, lambda d: d["state"]["users"].pop("next_id")),
    ]
    for data in bad:
        with pytest.raises(AccountsError):
            restore_shard(data)


def test_a_corrupt_engine_in_a_market_snapshot_is_refused_as_corrupt() -> None:
    # ShardHost.load skips a snapshot that raises AccountsError and tries an older one; an
    # EngineError (a RuntimeError) from MatchingEngine.restore would stop the host instead.
    data = traded_venue().c.shard("mkt-BTCUSDT").snapshot()
    with pytest.raises(AccountsError):
        restore_shard(_edit(data, lambda d: d["state"]["engine"].update(asks=[["x"]])))


# --- the shards agree with the embedded exchange -----------------------------------

P_INSTRUMENTS = (
    Instrument("BTCUSDT", "BTC", "USDT", "0.01", "0.0001", maker_fee="0.001", taker_fee="0.002"),
    ETHBTC,
)
P_USERS = (1, 2, 3, 4, 5, 6)  # two on each accounts shard
MID = {"BTCUSDT": 3_000_000, "ETHBTC": 5_000}
DEPOSIT_MAX = {"BTC": 400_000, "USDT": 120 * 10**6, "ETH": 4 * 10**17}
ORDER_KINDS = (
    *["limit"] * 6,
    *["take"] * 3,  # a limit order priced through the best opposite price
    *["limit_maker"] * 2,
    *["market_qty"] * 2,
    *["market_quote"] * 2,
    OrderType.STOP_LOSS,
    OrderType.STOP_LOSS_LIMIT,
    OrderType.TAKE_PROFIT,
    OrderType.TAKE_PROFIT_LIMIT,
)


def weighted(*choices: tuple[st.SearchStrategy[Any], int]) -> st.SearchStrategy[Any]:
    """One of the strategies, picked with the given weights (shrinks towards the first)."""
    branches = [strategy for strategy, weight in choices for _ in range(weight)]
    return st.integers(0, len(branches) - 1).flatmap(lambda i: branches[i])


p_user = st.sampled_from(P_USERS)
p_symbol = st.sampled_from(SYMBOLS)
p_place = st.tuples(
    st.just("place"),
    p_user,
    p_symbol,
    st.sampled_from([BUY, SELL]),
    st.sampled_from(ORDER_KINDS),
    st.integers(-3, 3),  # price offset from the mid (ticks)
    weighted((st.integers(1, 12), 12), (st.integers(13, 40), 3), (st.just(0), 1)),  # lots
    st.integers(1, 30),  # quote amount in lots at the mid
    st.sampled_from([GTC] * 4 + [IOC, FOK]),
    st.sampled_from([None] * 6 + list(SelfTradePrevention)),
    st.sampled_from([""] * 5 + ["a", "b"]),
)
p_deposit = st.tuples(st.just("deposit"), p_user, st.sampled_from(ASSETS), st.integers(1, 10**9))
p_cancel = st.tuples(st.just("cancel"), st.integers(0, 1000), st.sampled_from([True] * 5 + [False]))
p_amend = st.tuples(
    st.just("amend"),
    st.integers(0, 1000),
    st.sampled_from([True] * 5 + [False]),
    st.one_of(st.none(), st.integers(-6, 6)),
    st.one_of(st.none(), st.integers(1, 40)),
)


p_template = weighted(
    (p_place, 12),
    (p_deposit, 2),
    (p_cancel, 3),
    (p_amend, 3),
    (st.tuples(st.just("cancel_all"), p_user, p_symbol), 1),
    (st.tuples(st.just("status"), p_symbol, st.sampled_from([True, False, False])), 1),
    (st.tuples(st.just("resume"), p_symbol), 2),
)


def pick_order(ex: Exchange, k: int) -> tuple[str, Any] | None:
    """The k-th open order over both markets (by symbol, then id), or None."""
    found = [(s, ex.engines[s].orders[o]) for s in SYMBOLS for o in sorted(ex.engines[s].orders)]
    return found[k % len(found)] if found else None


def concretize(ex: Exchange, t: tuple[Any, ...]) -> rq.Request:
    kind = t[0]
    if kind == "deposit":
        _, user, asset, raw = t
        return rq.Deposit(user, asset.symbol, 1 + raw % DEPOSIT_MAX[asset.symbol])
    if kind == "cancel_all":
        return rq.CancelAllOrders(t[1], t[2])
    if kind == "status":
        return rq.SetMarketStatus(t[1], MarketStatus.HALT if t[2] else MarketStatus.TRADING)
    if kind == "resume":
        return rq.ResumeMarket(t[1])
    if kind in ("cancel", "amend"):
        found = pick_order(ex, t[1])
        if found is None:
            return rq.CancelOrder(P_USERS[t[1] % 6], SYMBOLS[t[1] % 2], 1 + t[1] % 5)
        symbol, o = found
        user = o.user_id if t[2] else P_USERS[(P_USERS.index(o.user_id) + 1) % 6]
        if kind == "cancel":
            return rq.CancelOrder(user, symbol, o.order_id)
        price = 0 if t[3] is None else max(1, (o.price or MID[symbol]) + t[3])
        return rq.AmendOrder(user, symbol, o.order_id, price, t[4] or 0)
    _, user, symbol, side, okind, p_off, qty, q_lots, tif, stp, cid = t
    engine = ex.engines[symbol]
    mid = MID[symbol]
    kw: dict[str, Any] = {"client_order_id": cid, "stp": stp}
    if okind == "limit":
        return rq.NewOrder(user, symbol, side, LIMIT, qty, mid + p_off, tif, **kw)
    if okind == "take":
        best = (engine.asks if side is BUY else engine.bids).best() or mid
        price = max(1, best + abs(p_off) if side is BUY else best - abs(p_off))
        return rq.NewOrder(user, symbol, side, LIMIT, qty, price, tif, **kw)
    if okind == "limit_maker":
        return rq.NewOrder(user, symbol, side, LIMIT_MAKER, qty, mid + p_off, **kw)
    if okind == "market_qty":
        return rq.NewOrder(user, symbol, side, MARKET, qty, **kw)
    if okind == "market_quote":
        return rq.NewOrder(user, symbol, side, MARKET, 0, quote_qty=q_lots * mid + p_off, **kw)
    stop = max(1, (engine.last_price or mid) + p_off)
    price = stop + 1 if okind in LIMIT_PRICED_TYPES else 0
    return rq.NewOrder(user, symbol, side, okind, qty, price, tif, stop_price=stop, **kw)


def engine_events(out: Outcome) -> list[Any]:
    """The engine's events of an answer, without the seq (each shard numbers its own)."""
    return [
        e._replace(seq=0) if "seq" in e._fields else e for e in out.events if type(e) is not Posting
    ]


def order_rows(orders: dict[int, Any]) -> list[tuple[Any, ...]]:
    return sorted(
        tuple(v for k, v in zip(ROW, o.to_row(), strict=True) if k != "seq")
        for o in orders.values()
    )


ROW = (
    "order_id",
    "user_id",
    "client_order_id",
    "side",
    "order_type",
    "tif",
    "price",
    "qty",
    "quote_qty",
    "stop_price",
    "stp",
    "seq",
    "ts",
    "remaining",
    "filled",
    "filled_quote",
    "status",
    "cap",
)


def check_same_state(ex: Exchange, c: ShardCluster) -> None:
    for user in P_USERS:
        for a in ASSETS:
            got, want = c.balance(user, a.symbol), ex.shard(user).balance(user, a.symbol)
            assert got == want, (user, a.symbol, "shards", got, "embedded", want)
    for i, s in enumerate(c.accounts_shards()):
        mine, theirs = s.accounts, ex.accounts[i]
        assert {k: v for k, v in mine.system.items() if v} == {
            k: v for k, v in theirs.system.items() if v
        }, s.name

        def holds(acc: Any) -> list[tuple[Any, ...]]:
            return sorted(
                (h.user_id, h.symbol, h.side, h.asset, h.amount, h.price)
                for h in acc.holds.values()
            )

        assert holds(mine) == holds(theirs), s.name
    assert {m.symbol for m in c.markets() if m.engine is not None} == set(ex.engines)
    for symbol, e in sorted(ex.engines.items()):
        m = c.market(symbol).engine
        assert m is not None
        assert order_rows(m.orders) == order_rows(e.orders), symbol
        for user in P_USERS:
            assert [o.order_id for o in m.open_orders(user)] == [
                o.order_id for o in e.open_orders(user)
            ]
        assert m.depth() == e.depth(), symbol
        assert (m.status, m.last_price, m.next_order_id, m.next_trade_id) == (
            e.status,
            e.last_price,
            e.next_order_id,
            e.next_trade_id,
        ), symbol
        assert (m.risk, m.halted_until) == (e.risk, e.halted_until), symbol


class Twin:
    """The same requests to an embedded Exchange (seq 1, 2, ...) and to a ShardCluster."""

    def __init__(self, notes: bool = False) -> None:
        self.ex = Exchange(shards=SHARDS)
        self.c = ShardCluster(SHARDS)
        self.n = 0
        self.notes = notes  # hypothesis notes: every request and both answers

    def both(self, r: rq.Request) -> tuple[Outcome, Outcome]:
        """``(embedded, shards)`` answers to ``r``, the same ts to both."""
        self.n += 1
        ts = 10_000 + self.n
        return self.ex.apply(self.n, ts, r), self.c.request(r, ts)

    def setup(self, funding: list[int]) -> None:
        """Users 1-6 (created in both), the assets and markets, and ``funding[3 * i + j]``
        times DEPOSIT_MAX of asset j for user i + 1."""
        for user in P_USERS:
            assert self.apply(rq.CreateUser(f"user{user}@example.com", "h")).user_id == user
        for a in ASSETS:
            self.apply(rq.AddAsset(a.symbol, a.decimals))
        for ins in P_INSTRUMENTS:
            self.apply(rq.AddMarket(spec(ins)))
        # ETHBTC (mid 5000 ticks) with a band of 3 ticks and a breaker of 1 tick within 20
        # requests (1 ms each), cooling 10: random orders trip both now and then.
        self.apply(rq.SetMarketRisk("ETHBTC", 6, 2, 20, 10))
        for i, user in enumerate(P_USERS):
            for j, a in enumerate(ASSETS):
                if funding[3 * i + j]:
                    amount = funding[3 * i + j] * DEPOSIT_MAX[a.symbol]
                    self.apply(rq.Deposit(user, a.symbol, amount))

    def apply(self, r: rq.Request) -> Outcome:
        """Both answers, which must agree, and the same state after them."""
        want, got = self.both(r)
        ts = want.ts
        if self.notes:
            note(f"#{self.n} {r!r}")
            note(
                f"    embedded: {want.reject} {want.order_id}; shards: {got.reject} {got.order_id}"
            )
        if want.reject in BOOK_CHECKS and got.reject is Reject.INSUFFICIENT_BALANCE:
            return got  # by design: the shards check funds before the book (docs/cluster.md)
        assert got.reject == want.reject, (r, "shards", got.reject, "embedded", want.reject)
        assert (got.order_id, got.user_id, got.symbol) == (
            want.order_id,
            want.user_id,
            want.symbol,
        ), r
        got_events, want_events = engine_events(got), engine_events(want)
        if type(r) is rq.NewOrder and want.reject is not None:
            # A refused order emits nothing, or (from the market's engine: the shards hold
            # before they ask the book) just its OrderRejected.
            refused = OrderRejected(0, ts, r.user_id, 0, r.client_order_id, want.reject)
            assert want_events in ([], [refused]) and got_events in ([], [refused]), r
        else:
            assert got_events == want_events, r
        check_same_state(self.ex, self.c)
        check_books(self.c)
        return got


# About 12 s when it passes; on a failure Hypothesis shrinks for minutes: let it finish.
@pytest.mark.timeout(900)
@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    funding=st.lists(st.sampled_from([2, 1, 3, 0]), min_size=18, max_size=18),
    templates=st.lists(p_template, min_size=30, max_size=100),
)
def test_the_shards_do_what_the_embedded_exchange_does(
    funding: list[int], templates: list[tuple[Any, ...]]
) -> None:
    t = Twin(notes=True)
    t.setup(funding)
    for template in templates:
        t.apply(concretize(t.ex, template))


# Found by the property test above: where the embedded exchange and the shards disagree on
# why a request is refused (each scenario starts from Twin.setup with FUNDED).
FUNDED = [1, 1, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]  # user 1: all; user 2: USDT
BOOK_CHECKS = frozenset(
    {
        Reject.MARKET_CLOSED,
        Reject.PERCENT_PRICE_BY_SIDE,
        Reject.DUPLICATE_ORDER,
        Reject.WOULD_TAKE,
        Reject.WOULD_TRIGGER_IMMEDIATELY,
    }
)
HALT_BTCUSDT = rq.SetMarketStatus("BTCUSDT", MarketStatus.HALT)
STOP_BUY = rq.NewOrder(1, "BTCUSDT", BUY, OrderType.STOP_LOSS, 5, stop_price=3_100_000)


@pytest.mark.parametrize(
    "requests",
    [
        # A new order to a halted market that breaks a filter: the filter, in both.
        [HALT_BTCUSDT, rq.NewOrder(1, "BTCUSDT", BUY, LIMIT, 0, 3_000_000)],
        # Amending a pending STOP_LOSS buy (held by amount, no hold price): a limit price ...
        [STOP_BUY, rq.AmendOrder(1, "BTCUSDT", 1, 3_000_000, 0)],
        # ... or a larger quantity.
        [STOP_BUY, rq.AmendOrder(1, "BTCUSDT", 1, 0, 6)],
        [STOP_BUY, HALT_BTCUSDT, rq.AmendOrder(1, "BTCUSDT", 1, 0, 6)],
    ],
    ids=["halted+LOT_SIZE", "amend-stop-buy-price", "amend-stop-buy-qty", "amend-stop-buy-halted"],
)
def test_the_shards_refuse_for_the_same_reason_as_the_embedded_exchange(
    requests: list[rq.Request],
) -> None:
    t = Twin()
    t.setup(FUNDED)
    for r in requests[:-1]:
        t.apply(r)
    want, got = t.both(requests[-1])
    assert want.reject is not None
    assert got.reject == want.reject, f"embedded: {want.reject}, shards: {got.reject}"


@pytest.mark.parametrize(
    "requests",
    [
        [HALT_BTCUSDT, rq.NewOrder(3, "BTCUSDT", BUY, LIMIT, 1, 3_000_000)],
        [
            rq.NewOrder(1, "BTCUSDT", SELL, LIMIT, 1, 3_000_000),
            rq.NewOrder(3, "BTCUSDT", BUY, LIMIT_MAKER, 1, 3_000_000),
        ],
        [
            rq.NewOrder(2, "BTCUSDT", BUY, LIMIT, 1, 3_000_000, client_order_id="a"),
            rq.NewOrder(2, "BTCUSDT", BUY, LIMIT, 100, 3_000_000, client_order_id="a"),
        ],
        [
            rq.NewOrder(1, "BTCUSDT", SELL, LIMIT, 1, 3_000_000),
            rq.NewOrder(2, "BTCUSDT", BUY, LIMIT, 1, 3_000_000),
            rq.NewOrder(3, "BTCUSDT", SELL, OrderType.STOP_LOSS, 1, stop_price=3_000_001),
        ],
    ],
    ids=["halted", "post-only-crossing", "duplicate-cid", "would-trigger"],
)
def test_without_the_book_the_shards_check_funds_first(requests: list[rq.Request]) -> None:
    """An unfunded order that a book check would refuse: the accounts shard, which has no
    book, refuses it for its funds (documented in docs/cluster.md); nothing is held."""
    t = Twin()
    t.setup(FUNDED)
    for r in requests[:-1]:
        t.apply(r)
    want, got = t.both(requests[-1])
    assert want.reject in BOOK_CHECKS
    assert got.reject is Reject.INSUFFICIENT_BALANCE
    check_same_state(t.ex, t.c)


# --- codec: shard journals and bus messages ----------------------------------------

BIG = 10**30  # beyond 64 bits: written with the standard library ("J" records)
MESSAGES: list[Any] = [
    rq.NewOrder(
        7,
        "BTCUSDT",
        SELL,
        OrderType.STOP_LOSS_LIMIT,
        5,
        100,
        IOC,
        0,
        90,
        "cid-1",
        SelfTradePrevention.EXPIRE_BOTH,
    ),
    rq.NewOrder(7, "BTCUSDT", BUY, MARKET, quote_qty=BIG),
    rq.CancelOrder(7, "BTCUSDT", 3, "c"),
    rq.CancelAllOrders(7, "BTCUSDT"),
    rq.AmendOrder(7, "BTCUSDT", 3, 101, 4),
    rq.Deposit(7, "ETH", BIG + 1),
    rq.Adjust(7, "ETH", -BIG, "refund"),
    rq.AddAsset("ETH", 18),
    rq.AddMarket.of(ETHBTC),
    rq.SetMarketStatus("BTCUSDT", MarketStatus.HALT),
    rq.SetMarketStatus("BTCUSDT", MarketStatus.BREAK),
    rq.SetMarketRisk("ETHBTC", 500, 1000, 60_000, 30_000),
    rq.ResumeMarket("ETHBTC"),
    rq.CreateUser("a@b.c", "$argon2id$v=19$..."),
    Place(7, "BTCUSDT", BUY, LIMIT, 5, 3_000_000, FOK, 0, 0, "x", None, 12, 0, 3_000_000, 5),
    Place(
        8,
        "ETHBTC",
        SELL,
        OrderType.TAKE_PROFIT,
        0,
        0,
        GTC,
        0,
        4_000,
        "",
        SelfTradePrevention.NONE,
        2**64,
        BIG,
        0,
        0,
    ),
    Settle("BTCUSDT", 41, 12, BUY, True, 3_000_000, 5),
    Settle("ETHBTC", 2**70, 9, SELL, False, 5_000, BIG),
    Release("BTCUSDT", 12),
]


def same_types(got: Any, want: Any) -> None:
    assert type(got) is type(want)
    for g, w in zip(got, want, strict=True):
        assert type(g) is type(w), (g, w)


@pytest.mark.parametrize("msg", MESSAGES, ids=lambda m: type(m).__name__)
def test_shard_records_round_trip(msg: Any) -> None:
    for i in (
        Input(41, 1_700_000_000_123, 9, "", 0, "rid-1", "_INBOX.abc", msg),
        Input(42, 1_700_000_000_124, 0, "acct-2", 2**40, "", "", msg),
    ):
        back = decode_input(encode_input(i))
        assert back == i
        same_types(back, i)
        same_types(back.msg, msg)
    for number, rid, reply in ((0, "rid-1", "_INBOX.abc"), (17, "", "")):
        got = decode_message(encode_message(msg, number, rid, reply))
        assert got == (number, rid, reply, msg)
        same_types(got[3], msg)
    assert decode_message(encode_message(msg)) == (0, "", "", msg)


def test_amounts_beyond_64_bits_use_the_exact_encoding() -> None:
    deposit = rq.Deposit(1, "ETH", 2**64)
    assert encode_message(deposit).startswith(b"J")
    assert not encode_message(rq.Deposit(1, "ETH", 2**63 - 1)).startswith(b"J")
    assert decode_message(encode_message(deposit))[3].amount == 2**64
    settle = Settle("ETHBTC", 1, 1, BUY, False, 1, 2**64 + 3)
    record = Input(1, 1, 1, "mkt-ETHBTC", 1, "", "", settle)
    assert encode_input(record).startswith(b"J")
    assert decode_input(encode_input(record)).msg.qty == 2**64 + 3


def test_the_request_journal_refuses_messages_between_shards() -> None:
    for msg in MESSAGES[-5:]:
        with pytest.raises(CodecError):
            decode(encode(1, 2, msg))


def _json(*fields: Any) -> bytes:
    return json.dumps(fields).encode()


HEAD = (1, 2, 3, "acct-0", 1, "", "")  # seq, ts, inbox_seq, source, number, rid, reply
PLACE_HEAD = (11, 1, "BTCUSDT", "BUY", "LIMIT", 1, 1, "GTC", 0, 0, "", None)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"garbage",
        b"J",
        b"J[1,",
        b"[]",
        b"{}",
        b"null",
        b"5",
        _json(1, 2, 3, "", 0, "", ""),  # no message
        _json(1, 2, 3, 4, 0, "", "", 13, "BTCUSDT", 1),  # source not a string
        _json(1.5, 2, 3, "", 0, "", "", 13, "BTCUSDT", 1),
        _json(1, "2", 3, "", 0, "", "", 13, "BTCUSDT", 1),
        _json(1, 2, None, "", 0, "", "", 13, "BTCUSDT", 1),
        _json(True, 2, 3, "", 0, "", "", 13, "BTCUSDT", 1),
    ],
)
def test_a_garbled_journal_record_is_refused(data: bytes) -> None:
    with pytest.raises(CodecError):
        decode_input(data)


@pytest.mark.parametrize(
    "body",
    [
        (1, "", "", 99, "BTCUSDT", 1),  # unknown tag
        (1, "", "", 0),
        (1, "", "", "13", "BTCUSDT", 1),  # a tag that is not an int
        (True, "", "", 13, "BTCUSDT", 1),  # a bool is not a number
        (1, None, "", 13, "BTCUSDT", 1),
        (1, "", 5, 13, "BTCUSDT", 1),
        (1, "", "", 13, "BTCUSDT", "1"),  # Release with a string hold id
        (1, "", "", 13, "BTCUSDT"),
        (1, "", "", 13, "BTCUSDT", 1, 2),
        (1, "", "", 12, "BTCUSDT", 1, 1, "BUY", 1, 1, 1),  # is_maker 1, not a bool
        (1, "", "", 12, "BTCUSDT", 1, 1, "UP", True, 1, 1),
        (1, "", "", 12, "BTCUSDT", 1, 1, "BUY", True, 1),
        (1, "", "", 12, "BTCUSDT", 1, 1, "BUY", True, 1.0, 1),
        (1, "", "", *PLACE_HEAD, 1, 0, 1),  # Place without held_qty
        (1, "", "", *PLACE_HEAD, 1, 0, 1, 1.0),
        (1, "", "", *PLACE_HEAD, 1, 0, 1, 1, 1),
        (1, "", "", *PLACE_HEAD[:-1], "SOMETIMES", 1, 0, 1, 1),  # unknown STP mode
        (1, "", "", 2, 1, "BTCUSDT", 3),  # CancelOrder short of a field
        (1, "", "", 8, "not a spec"),
    ],
)
def test_a_garbled_message_is_refused(body: tuple[Any, ...]) -> None:
    with pytest.raises(CodecError):
        decode_message(_json(*body))
    with pytest.raises(CodecError):
        decode_input(_json(*HEAD[:4], *body))
