"""The accounts shard: deposits, holds, settlement, withdrawals, adjustments, snapshots.

Every operation goes through ``accounts_support.run``, which checks that the Result's postings
are balanced (``imbalance`` all zeros), that their legs add up to exactly the balance changes
the operation made, and that ``totals()`` stays all zeros.

The market is BTCUSDT with tick 0.01 and step 0.001, so one lot is 10**5 satoshi and one
notional unit (0.00001 USDT) is 10 USDT minor units: a forgotten ``quote_per_unit`` shows.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from accounts_support import run
from rialto.domain.accounts import Accounts, AccountsError, Result
from rialto.domain.assets import Asset
from rialto.domain.instruments import Instrument
from rialto.domain.orders import Side
from rialto.domain.postings import AccountKind, Leg, Posting
from rialto.domain.rejects import BINANCE_ERRORS, Reject

BUY, SELL = Side.BUY, Side.SELL
FREE, LOCKED = AccountKind.FREE, AccountKind.LOCKED
FEES, CLEARING = AccountKind.FEES, AccountKind.CLEARING
HOT, PENDING = AccountKind.HOT_WALLET, AccountKind.WITHDRAWALS_PENDING
ADJUSTMENTS = AccountKind.ADJUSTMENTS

SYM = "BTCUSDT"
LOT = 10**5  # satoshi per lot (step 0.001 BTC)
QPU = 10  # USDT minor units per notional unit (0.01 x 0.001 = 0.00001 USDT)
USDT = 10**6  # one USDT in minor units
BTC = 10**8  # one BTC in satoshi
P30K = 3_000_000  # 30000.00 in ticks

ALICE, BOB, CAROL = 1, 2, 3


def btcusdt(**overrides: Any) -> Instrument:
    spec: dict[str, Any] = {
        "symbol": SYM,
        "base_asset": "BTC",
        "quote_asset": "USDT",
        "tick_size": "0.01",
        "step_size": "0.001",
        "maker_fee": "0.001",
        "taker_fee": "0.002",
    }
    spec.update(overrides)
    return Instrument(**spec)


def new_accounts() -> Accounts:
    acc = Accounts()
    acc.add_asset(Asset("BTC", 8))
    acc.add_asset(Asset("USDT", 6))
    acc.add_market(btcusdt())
    return acc


def funded() -> Accounts:
    """Alice has 100000 USDT, Bob 2 BTC."""
    acc = new_accounts()
    assert run(acc, "deposit", "dep", 1, 10, ALICE, "USDT", 100_000 * USDT).ok
    assert run(acc, "deposit", "dep", 2, 11, BOB, "BTC", 2 * BTC).ok
    return acc


def legs_of(result: Result) -> list[Leg]:
    assert len(result.postings) == 1
    return list(result.postings[0].legs)


def assert_duplicate(acc: Accounts, op: str, *args: Any, **kwargs: Any) -> None:
    before = acc.state_hash()
    result = run(acc, op, *args, **kwargs)
    assert result == Result(False, True, None, ())
    assert acc.state_hash() == before


def assert_insufficient(acc: Accounts, op: str, *args: Any, **kwargs: Any) -> None:
    before = acc.state_hash()
    result = run(acc, op, *args, **kwargs)
    assert result == Result(False, False, Reject.INSUFFICIENT_BALANCE, ())
    assert BINANCE_ERRORS[result.reason] == (
        -2010,
        "Account has insufficient balance for requested action.",
    )
    assert acc.state_hash() == before


# --- deposits ---------------------------------------------------------------


def test_deposit_credits_free_against_hot_wallet() -> None:
    acc = new_accounts()
    r = run(acc, "deposit", "chain", 7, 1234, ALICE, "BTC", 150_000_000)
    assert r == Result(
        True,
        False,
        None,
        (
            Posting(
                "deposit",
                "chain:7",
                1234,
                (Leg(HOT, 0, "BTC", 150_000_000), Leg(FREE, ALICE, "BTC", 150_000_000)),
            ),
        ),
    )
    assert acc.balance(ALICE, "BTC") == (150_000_000, 0)
    assert acc.system_balance(HOT, "BTC") == 150_000_000
    assert acc.totals() == {"BTC": 0, "USDT": 0}
    run(acc, "deposit", "chain", 8, 1235, ALICE, "BTC", 1)
    assert acc.balance(ALICE, "BTC") == (150_000_001, 0)
    assert acc.system_balance(HOT, "BTC") == 150_000_001


def test_deposit_duplicate_same_stream_and_seq_changes_nothing() -> None:
    acc = new_accounts()
    run(acc, "deposit", "chain", 5, 1, ALICE, "BTC", 100)
    assert_duplicate(acc, "deposit", "chain", 5, 2, ALICE, "BTC", 100)
    assert_duplicate(acc, "deposit", "chain", 4, 2, ALICE, "BTC", 999)  # older seq: replayed
    assert acc.balance(ALICE, "BTC") == (100, 0)
    # The same seq on another stream is a different deposit.
    assert run(acc, "deposit", "other", 5, 3, ALICE, "BTC", 100).ok
    assert acc.balance(ALICE, "BTC") == (200, 0)


@pytest.mark.parametrize("amount", [0, -1])
def test_deposit_of_non_positive_amount_is_an_error(amount: int) -> None:
    acc = new_accounts()
    before = acc.state_hash()
    with pytest.raises(AccountsError):
        acc.deposit("chain", 1, 1, ALICE, "BTC", amount)
    assert acc.state_hash() == before


def test_deposit_of_unknown_asset_is_an_error() -> None:
    acc = new_accounts()
    with pytest.raises(AccountsError):
        acc.deposit("chain", 1, 1, ALICE, "DOGE", 1)


# --- order holds ------------------------------------------------------------


def test_limit_buy_holds_qty_times_price_in_quote() -> None:
    acc = funded()
    r = run(acc, "hold_order", "ord", 1, 20, 101, ALICE, SYM, BUY, price=P30K, qty=500)
    need = 500 * P30K * QPU
    assert need == 15_000 * USDT  # 0.5 BTC at 30000.00
    assert r.ok and not r.duplicate and r.reason is None
    assert r.held == need
    assert r.postings == (
        Posting(
            "hold", "h:101", 20, (Leg(FREE, ALICE, "USDT", -need), Leg(LOCKED, ALICE, "USDT", need))
        ),
    )
    assert acc.balance(ALICE, "USDT") == (85_000 * USDT, 15_000 * USDT)
    h = acc.holds[101]
    assert (h.user_id, h.symbol, h.side, h.asset, h.amount, h.price) == (
        ALICE,
        SYM,
        BUY,
        "USDT",
        need,
        P30K,
    )


def test_sell_holds_qty_lots_of_base() -> None:
    acc = funded()
    r = run(acc, "hold_order", "ord", 1, 20, 102, BOB, SYM, SELL, price=P30K, qty=1234)
    assert r.ok and r.held == 1234 * LOT == 123_400_000
    assert legs_of(r) == [Leg(FREE, BOB, "BTC", -123_400_000), Leg(LOCKED, BOB, "BTC", 123_400_000)]
    assert acc.balance(BOB, "BTC") == (2 * BTC - 123_400_000, 123_400_000)
    assert acc.holds[102].price == 0


def test_market_sell_by_qty_holds_the_lots() -> None:
    acc = funded()
    r = run(acc, "hold_order", "ord", 1, 20, 103, BOB, SYM, SELL, qty=7)
    assert r.ok and r.held == 7 * LOT
    assert acc.balance(BOB, "BTC") == (2 * BTC - 7 * LOT, 7 * LOT)


def test_market_buy_by_quote_holds_the_quote_amount() -> None:
    acc = funded()
    r = run(acc, "hold_order", "ord", 1, 20, 104, ALICE, SYM, BUY, quote=1_234_567)
    assert r.ok and r.held == 1_234_567
    assert legs_of(r) == [
        Leg(FREE, ALICE, "USDT", -1_234_567),
        Leg(LOCKED, ALICE, "USDT", 1_234_567),
    ]
    assert acc.balance(ALICE, "USDT") == (100_000 * USDT - 1_234_567, 1_234_567)
    assert acc.holds[104].price == 0


def test_market_buy_by_qty_locks_the_whole_free_balance() -> None:
    acc = funded()
    run(acc, "hold_order", "ord", 1, 20, 101, ALICE, SYM, BUY, price=P30K, qty=500)
    r = run(acc, "hold_order", "ord", 2, 21, 105, ALICE, SYM, BUY, qty=10)
    assert r.ok and r.held == 85_000 * USDT
    assert acc.balance(ALICE, "USDT") == (0, 100_000 * USDT)
    assert acc.holds[105].amount == 85_000 * USDT


def test_market_sell_by_quote_locks_the_whole_free_balance() -> None:
    acc = funded()
    r = run(acc, "hold_order", "ord", 1, 20, 106, BOB, SYM, SELL, quote=5 * USDT)
    assert r.ok and r.held == 2 * BTC
    assert acc.balance(BOB, "BTC") == (0, 2 * BTC)


def test_whole_balance_hold_of_an_empty_balance_is_insufficient() -> None:
    acc = funded()
    run(acc, "hold_order", "ord", 1, 20, 106, BOB, SYM, SELL, quote=5 * USDT)
    assert_insufficient(acc, "hold_order", "ord", 2, 21, 107, BOB, SYM, SELL, quote=5 * USDT)
    run(acc, "hold_order", "ord", 3, 22, 108, ALICE, SYM, BUY, qty=1)
    assert acc.balance(ALICE, "USDT") == (0, 100_000 * USDT)
    assert_insufficient(acc, "hold_order", "ord", 4, 23, 109, ALICE, SYM, BUY, qty=1)
    assert set(acc.holds) == {106, 108}


def test_hold_needs_a_known_market_and_a_positive_amount() -> None:
    acc = funded()
    with pytest.raises(AccountsError):
        acc.hold_order("ord", 1, 20, 1, ALICE, "ETHUSDT", BUY, price=1, qty=1)
    with pytest.raises(AccountsError):
        acc.hold_order("ord", 2, 20, 2, ALICE, SYM, BUY, price=P30K, qty=0)


@pytest.mark.parametrize(
    ("side", "kwargs"),
    [
        (SELL, {"qty": -1}),
        (SELL, {"price": P30K, "qty": -5}),
        (BUY, {"price": -P30K, "qty": 1}),
        (BUY, {"price": P30K, "qty": -1}),
        (BUY, {"quote": -1}),
    ],
    ids=["market-sell-qty", "limit-sell-qty", "limit-buy-price", "limit-buy-qty", "buy-quote"],
)
def test_hold_of_a_negative_amount_is_an_error(side: Side, kwargs: dict[str, int]) -> None:
    """A negative size is a bug upstream, not "lock the whole balance" (that is size 0)."""
    acc = funded()
    before = acc.state_hash()
    user = BOB if side is SELL else ALICE
    with pytest.raises(AccountsError):
        acc.hold_order("ord", 1, 20, 1, user, SYM, side, **kwargs)
    assert acc.state_hash() == before
    assert acc.holds == {}


# --- insufficient funds -----------------------------------------------------


def test_insufficient_funds_on_limit_buy_changes_nothing() -> None:
    acc = funded()
    # 100000 USDT buys 3.333 BTC at 30000.00; 3.334 is one lot too many.
    assert_insufficient(acc, "hold_order", "ord", 1, 20, 101, ALICE, SYM, BUY, price=P30K, qty=3334)
    assert acc.balance(ALICE, "USDT") == (100_000 * USDT, 0)
    assert 101 not in acc.holds
    # The refused hold used neither its seq nor its hold id.
    r = run(acc, "hold_order", "ord", 1, 20, 101, ALICE, SYM, BUY, price=P30K, qty=3333)
    assert r.ok and r.held == 3333 * P30K * QPU


def test_insufficient_funds_on_sell_and_market_buy_by_quote() -> None:
    acc = funded()
    assert_insufficient(acc, "hold_order", "ord", 1, 20, 101, BOB, SYM, SELL, qty=2001)
    assert_insufficient(
        acc, "hold_order", "ord", 2, 20, 102, ALICE, SYM, BUY, quote=100_000 * USDT + 1
    )
    assert run(acc, "hold_order", "ord", 3, 20, 103, BOB, SYM, SELL, qty=2000).held == 2 * BTC
    assert run(acc, "hold_order", "ord", 4, 20, 104, ALICE, SYM, BUY, quote=100_000 * USDT).ok


def test_insufficient_funds_on_withdrawal_changes_nothing() -> None:
    acc = funded()
    assert_insufficient(acc, "hold_withdrawal", "wd", 1, 30, 501, BOB, "BTC", 2 * BTC + 1)
    assert 501 not in acc.withdrawals
    assert acc.balance(BOB, "BTC") == (2 * BTC, 0)


def test_insufficient_funds_on_negative_adjustment_changes_nothing() -> None:
    acc = funded()
    assert_insufficient(acc, "adjust", "ops", 1, 30, BOB, "BTC", -2 * BTC - 1, "chargeback")
    assert acc.balance(BOB, "BTC") == (2 * BTC, 0)
    # The refusal did not consume the seq.
    assert run(acc, "adjust", "ops", 1, 31, BOB, "BTC", -2 * BTC, "chargeback").ok
    assert acc.balance(BOB, "BTC") == (0, 0)


def test_locked_funds_are_not_spendable() -> None:
    acc = funded()
    run(acc, "hold_order", "ord", 1, 20, 101, BOB, SYM, SELL, qty=1500)
    assert_insufficient(acc, "hold_order", "ord", 2, 21, 102, BOB, SYM, SELL, qty=501)
    assert_insufficient(acc, "hold_withdrawal", "wd", 1, 22, 501, BOB, "BTC", 50_000_001)
    assert_insufficient(acc, "adjust", "ops", 1, 23, BOB, "BTC", -50_000_001, "fix")


def test_rejection_for_a_user_without_an_account_changes_nothing() -> None:
    """A refused operation must not even create an empty balance row (state_hash unchanged)."""
    acc = funded()
    assert_insufficient(acc, "hold_order", "ord", 1, 20, 101, CAROL, SYM, BUY, price=P30K, qty=1)
    assert_insufficient(acc, "hold_order", "ord", 2, 20, 102, CAROL, SYM, SELL, qty=1)
    assert_insufficient(acc, "hold_withdrawal", "wd", 1, 20, 501, CAROL, "BTC", 1)
    assert_insufficient(acc, "adjust", "ops", 1, 20, CAROL, "USDT", -1, "fix")
    assert_insufficient(acc, "hold_order", "ord", 3, 20, 103, ALICE, SYM, SELL, qty=1)


# --- duplicate holds --------------------------------------------------------


def test_duplicate_hold_same_stream_and_seq() -> None:
    acc = funded()
    run(acc, "hold_order", "ord", 1, 20, 101, ALICE, SYM, BUY, price=P30K, qty=10)
    assert_duplicate(acc, "hold_order", "ord", 1, 20, 101, ALICE, SYM, BUY, price=P30K, qty=10)
    assert_duplicate(acc, "hold_order", "ord", 1, 20, 202, ALICE, SYM, BUY, price=P30K, qty=10)
    assert acc.balance(ALICE, "USDT") == (100_000 * USDT - 10 * P30K * QPU, 10 * P30K * QPU)
    assert set(acc.holds) == {101}


def test_duplicate_hold_same_hold_id() -> None:
    acc = funded()
    run(acc, "hold_order", "ord", 1, 20, 101, ALICE, SYM, BUY, price=P30K, qty=10)
    assert_duplicate(acc, "hold_order", "ord", 2, 21, 101, ALICE, SYM, BUY, price=P30K, qty=10)
    assert_duplicate(acc, "hold_order", "ord", 3, 22, 101, BOB, SYM, SELL, qty=1)
    assert acc.balance(BOB, "BTC") == (2 * BTC, 0)


# --- settlement -------------------------------------------------------------


def traded() -> Accounts:
    """Alice bids 0.5 BTC at 30000.00 (maker); Bob sells 0.2 BTC into it at 29999.00 limit."""
    acc = funded()
    run(acc, "hold_order", "ord", 1, 20, 101, ALICE, SYM, BUY, price=P30K, qty=500)
    run(acc, "hold_order", "ord", 2, 21, 102, BOB, SYM, SELL, price=2_999_900, qty=200)
    return acc


def test_settle_seller_side() -> None:
    acc = traded()
    r = run(acc, "settle", SYM, 1, 30, 102, SELL, False, P30K, 200)
    quote_amt = 200 * P30K * QPU  # 6000 USDT
    fee = quote_amt * 2 // 1000  # taker 0.002, exact here
    assert (quote_amt, fee) == (6_000 * USDT, 12 * USDT)
    assert r.postings == (
        Posting(
            "trade",
            f"{SYM}:1:SELL",
            30,
            (
                Leg(LOCKED, BOB, "BTC", -200 * LOT),
                Leg(CLEARING, 0, "BTC", 200 * LOT),
                Leg(CLEARING, 0, "USDT", -quote_amt),
                Leg(FREE, BOB, "USDT", quote_amt - fee),
                Leg(FEES, 0, "USDT", fee),
            ),
        ),
    )
    assert acc.balance(BOB, "BTC") == (2 * BTC - 200 * LOT, 0)
    assert acc.balance(BOB, "USDT") == (quote_amt - fee, 0)
    assert acc.holds[102].amount == 0
    assert acc.system_balance(FEES, "USDT") == fee
    # One side settled: the clearing account carries the other side's due.
    assert acc.system_balance(CLEARING, "BTC") == 200 * LOT
    assert acc.system_balance(CLEARING, "USDT") == -quote_amt


def test_settle_buyer_side_at_its_limit_price() -> None:
    acc = traded()
    run(acc, "settle", SYM, 1, 30, 101, BUY, True, P30K, 200)
    base_amt = 200 * LOT
    fee = base_amt // 1000  # maker 0.001 in BTC, exact
    assert acc.balance(ALICE, "BTC") == (base_amt - fee, 0)
    assert acc.balance(ALICE, "USDT") == (85_000 * USDT, 9_000 * USDT)
    assert acc.holds[101].amount == 300 * P30K * QPU
    assert acc.system_balance(FEES, "BTC") == fee


def test_settle_buyer_side_returns_price_improvement_to_free() -> None:
    acc = funded()
    run(acc, "hold_order", "ord", 1, 20, 101, BOB, SYM, SELL, price=2_990_000, qty=200)
    run(acc, "hold_order", "ord", 2, 21, 102, ALICE, SYM, BUY, price=P30K, qty=500)
    r = run(acc, "settle", SYM, 1, 30, 102, BUY, False, 2_990_000, 200)
    used = 200 * P30K * QPU
    cost = 200 * 2_990_000 * QPU
    assert used - cost == 20 * USDT  # 100.00 cheaper on 0.2 BTC
    base_amt = 200 * LOT
    fee = base_amt * 2 // 1000  # taker 0.002
    assert r.postings[0].legs == (
        Leg(LOCKED, ALICE, "USDT", -used),
        Leg(CLEARING, 0, "USDT", cost),
        Leg(CLEARING, 0, "BTC", -base_amt),
        Leg(FREE, ALICE, "BTC", base_amt - fee),
        Leg(FREE, ALICE, "USDT", used - cost),
        Leg(FEES, 0, "BTC", fee),
    )
    assert acc.balance(ALICE, "USDT") == (
        100_000 * USDT - 500 * P30K * QPU + 20 * USDT,
        300 * P30K * QPU,
    )
    # Release returns the rest: what 0.3 BTC would have cost at the limit.
    r = run(acc, "release", 31, 102)
    assert legs_of(r) == [
        Leg(LOCKED, ALICE, "USDT", -300 * P30K * QPU),
        Leg(FREE, ALICE, "USDT", 300 * P30K * QPU),
    ]
    assert r.postings[0].kind == "release" and r.postings[0].ref == "h:102"
    assert acc.balance(ALICE, "USDT") == (100_000 * USDT - cost, 0)
    assert 102 not in acc.holds


def test_both_sides_settled_clear_to_zero() -> None:
    acc = traded()
    run(acc, "settle", SYM, 1, 30, 101, BUY, True, P30K, 200)
    run(acc, "settle", SYM, 1, 30, 102, SELL, False, P30K, 200)
    assert acc.system_balance(CLEARING, "BTC") == 0
    assert acc.system_balance(CLEARING, "USDT") == 0
    run(acc, "release", 31, 102)
    run(acc, "release", 32, 101)
    assert acc.balance(ALICE, "USDT") == (94_000 * USDT, 0)
    assert acc.balance(ALICE, "BTC") == (200 * LOT - 200 * LOT // 1000, 0)
    assert acc.balance(BOB, "BTC") == (2 * BTC - 200 * LOT, 0)
    assert acc.balance(BOB, "USDT") == (6_000 * USDT - 12 * USDT, 0)
    assert acc.holds == {}
    assert acc.totals() == {"BTC": 0, "USDT": 0}


def test_settle_duplicate_same_symbol_trade_and_side() -> None:
    acc = traded()
    run(acc, "settle", SYM, 1, 30, 102, SELL, False, P30K, 100)
    assert_duplicate(acc, "settle", SYM, 1, 30, 102, SELL, False, P30K, 100)
    # The buyer side of the same trade is not a duplicate.
    assert run(acc, "settle", SYM, 1, 30, 101, BUY, True, P30K, 100).ok
    assert_duplicate(acc, "settle", SYM, 1, 30, 101, BUY, True, P30K, 100)
    # Trade 2 settles; a replay of trade 1 or 2 afterwards is a duplicate.
    assert run(acc, "settle", SYM, 2, 31, 102, SELL, False, P30K, 100).ok
    assert_duplicate(acc, "settle", SYM, 1, 30, 102, SELL, False, P30K, 100)
    assert_duplicate(acc, "settle", SYM, 2, 31, 102, SELL, False, P30K, 100)
    assert acc.balance(BOB, "BTC") == (2 * BTC - 200 * LOT, 0)


def test_settle_of_a_hold_that_is_not_open_is_an_error() -> None:
    acc = traded()
    before = acc.state_hash()
    with pytest.raises(AccountsError):
        acc.settle(SYM, 1, 30, 999, SELL, False, P30K, 1)  # unknown hold
    with pytest.raises(AccountsError):
        acc.settle(SYM, 1, 30, 101, SELL, False, P30K, 1)  # hold 101 is a buy
    with pytest.raises(AccountsError):
        acc.settle("ETHUSDT", 1, 30, 102, SELL, False, P30K, 1)  # another symbol
    with pytest.raises(AccountsError):
        acc.settle(SYM, 1, 30, 102, SELL, False, P30K, 201)  # more than the 200 lots held
    with pytest.raises(AccountsError):
        acc.settle(SYM, 1, 30, 101, BUY, True, P30K, 501)  # more than the 500 lots held
    assert acc.state_hash() == before


@pytest.mark.parametrize(
    ("hold_id", "side", "price", "qty"),
    [
        (102, SELL, P30K, -1),  # would lock more and pay the seller a negative amount
        (101, BUY, P30K, -1),  # would take base away from the buyer
        (102, SELL, P30K, 0),
        (101, BUY, P30K, 0),
        (102, SELL, 0, 10),  # would hand over 10 lots for nothing
        (101, BUY, -1, 10),
    ],
    ids=["sell-qty-neg", "buy-qty-neg", "sell-qty-0", "buy-qty-0", "sell-price-0", "buy-price-neg"],
)
def test_settle_of_a_non_positive_price_or_qty_is_an_error(
    hold_id: int, side: Side, price: int, qty: int
) -> None:
    acc = traded()
    before = acc.state_hash()
    with pytest.raises(AccountsError):
        acc.settle(SYM, 1, 30, hold_id, side, False, price, qty)
    assert acc.state_hash() == before


def test_settle_of_a_buy_above_its_limit_price_is_an_error() -> None:
    """A buy held at 30000.00 cannot pay 30000.01: the hold does not cover it."""
    acc = traded()
    before = acc.state_hash()
    with pytest.raises(AccountsError):
        acc.settle(SYM, 1, 30, 101, BUY, True, P30K + 1, 200)
    assert acc.state_hash() == before
    assert acc.balance(ALICE, "USDT") == (85_000 * USDT, 15_000 * USDT)


def test_market_buy_by_quote_settles_at_trade_prices_and_releases_the_rest() -> None:
    acc = funded()
    run(acc, "hold_order", "ord", 1, 20, 101, ALICE, SYM, BUY, quote=10_000 * USDT)
    run(acc, "settle", SYM, 1, 30, 101, BUY, False, P30K, 100)
    run(acc, "settle", SYM, 2, 30, 101, BUY, False, P30K + 100, 100)
    spent = 100 * P30K * QPU + 100 * (P30K + 100) * QPU
    assert acc.holds[101].amount == 10_000 * USDT - spent
    assert acc.balance(ALICE, "USDT") == (90_000 * USDT, 10_000 * USDT - spent)
    run(acc, "release", 31, 101)
    assert acc.balance(ALICE, "USDT") == (100_000 * USDT - spent, 0)


# --- release ----------------------------------------------------------------


def test_release_returns_the_rest_and_twice_is_a_duplicate() -> None:
    acc = traded()
    run(acc, "settle", SYM, 1, 30, 102, SELL, False, P30K, 50)
    r = run(acc, "release", 31, 102)
    assert r.ok and not r.duplicate
    assert legs_of(r) == [Leg(LOCKED, BOB, "BTC", -150 * LOT), Leg(FREE, BOB, "BTC", 150 * LOT)]
    assert acc.balance(BOB, "BTC") == (2 * BTC - 50 * LOT, 0)
    assert_duplicate(acc, "release", 32, 102)
    assert_duplicate(acc, "release", 32, 999)  # never held


def test_release_of_a_fully_used_hold_posts_nothing() -> None:
    acc = traded()
    run(acc, "settle", SYM, 1, 30, 102, SELL, False, P30K, 200)
    r = run(acc, "release", 31, 102)
    assert r == Result(True, False, None, ())
    assert 102 not in acc.holds
    assert_duplicate(acc, "release", 31, 102)


# --- withdrawals ------------------------------------------------------------


def test_withdrawal_hold_then_finalize() -> None:
    acc = funded()
    r = run(acc, "hold_withdrawal", "wd", 1, 40, 501, BOB, "BTC", 30_000_000)
    assert r.ok
    assert r.postings == (
        Posting(
            "withdrawal_hold",
            "w:501",
            40,
            (Leg(FREE, BOB, "BTC", -30_000_000), Leg(PENDING, 0, "BTC", 30_000_000)),
        ),
    )
    assert acc.balance(BOB, "BTC") == (170_000_000, 0)
    assert acc.system_balance(PENDING, "BTC") == 30_000_000
    assert acc.system_balance(HOT, "BTC") == 2 * BTC
    r = run(acc, "finalize_withdrawal", 41, 501)
    assert r.postings == (
        Posting(
            "withdrawal_sent",
            "w:501",
            41,
            (Leg(PENDING, 0, "BTC", -30_000_000), Leg(HOT, 0, "BTC", -30_000_000)),
        ),
    )
    assert acc.system_balance(PENDING, "BTC") == 0
    assert acc.system_balance(HOT, "BTC") == 170_000_000
    assert acc.balance(BOB, "BTC") == (170_000_000, 0)
    assert_duplicate(acc, "finalize_withdrawal", 42, 501)
    assert_duplicate(acc, "return_withdrawal", 42, 501)
    assert acc.withdrawals == {}


def test_withdrawal_hold_then_return() -> None:
    acc = funded()
    run(acc, "hold_withdrawal", "wd", 1, 40, 501, BOB, "BTC", 30_000_000)
    r = run(acc, "return_withdrawal", 41, 501)
    assert r.postings == (
        Posting(
            "withdrawal_returned",
            "w:501",
            41,
            (Leg(PENDING, 0, "BTC", -30_000_000), Leg(FREE, BOB, "BTC", 30_000_000)),
        ),
    )
    assert acc.balance(BOB, "BTC") == (2 * BTC, 0)
    assert acc.system_balance(PENDING, "BTC") == 0
    assert acc.system_balance(HOT, "BTC") == 2 * BTC
    assert_duplicate(acc, "return_withdrawal", 42, 501)
    assert_duplicate(acc, "finalize_withdrawal", 42, 501)


def test_duplicate_withdrawal_hold() -> None:
    acc = funded()
    run(acc, "hold_withdrawal", "wd", 1, 40, 501, BOB, "BTC", 1000)
    assert_duplicate(acc, "hold_withdrawal", "wd", 1, 40, 501, BOB, "BTC", 1000)  # same seq
    assert_duplicate(acc, "hold_withdrawal", "wd", 1, 40, 502, BOB, "BTC", 1000)  # same seq
    assert_duplicate(acc, "hold_withdrawal", "wd", 2, 41, 501, BOB, "BTC", 1000)  # same id
    assert acc.balance(BOB, "BTC") == (2 * BTC - 1000, 0)
    assert acc.withdrawals == {501: (BOB, "BTC", 1000)}


def test_finalize_or_return_of_unknown_withdrawal_is_a_duplicate() -> None:
    acc = funded()
    assert_duplicate(acc, "finalize_withdrawal", 1, 777)
    assert_duplicate(acc, "return_withdrawal", 1, 777)


def test_withdrawal_amount_must_be_positive() -> None:
    acc = funded()
    with pytest.raises(AccountsError):
        acc.hold_withdrawal("wd", 1, 40, 501, BOB, "BTC", 0)


# --- adjustments ------------------------------------------------------------


@pytest.mark.parametrize("reason", ["", "   ", "\t\n"])
def test_adjustment_needs_a_reason(reason: str) -> None:
    acc = funded()
    before = acc.state_hash()
    with pytest.raises(AccountsError):
        acc.adjust("ops", 1, 50, ALICE, "USDT", 5, reason)
    assert acc.state_hash() == before


def test_adjustment_records_its_reason_in_the_memo() -> None:
    acc = funded()
    r = run(acc, "adjust", "ops", 1, 50, ALICE, "USDT", 2_500_000, "ticket 42: lost deposit")
    assert r.postings == (
        Posting(
            "adjustment",
            "ops:1",
            50,
            (Leg(FREE, ALICE, "USDT", 2_500_000), Leg(ADJUSTMENTS, 0, "USDT", -2_500_000)),
            "ticket 42: lost deposit",
        ),
    )
    assert acc.balance(ALICE, "USDT") == (100_000 * USDT + 2_500_000, 0)
    r = run(acc, "adjust", "ops", 2, 51, ALICE, "USDT", -500_000, "ticket 43: double credit")
    assert r.postings[0].memo == "ticket 43: double credit"
    assert r.postings[0].legs == (
        Leg(FREE, ALICE, "USDT", -500_000),
        Leg(ADJUSTMENTS, 0, "USDT", 500_000),
    )
    assert acc.balance(ALICE, "USDT") == (100_000 * USDT + 2_000_000, 0)
    assert acc.system_balance(ADJUSTMENTS, "USDT") == -2_000_000


def test_adjustment_duplicate_changes_nothing() -> None:
    acc = funded()
    run(acc, "adjust", "ops", 3, 50, ALICE, "USDT", 7, "fix")
    assert_duplicate(acc, "adjust", "ops", 3, 50, ALICE, "USDT", 7, "fix")
    assert_duplicate(acc, "adjust", "ops", 2, 50, ALICE, "USDT", -7, "fix")
    assert acc.balance(ALICE, "USDT") == (100_000 * USDT + 7, 0)


# --- markets and tiers ------------------------------------------------------


def test_add_market_refuses_a_step_finer_than_the_base_asset() -> None:
    acc = Accounts()
    acc.add_asset(Asset("EUR", 2))
    acc.add_asset(Asset("USDT", 6))
    with pytest.raises(AccountsError):
        acc.add_market(Instrument("EURUSDT", "EUR", "USDT", "0.0001", "0.001"))
    assert "EURUSDT" not in acc.markets
    terms = acc.add_market(Instrument("EURUSDT", "EUR", "USDT", "0.0001", "0.01"))
    assert (terms.base_per_lot, terms.quote_per_unit) == (1, 1)


def test_add_market_refuses_a_notional_unit_finer_than_the_quote_asset() -> None:
    acc = Accounts()
    acc.add_asset(Asset("BTC", 8))
    acc.add_asset(Asset("EUR", 2))
    # 0.01 x 0.001 = 0.00001 EUR: finer than a cent.
    with pytest.raises(AccountsError):
        acc.add_market(Instrument("BTCEUR", "BTC", "EUR", "0.01", "0.001"))
    # 0.5 x 0.01 = 0.005 EUR: still finer than a cent, though each of them is not.
    with pytest.raises(AccountsError):
        acc.add_market(Instrument("BTCEUR", "BTC", "EUR", "0.5", "0.01"))
    assert acc.markets == {}
    terms = acc.add_market(Instrument("BTCEUR", "BTC", "EUR", "10", "0.001"))
    assert (terms.base_per_lot, terms.quote_per_unit) == (100_000, 1)


def test_add_market_needs_known_assets() -> None:
    acc = Accounts()
    acc.add_asset(Asset("BTC", 8))
    with pytest.raises(AccountsError):
        acc.add_market(btcusdt())


def test_market_terms() -> None:
    acc = new_accounts()
    m = acc.markets[SYM]
    assert (m.base_per_lot, m.quote_per_unit) == (LOT, QPU)
    assert (str(m.maker_fee), str(m.taker_fee)) == ("0.001", "0.002")


def test_tiers_refuse_a_negative_taker_fee_and_unknown_names() -> None:
    acc = new_accounts()
    with pytest.raises(AccountsError):
        acc.set_tier("bad", "0", "-0.0001")
    assert "bad" not in acc.tiers
    with pytest.raises(AccountsError):
        acc.assign_tier(ALICE, "nope")
    assert acc.user_tiers == {}


# --- snapshots --------------------------------------------------------------


def busy() -> Accounts:
    acc = traded()
    acc.set_tier("mm", "-0.0001", "0.0005")
    acc.assign_tier(BOB, "mm")
    run(acc, "settle", SYM, 1, 30, 101, BUY, True, P30K, 50)
    run(acc, "settle", SYM, 1, 30, 102, SELL, False, P30K, 50)
    run(acc, "hold_withdrawal", "wd", 1, 40, 501, BOB, "BTC", 1000)
    run(acc, "hold_withdrawal", "wd", 2, 41, 502, BOB, "BTC", 2000)
    run(acc, "finalize_withdrawal", 42, 502)
    run(acc, "adjust", "ops", 1, 43, CAROL, "USDT", 99, "goodwill")
    return acc


def test_snapshot_restore_round_trip() -> None:
    acc = busy()
    data = acc.snapshot()
    assert isinstance(data, bytes)
    restored = Accounts.restore(data)
    assert restored.snapshot() == data
    assert restored.state_hash() == acc.state_hash()
    assert restored.balance(BOB, "BTC") == acc.balance(BOB, "BTC")
    assert restored.totals() == {"BTC": 0, "USDT": 0}
    # The restored shard carries on exactly like the original.
    for a in (acc, restored):
        assert_duplicate(a, "deposit", "dep", 2, 11, BOB, "BTC", 2 * BTC)
        assert_duplicate(a, "settle", SYM, 1, 30, 102, SELL, False, P30K, 50)
        assert_duplicate(a, "hold_withdrawal", "wd", 3, 44, 501, BOB, "BTC", 1)
        run(a, "settle", SYM, 2, 50, 102, SELL, True, P30K, 20)  # Bob's rebate tier applies
        run(a, "settle", SYM, 2, 50, 101, BUY, False, P30K, 20)
        run(a, "release", 51, 101)
        run(a, "return_withdrawal", 52, 501)
    assert restored.snapshot() == acc.snapshot()
    assert Accounts.restore(Accounts().snapshot()).snapshot() == Accounts().snapshot()


def test_state_hash_is_sha256_of_the_snapshot() -> None:
    import hashlib

    acc = busy()
    assert acc.state_hash() == hashlib.sha256(acc.snapshot()).hexdigest()
    other = busy()
    assert other.state_hash() == acc.state_hash()
    run(other, "deposit", "dep", 9, 1, ALICE, "BTC", 1)
    assert other.state_hash() != acc.state_hash()


def _mutated(key: str, value: Any) -> bytes:
    state = json.loads(busy().snapshot())
    state[key] = value
    return json.dumps(state).encode()


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"{}",
        b'{"version": 2}',
        b"[]",
        b"null",
        b"42",
        b'"snapshot"',
        pytest.param("truncated", id="truncated"),
        pytest.param(("assets", [["btc", 8]]), id="bad-asset"),
        pytest.param(("assets", [["BTC"]]), id="short-asset-row"),
        pytest.param(("system", [["nonsense", "BTC", 1]]), id="bad-account-kind"),
        pytest.param(("holds", [[1, 2, SYM, "SIDEWAYS", "BTC", 1, 0]]), id="bad-side"),
        pytest.param(("markets", [{"symbol": SYM}]), id="bad-market"),
        pytest.param(("tiers", [["x", "0", "-1"]]), id="negative-taker-tier"),
        pytest.param(("high", 5), id="bad-high"),
    ],
)
def test_restore_of_garbage_raises_accounts_error(data: Any) -> None:
    if data == "truncated":
        blob = busy().snapshot()
        data = blob[: len(blob) // 2]
    elif isinstance(data, tuple):
        data = _mutated(*data)
    with pytest.raises(AccountsError):
        Accounts.restore(data)
