"""Property test: random request sequences through :class:`rialto.domain.exchange.Exchange`.

Random deposits, adjustments, orders of every type (LIMIT GTC/IOC/FOK, LIMIT_MAKER, MARKET by
quantity, by quote amount or both, the four stop types) with random self-trade prevention and
client ids, cancels (by id and by client id, sometimes of another user's order), cancel-all,
amends and halts/resumes, for 5 users on 2-3 accounts shards and three markets (BTCUSDT, ETHBTC
and ETHUSDT: BTC 8, USDT 6, ETH 18 decimals). Prices sit a few ticks around one mid so that orders
cross often; balances are small so that many orders are refused for lack of funds.

After every request:

* every posting of the Outcome is balanced, and the postings add up to exactly the balance
  changes the request made (over all shards);
* every shard's ``totals()`` is all zeros, the hot wallets hold exactly what was deposited;
* no free or locked balance is negative, and each user's balances live on the user's shard;
* each user's locked amount per asset is the sum of the user's open holds in it;
* the open engine orders (resting and pending stops) are exactly the keys of
  ``exchange.order_holds``, every hold id there is an open hold of the order's user, symbol and
  side, and every open hold of every shard is one of them; each hold still covers its order;
* the clearing accounts net to zero over the shards: both sides of every trade settled in the
  request that made it;
* a refused request changes no balance, hold or order (a refused NewOrder emits nothing).

And replay determinism: restoring the snapshot taken at a random point
(``Exchange.restore(ex.snapshot())``) and applying the rest of the requests gives the same
Outcomes and the same final ``state_hash()`` as the straight run.
"""

from __future__ import annotations

from collections import Counter
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rialto.domain import requests as rq
from rialto.domain.assets import Asset
from rialto.domain.events import OrderAccepted, OrderRejected, OrderUpdate, Trade
from rialto.domain.exchange import Exchange, Outcome
from rialto.domain.instruments import Instrument
from rialto.domain.orders import (
    FINAL_STATUSES,
    LIMIT_PRICED_TYPES,
    STOP_TYPES,
    MarketStatus,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from rialto.domain.postings import AccountKind, Posting, imbalance

BUY, SELL = Side.BUY, Side.SELL
UNPRICED = (OrderType.MARKET, OrderType.STOP_LOSS, OrderType.TAKE_PROFIT)
ASSETS = (Asset("BTC", 8), Asset("USDT", 6), Asset("ETH", 18))
INSTRUMENTS = (
    Instrument("BTCUSDT", "BTC", "USDT", "0.01", "0.0001", maker_fee="0.001", taker_fee="0.002"),
    Instrument("ETHBTC", "ETH", "BTC", "0.00001", "0.001"),
    # Not in the brief's setup: a market whose notional unit is 100 quote minor units (the
    # two above have 1), so that mixing up notional units and minor units shows.
    Instrument("ETHUSDT", "ETH", "USDT", "0.01", "0.01", maker_fee="0.0005", taker_fee="0.001"),
)
SYMBOLS = tuple(i.symbol for i in INSTRUMENTS)
MID = {"BTCUSDT": 3_000_000, "ETHBTC": 5_000, "ETHUSDT": 2_000}  # 30000, 0.05, 20 (ticks)
# The largest single deposit per asset: about 40 lots' worth in each market (80 of ETHBTC's
# lots in BTC, 400 of its lots in ETH).
DEPOSIT_MAX = {"BTC": 400_000, "USDT": 120 * 10**6, "ETH": 4 * 10**17}
USERS = (1, 2, 3, 4, 5)

ORDER_KINDS = (
    *["limit"] * 6,
    *["take"] * 3,  # a limit order priced through the best opposite price
    "limit_maker",
    *["market_qty"] * 2,
    *["market_quote"] * 2,
    "market_both",
    OrderType.STOP_LOSS,
    OrderType.STOP_LOSS_LIMIT,
    OrderType.TAKE_PROFIT,
    OrderType.TAKE_PROFIT_LIMIT,
)

user_st = st.sampled_from(USERS)
symbol_st = st.sampled_from(SYMBOLS)
side_st = st.sampled_from([BUY, SELL])


def weighted(*choices: tuple[st.SearchStrategy[Any], int]) -> st.SearchStrategy[Any]:
    """Pick one of the strategies with the given weights (shrinks towards the first)."""
    branches = [strategy for strategy, weight in choices for _ in range(weight)]
    return st.integers(0, len(branches) - 1).flatmap(lambda i: branches[i])


# Mostly small sizes, now and then a large one or 0 (LOT_SIZE / MARKET_LOT_SIZE).
qty_st = weighted((st.integers(1, 12), 12), (st.integers(13, 40), 3), (st.just(0), 1))

place_st = st.tuples(
    st.just("place"),
    user_st,
    symbol_st,
    side_st,
    st.sampled_from(ORDER_KINDS),
    st.integers(-3, 3),  # price offset from the mid (ticks)
    qty_st,
    st.integers(1, 30),  # quote amount in lots at the mid ...
    st.integers(0, 5_000),  # ... plus some notional units
    st.integers(-5, 5),  # stop offset from the last price (ticks)
    st.sampled_from([TimeInForce.GTC] * 4 + [TimeInForce.IOC, TimeInForce.FOK]),
    st.sampled_from([None] * 6 + list(SelfTradePrevention)),
    st.sampled_from([""] * 5 + ["a", "b"]),
)
deposit_st = st.tuples(st.just("deposit"), user_st, st.sampled_from(ASSETS), st.integers(1, 10**9))
adjust_st = st.tuples(
    st.just("adjust"), user_st, st.sampled_from(ASSETS), st.integers(-(10**9), 10**9)
)
cancel_st = st.tuples(
    st.just("cancel"),
    st.integers(0, 1000),  # which open order
    st.sampled_from([True] * 5 + [False]),  # sent by its owner
    st.booleans(),  # by client order id when it has one
)
cancel_all_st = st.tuples(st.just("cancel_all"), user_st, symbol_st)
amend_st = st.tuples(
    st.just("amend"),
    st.integers(0, 1000),
    st.sampled_from([True] * 5 + [False]),
    st.one_of(st.none(), st.integers(-6, 6)),
    st.one_of(st.none(), st.integers(1, 40)),
)
status_st = st.tuples(st.just("status"), symbol_st, st.sampled_from([True, False, False]))

template_st = weighted(
    (place_st, 12),
    (deposit_st, 2),
    (cancel_st, 3),
    (amend_st, 3),
    (cancel_all_st, 1),
    (adjust_st, 1),
    (status_st, 1),
)


def spec(ins: Instrument) -> tuple[tuple[str, object], ...]:
    return tuple(sorted(ins.to_dict().items()))


def deposit_amount(asset: Asset, raw: int) -> int:
    return 1 + raw % DEPOSIT_MAX[asset.symbol]


def pick_order(ex: Exchange, k: int) -> tuple[str, Any] | None:
    """The k-th open order over all markets (by symbol, then order id), or None."""
    open_orders = [
        (s, ex.engines[s].orders[oid]) for s in SYMBOLS for oid in sorted(ex.engines[s].orders)
    ]
    if not open_orders:
        return None
    return open_orders[k % len(open_orders)]


def other_user(user: int) -> int:
    return USERS[(USERS.index(user) + 1) % len(USERS)]


def concretize(ex: Exchange, t: tuple[Any, ...]) -> Any:
    """Turn a template into a request against the exchange's current state."""
    kind = t[0]
    if kind == "deposit":
        _, user, asset, raw = t
        return rq.Deposit(user, asset.symbol, deposit_amount(asset, raw))
    if kind == "adjust":
        _, user, asset, raw = t
        amount = raw % (DEPOSIT_MAX[asset.symbol] // 2) * (1 if raw >= 0 else -1)
        return rq.Adjust(user, asset.symbol, amount, "operator correction")
    if kind == "cancel_all":
        return rq.CancelAllOrders(t[1], t[2])
    if kind == "status":
        return rq.SetMarketStatus(t[1], MarketStatus.HALT if t[2] else MarketStatus.TRADING)
    if kind == "cancel":
        _, k, by_owner, by_cid = t
        found = pick_order(ex, k)
        if found is None:
            return rq.CancelOrder(USERS[k % len(USERS)], SYMBOLS[k % len(SYMBOLS)], 1 + k % 5)
        symbol, o = found
        user = o.user_id if by_owner else other_user(o.user_id)
        if by_cid and o.client_order_id:
            return rq.CancelOrder(user, symbol, 0, o.client_order_id)
        return rq.CancelOrder(user, symbol, o.order_id)
    if kind == "amend":
        _, k, by_owner, price_off, qty = t
        found = pick_order(ex, k)
        if found is None:
            return rq.AmendOrder(USERS[k % len(USERS)], SYMBOLS[k % len(SYMBOLS)], 1 + k % 5, 0, 5)
        symbol, o = found
        user = o.user_id if by_owner else other_user(o.user_id)
        price = 0 if price_off is None else max(1, (o.price or MID[symbol]) + price_off)
        return rq.AmendOrder(user, symbol, o.order_id, price, qty or 0)
    assert kind == "place", t
    _, user, symbol, side, okind, p_off, qty, q_lots, q_extra, s_off, tif, stp, cid = t
    mid = MID[symbol]
    price = mid + p_off
    quote = q_lots * mid + q_extra
    last = ex.engines[symbol].last_price or mid
    common: dict[str, Any] = {"client_order_id": cid, "stp": stp}
    if okind == "limit":
        return rq.NewOrder(user, symbol, side, OrderType.LIMIT, qty, price, tif, **common)
    if okind == "take":
        book = ex.engines[symbol].asks if side is BUY else ex.engines[symbol].bids
        best = book.best() or mid
        price = max(1, best + abs(p_off) if side is BUY else best - abs(p_off))
        return rq.NewOrder(user, symbol, side, OrderType.LIMIT, qty, price, tif, **common)
    if okind == "limit_maker":
        return rq.NewOrder(user, symbol, side, OrderType.LIMIT_MAKER, qty, price, **common)
    if okind == "market_qty":
        return rq.NewOrder(user, symbol, side, OrderType.MARKET, qty, **common)
    if okind == "market_quote":
        return rq.NewOrder(user, symbol, side, OrderType.MARKET, 0, quote_qty=quote, **common)
    if okind == "market_both":
        return rq.NewOrder(user, symbol, side, OrderType.MARKET, qty, quote_qty=quote, **common)
    stop = max(1, last + s_off)
    limit_price = stop + p_off if okind in LIMIT_PRICED_TYPES else 0
    return rq.NewOrder(
        user, symbol, side, okind, qty, max(0, limit_price), tif, stop_price=stop, **common
    )


# --- checks --------------------------------------------------------------------

Key = tuple[AccountKind, int, str]


def ledger(ex: Exchange) -> Counter[Key]:
    out: Counter[Key] = Counter()
    for acc in ex.accounts:
        for user, per in acc.balances.items():
            for asset, (free, locked) in per.items():
                out[(AccountKind.FREE, user, asset)] += free
                out[(AccountKind.LOCKED, user, asset)] += locked
        for (kind, asset), amount in acc.system.items():
            out[(kind, 0, asset)] += amount
    return out


def nonzero(c: Counter[Key]) -> dict[Key, int]:
    return {k: v for k, v in c.items() if v}


def fingerprint(ex: Exchange) -> tuple[Any, ...]:
    """What a refused request must leave alone: balances, holds, idempotency marks, order holds
    and every engine's orders and counters (not the seqs: a refusal still takes its seq)."""
    accounts = [
        (
            sorted((u, a, f, lk) for u, per in acc.balances.items() for a, (f, lk) in per.items()),
            sorted((k, v) for k, v in acc.system.items() if v),
            sorted(
                (hid, h.user_id, h.symbol, h.side, h.amount, h.price)
                for hid, h in acc.holds.items()
            ),
            sorted(acc.high.items()),
        )
        for acc in ex.accounts
    ]
    engines = [
        (
            s,
            e.status,
            e.next_order_id,
            e.next_trade_id,
            e.update_id,
            e.last_price,
            sorted((o.order_id, o.price, o.qty, o.remaining, o.filled) for o in e.orders.values()),
        )
        for s, e in sorted(ex.engines.items())
    ]
    holds = sorted((s, o, h) for s, m in ex.order_holds.items() for o, h in m.items())
    return accounts, engines, holds


def fee(amount: int, rate: str) -> int:
    """``ceil(amount x rate)`` (no rebates on these markets)."""
    return -(-amount * Fraction(rate).numerator // Fraction(rate).denominator)


def check_trade_postings(ex: Exchange, symbol: str, t: Trade, buy: Any, sell: Any) -> None:
    """The two postings right after a trade settle its buyer and seller side exactly: the base
    and quote through clearing, each user's fee by role (maker/taker) in the asset received."""
    assert type(buy) is Posting and type(sell) is Posting, (t, buy, sell)
    assert (buy.ref, sell.ref) == (f"{symbol}:{t.trade_id}:BUY", f"{symbol}:{t.trade_id}:SELL")
    terms = ex.accounts[0].markets[symbol]
    ins = terms.instrument
    base, quote = terms.base.symbol, terms.quote.symbol
    base_amt, quote_amt = t.qty * terms.base_per_lot, t.qty * t.price * terms.quote_per_unit
    buyer_is_maker = t.taker_side is SELL
    buyer, seller = (
        (t.maker_user_id, t.taker_user_id) if buyer_is_maker else (t.taker_user_id, t.maker_user_id)
    )
    buyer_fee = fee(base_amt, ins.maker_fee if buyer_is_maker else ins.taker_fee)
    seller_fee = fee(quote_amt, ins.taker_fee if buyer_is_maker else ins.maker_fee)

    def legs(p: Posting) -> Counter[Key]:
        out: Counter[Key] = Counter()
        for leg in p.legs:
            out[(leg.account, leg.user_id, leg.asset)] += leg.amount
        return out

    b, s = legs(buy), legs(sell)
    assert b[(AccountKind.CLEARING, 0, quote)] == quote_amt
    assert b[(AccountKind.CLEARING, 0, base)] == -base_amt
    assert b[(AccountKind.FREE, buyer, base)] == base_amt - buyer_fee
    assert b[(AccountKind.FEES, 0, base)] == buyer_fee
    assert s[(AccountKind.CLEARING, 0, base)] == base_amt
    assert s[(AccountKind.CLEARING, 0, quote)] == -quote_amt
    assert s[(AccountKind.FREE, seller, quote)] == quote_amt - seller_fee
    assert s[(AccountKind.FEES, 0, quote)] == seller_fee
    assert s[(AccountKind.LOCKED, seller, base)] == -base_amt
    # The buyer's locked quote pays the trade; what was held above the trade price goes back.
    assert -b[(AccountKind.LOCKED, buyer, quote)] - b[(AccountKind.FREE, buyer, quote)] == quote_amt


def check_state(ex: Exchange, deposited: Counter[str]) -> None:
    n = len(ex.accounts)
    clearing: Counter[str] = Counter()
    hot: Counter[str] = Counter()
    for i, acc in enumerate(ex.accounts):
        assert set(acc.totals().values()) <= {0}, (i, acc.totals())
        held: Counter[tuple[int, str]] = Counter()
        for h in acc.holds.values():
            assert h.amount >= 0, h
            assert h.user_id % n == i
            held[(h.user_id, h.asset)] += h.amount
        for user, per in acc.balances.items():
            assert user % n == i, f"user {user} has balances on shard {i}"
            for asset, (free, locked) in per.items():
                assert free >= 0 and locked >= 0, (user, asset, free, locked)
                assert locked == held[(user, asset)], (user, asset, locked, held)
        for key in held:
            assert key[0] in acc.balances and key[1] in acc.balances[key[0]], key
        for (kind, asset), amount in acc.system.items():
            if kind is AccountKind.CLEARING:
                clearing[asset] += amount
            elif kind is AccountKind.HOT_WALLET:
                hot[asset] += amount
            elif kind is AccountKind.FEES:
                assert amount >= 0, (asset, amount)  # no rebates on these markets
    assert set(clearing.values()) <= {0}, f"a trade was settled on one side only: {clearing}"
    assert {a: v for a, v in hot.items() if v} == {a: v for a, v in deposited.items() if v}

    order_holds = {(s, hid) for s, m in ex.order_holds.items() for hid in m.values()}
    assert len(order_holds) == sum(len(m) for m in ex.order_holds.values()), "a shared hold"
    open_holds = {(h.symbol, hid) for acc in ex.accounts for hid, h in acc.holds.items()}
    assert order_holds == open_holds, (order_holds, open_holds)
    for symbol, engine in ex.engines.items():
        mine = ex.order_holds.get(symbol, {})
        assert set(mine) == set(engine.orders), (symbol, sorted(mine), sorted(engine.orders))
        terms = ex.accounts[0].markets[symbol]
        for oid, o in engine.orders.items():
            h = ex.shard(o.user_id).holds[mine[oid]]
            assert (h.user_id, h.symbol, h.side) == (o.user_id, symbol, o.side), (o, h)
            pending = o.order_type in STOP_TYPES and oid not in (
                engine.bids if o.side is BUY else engine.asks
            ).levels.get(o.price, ())
            left = o.qty if pending else o.remaining
            assert left > 0, o
            if o.side is SELL:
                assert h.asset == terms.base.symbol
                assert h.amount >= left * terms.base_per_lot, (o, h.amount)
            elif h.price:
                assert o.order_type in LIMIT_PRICED_TYPES, o
                assert h.asset == terms.quote.symbol and o.price <= h.price, (o, h.price)
                assert h.amount >= left * h.price * terms.quote_per_unit, (o, h.amount)
            else:  # a buy held by amount: only a pending STOP_LOSS / TAKE_PROFIT waits so
                assert pending and o.order_type in UNPRICED, o
                assert 0 < o.cap * terms.quote_per_unit <= h.amount, (o, h.amount)


class Run:
    """Applies requests with seq 1, 2, ... and checks every Outcome and the state after it."""

    def __init__(self, shards: int) -> None:
        self.ex = Exchange(shards)
        self.seq = 0
        self.deposited: Counter[str] = Counter()
        self.log: list[tuple[int, int, Any]] = []
        self.outcomes: list[Outcome] = []

    def apply(self, r: Any) -> Outcome:
        ex = self.ex
        self.seq += 1
        seq, ts = self.seq, 10_000 + 7 * self.seq
        before = ledger(ex)
        state_before = fingerprint(ex)
        out = ex.apply(seq, ts, r)
        self.log.append((seq, ts, r))
        self.outcomes.append(out)
        assert (out.seq, out.ts) == (seq, ts)
        assert ex.last_seq == seq

        legs: Counter[Key] = Counter()
        postings = [e for e in out.events if type(e) is Posting]
        for p in postings:
            assert set(imbalance(p).values()) <= {0}, f"unbalanced {p}"
            for leg in p.legs:
                legs[(leg.account, leg.user_id, leg.asset)] += leg.amount
        after = ledger(ex)
        changes = Counter({k: after[k] - before[k] for k in before.keys() | after.keys()})
        assert nonzero(legs) == nonzero(changes), ("the postings are not what changed", r)
        n_trades = sum(1 for e in out.events if type(e) is Trade)
        assert sum(1 for p in postings if p.kind == "trade") == 2 * n_trades
        for i, e in enumerate(out.events):
            if type(e) is Trade:
                check_trade_postings(ex, out.symbol, e, out.events[i + 1], out.events[i + 2])

        if out.reject is not None:
            assert fingerprint(ex) == state_before, ("a refused request changed the state", r)
            assert postings == []
            if type(r) is rq.NewOrder:
                assert out.events == [], out
            else:
                assert all(type(e) is OrderRejected for e in out.events), out
        elif type(r) is rq.NewOrder:
            assert type(out.events[0]) is Posting and out.events[0].kind == "hold", out
            accepted = out.events[1]
            assert type(accepted) is OrderAccepted, out
            assert out.order_id == accepted.order_id and accepted.user_id == r.user_id
            # What the engine got is covered by the hold: an order that cannot be priced
            # ahead (market-type buy by quantity, market sell by quote amount) gets a cap.
            held = max(leg.amount for leg in out.events[0].legs)
            terms = ex.accounts[0].markets[r.symbol]
            if r.side is BUY and r.order_type in UNPRICED:
                spend = accepted.quote_qty or accepted.cap
                assert 0 < spend * terms.quote_per_unit <= held, (accepted, held)
            elif r.side is SELL:
                sell = accepted.qty or accepted.cap
                assert 0 < sell * terms.base_per_lot <= held, (accepted, held)
            own = [e for e in out.events if type(e) is OrderUpdate and e.order_id == out.order_id]
            if own and own[-1].status in FINAL_STATUSES:
                assert out.order_id not in ex.order_holds[r.symbol]
            else:
                assert out.order_id in ex.order_holds[r.symbol]
        elif type(r) is rq.Deposit:
            self.deposited[r.asset] += r.amount
        check_state(ex, self.deposited)
        return out


# On failure Hypothesis shrinks for up to 300 s; let it finish and print the example.
@pytest.mark.timeout(900)
@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    shards=st.integers(2, 3),
    funding=st.lists(st.sampled_from([2, 1, 3, 0]), min_size=15, max_size=15),
    templates=st.lists(template_st, min_size=40, max_size=120),
    split=st.integers(0, 90),
)
def test_random_requests_keep_the_books_and_replay_exactly(
    shards: int, funding: list[int], templates: list[tuple[Any, ...]], split: int
) -> None:
    run = Run(shards)
    snapshot: bytes | None = None
    at = 0

    def maybe_snapshot() -> None:
        nonlocal snapshot, at
        if snapshot is None and len(run.log) >= split:
            snapshot, at = run.ex.snapshot(), len(run.log)

    maybe_snapshot()
    for asset in ASSETS:
        maybe_snapshot()
        run.apply(rq.AddAsset(asset.symbol, asset.decimals))
    for ins in INSTRUMENTS:
        maybe_snapshot()
        run.apply(rq.AddMarket(spec(ins)))
    for i, user in enumerate(USERS):
        for j, asset in enumerate(ASSETS):
            if funding[3 * i + j]:
                maybe_snapshot()
                amount = funding[3 * i + j] * DEPOSIT_MAX[asset.symbol]
                run.apply(rq.Deposit(user, asset.symbol, amount))
    for t in templates:
        maybe_snapshot()
        run.apply(concretize(run.ex, t))
    if snapshot is None:  # split beyond the end: restore the final state, replay nothing
        snapshot, at = run.ex.snapshot(), len(run.log)

    # Replay determinism: restore the snapshot and apply the rest of the log.
    twin = Exchange.restore(snapshot)
    assert twin.snapshot() == snapshot, "restore(s).snapshot() != s"
    replayed = [twin.apply(seq, ts, r) for seq, ts, r in run.log[at:]]
    assert replayed == run.outcomes[at:]
    assert twin.state_hash() == run.ex.state_hash()
    assert twin.snapshot() == run.ex.snapshot()

    # Cancel everything still open: every hold comes back, nothing stays locked.
    for symbol, engine in run.ex.engines.items():
        run.apply(rq.SetMarketStatus(symbol, MarketStatus.TRADING))
        for user in sorted({o.user_id for o in engine.orders.values()}):
            run.apply(rq.CancelAllOrders(user, symbol))
        assert engine.orders == {}
    assert all(acc.holds == {} for acc in run.ex.accounts)
    assert all(m == {} for m in run.ex.order_holds.values())
    for acc in run.ex.accounts:
        for per in acc.balances.values():
            assert all(locked == 0 for _, locked in per.values())
