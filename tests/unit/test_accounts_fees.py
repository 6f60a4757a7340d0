"""Fees, rebates, rounding and conservation in the accounts shard.

Assets: ETH with 18 decimals (amounts above 2**64 must stay exact ints) and EUR with 2.

* ETHEUR: tick 1 EUR, step 0.01 ETH: one lot is 10**16 wei, one notional unit (1 x 0.01) is
  exactly one cent. Maker 0.001, taker 0.002.
* EURETH: tick 0.000001 ETH, step 0.01 EUR: one lot is one cent, one notional unit
  (0.000001 x 0.01) is 10**-8 ETH = 10**10 wei. Maker 0.0005, taker 0.001. Here the buyer
  receives (and pays its fee in) the 2-decimal asset.

The fee is charged in the asset received: ``ceil(received x rate)``; a rebate (negative maker
rate) is rounded towards zero and paid out of the fees account.
"""

from __future__ import annotations

from fractions import Fraction
from math import ceil, floor

import pytest

from accounts_support import run
from rialto.domain.accounts import Accounts, Result
from rialto.domain.assets import Asset
from rialto.domain.instruments import Instrument
from rialto.domain.orders import Side
from rialto.domain.postings import AccountKind, Leg

BUY, SELL = Side.BUY, Side.SELL
FREE, LOCKED = AccountKind.FREE, AccountKind.LOCKED
FEES, CLEARING, HOT = AccountKind.FEES, AccountKind.CLEARING, AccountKind.HOT_WALLET

WEI_PER_LOT = 10**16  # ETHEUR: 0.01 ETH
WEI_PER_UNIT = 10**10  # EURETH: 0.000001 ETH x 0.01 = 10**-8 ETH
ETH = 10**18
EUR = 100

SELLER, BUYER, MM, OTHER = 11, 12, 13, 14


class Desk:
    """An Accounts shard plus the counters a sequencer and two engines would supply."""

    def __init__(self) -> None:
        acc = Accounts()
        acc.add_asset(Asset("ETH", 18))
        acc.add_asset(Asset("EUR", 2))
        ethe = acc.add_market(
            Instrument("ETHEUR", "ETH", "EUR", "1", "0.01", maker_fee="0.001", taker_fee="0.002")
        )
        eure = acc.add_market(
            Instrument(
                "EURETH", "EUR", "ETH", "0.000001", "0.01", maker_fee="0.0005", taker_fee="0.001"
            )
        )
        assert (ethe.base_per_lot, ethe.quote_per_unit) == (WEI_PER_LOT, 1)
        assert (eure.base_per_lot, eure.quote_per_unit) == (1, WEI_PER_UNIT)
        self.acc = acc
        self.seq = 0
        self.hold_id = 0
        self.trade_id: dict[str, int] = {}

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def deposit(self, user: int, asset: str, amount: int) -> None:
        assert run(self.acc, "deposit", "chain", self._next(), 0, user, asset, amount).ok

    def hold(self, user: int, symbol: str, side: Side, qty: int, price: int = 0) -> int:
        self.hold_id += 1
        seq = self._next()
        r = run(
            self.acc, "hold_order", "ord", seq, seq, self.hold_id, user, symbol, side, price, qty
        )
        assert r.ok, r
        return self.hold_id

    def fill(
        self, symbol: str, buy: int, sell: int, price: int, qty: int, maker: Side
    ) -> tuple[Result, Result]:
        """Settle both sides of one trade; the buyer side first."""
        tid = self.trade_id[symbol] = self.trade_id.get(symbol, 0) + 1
        b = run(self.acc, "settle", symbol, tid, tid, buy, BUY, maker is BUY, price, qty)
        s = run(self.acc, "settle", symbol, tid, tid, sell, SELL, maker is SELL, price, qty)
        assert b.ok and s.ok
        return b, s

    def release(self, hold_id: int) -> Result:
        r = run(self.acc, "release", 0, hold_id)
        assert r.ok
        return r

    def trade(
        self,
        symbol: str,
        buyer: int,
        seller: int,
        price: int,
        qty: int,
        maker: Side = SELL,
        limit: int = 0,
    ) -> tuple[Result, Result]:
        """Fund both users, hold, fill completely at ``price`` and release both holds."""
        acc = self.acc
        m = acc.markets[symbol]
        limit = limit or price
        self.deposit(buyer, m.quote.symbol, qty * limit * m.quote_per_unit)
        self.deposit(seller, m.base.symbol, qty * m.base_per_lot)
        buy = self.hold(buyer, symbol, BUY, qty, limit)
        sell = self.hold(seller, symbol, SELL, qty)
        results = self.fill(symbol, buy, sell, price, qty, maker)
        self.release(buy)
        self.release(sell)
        return results

    def free(self, user: int, asset: str) -> int:
        free, locked = self.acc.balance(user, asset)
        assert locked == 0
        return free

    def fees(self, asset: str) -> int:
        return self.acc.system_balance(FEES, asset)


def fee_leg(result: Result) -> list[Leg]:
    return [leg for leg in result.postings[0].legs if leg.account is FEES]


def exact_fee(received: int, rate: str) -> Fraction:
    return received * Fraction(rate)


# --- the fee is rounded up, in the asset received --------------------------------


def test_seller_fee_in_quote_rounds_up_by_one_cent() -> None:
    d = Desk()
    b, s = d.trade("ETHEUR", BUYER, SELLER, price=1999, qty=1234)  # 12.34 ETH at 1999 EUR
    quote_amt = 1999 * 1234
    assert quote_amt == 2_466_766  # 24667.66 EUR
    assert exact_fee(quote_amt, "0.001") == Fraction(2_466_766, 1000)  # 2466.766 cents
    assert fee_leg(s) == [Leg(FEES, 0, "EUR", 2467)]  # one cent above the truncated 2466
    assert d.free(SELLER, "EUR") == 2_466_766 - 2467
    assert d.free(SELLER, "ETH") == 0
    # The buyer pays its taker fee in ETH: 0.2% of 12.34 ETH, exact.
    assert fee_leg(b) == [Leg(FEES, 0, "ETH", 24_680_000_000_000_000)]
    assert d.free(BUYER, "ETH") == 12_340_000_000_000_000_000 - 24_680_000_000_000_000
    assert d.free(BUYER, "EUR") == 0
    assert (d.fees("EUR"), d.fees("ETH")) == (2467, 24_680_000_000_000_000)


def test_seller_fee_in_quote_without_rounding() -> None:
    d = Desk()
    _, s = d.trade("ETHEUR", BUYER, SELLER, price=2000, qty=1234)
    assert fee_leg(s) == [Leg(FEES, 0, "EUR", 2468)]  # 2468000 x 0.001 exactly
    assert d.free(SELLER, "EUR") == 2_468_000 - 2468


def test_buyer_fee_in_base_rounds_up_in_the_two_decimal_asset() -> None:
    d = Desk()
    # 12.34 EUR bought at 0.000300 ETH: the buyer receives 1234 cents, taker 0.001.
    b, s = d.trade("EURETH", BUYER, SELLER, price=300, qty=1234)
    assert exact_fee(1234, "0.001") == Fraction(1234, 1000)
    assert fee_leg(b) == [Leg(FEES, 0, "EUR", 2)]  # 1.234 cents -> 2
    assert d.free(BUYER, "EUR") == 1232
    assert d.free(BUYER, "ETH") == 0
    # The seller receives 300 x 1234 notional units of 10**10 wei, maker 0.0005, exact.
    assert fee_leg(s) == [Leg(FEES, 0, "ETH", 1_851_000_000_000)]
    assert d.free(SELLER, "ETH") == 3_702_000_000_000_000 - 1_851_000_000_000


def test_buyer_fee_in_base_without_rounding() -> None:
    d = Desk()
    b, _ = d.trade("EURETH", BUYER, SELLER, price=300, qty=2000)
    assert fee_leg(b) == [Leg(FEES, 0, "EUR", 2)]
    assert d.free(BUYER, "EUR") == 1998


@pytest.mark.parametrize(
    ("qty", "fee"),
    [(1, 1), (999, 1), (1000, 1), (1001, 2), (1999, 2), (2000, 2), (2001, 3), (123_456, 124)],
)
def test_buyer_fee_is_the_ceiling_of_received_times_rate(qty: int, fee: int) -> None:
    d = Desk()
    b, _ = d.trade("EURETH", BUYER, SELLER, price=1, qty=qty)
    assert fee == ceil(exact_fee(qty, "0.001"))
    assert fee_leg(b) == [Leg(FEES, 0, "EUR", fee)]
    assert d.free(BUYER, "EUR") == qty - fee


def test_amounts_above_two_to_the_64_stay_exact() -> None:
    d = Desk()
    qty = 10**9 + 7  # 10000000.07 ETH in lots of 0.01
    b, s = d.trade("ETHEUR", BUYER, SELLER, price=2345, qty=qty)
    base_amt = 10_000_000_070_000_000_000_000_000  # wei
    assert base_amt == qty * WEI_PER_LOT and base_amt > 2**64
    # Buyer: taker 0.002 of 10000000.07 ETH, no rounding at all.
    assert fee_leg(b) == [Leg(FEES, 0, "ETH", 20_000_000_140_000_000_000_000)]
    got = d.free(BUYER, "ETH")
    assert type(got) is int
    assert got == 9_980_000_069_860_000_000_000_000
    # Seller: 23450000164.15 EUR, maker 0.001 = 23450000.16415 EUR -> rounded up one cent.
    assert fee_leg(s) == [Leg(FEES, 0, "EUR", 2_345_000_017)]
    assert d.free(SELLER, "EUR") == 2_345_000_016_415 - 2_345_000_017
    assert d.acc.system_balance(HOT, "ETH") == base_amt
    assert d.acc.totals() == {"ETH": 0, "EUR": 0}


def test_large_seller_fee_in_eth_is_exact() -> None:
    d = Desk()
    qty = 10**12 + 1  # 10000000000.01 EUR
    b, s = d.trade("EURETH", BUYER, SELLER, price=333, qty=qty)
    quote_amt = 333 * qty * WEI_PER_UNIT
    assert quote_amt == 3_330_000_000_003_330_000_000_000
    assert fee_leg(s) == [Leg(FEES, 0, "ETH", 1_665_000_000_001_665_000_000)]  # x 0.0005
    assert d.free(SELLER, "ETH") == 3_328_335_000_003_328_335_000_000
    assert fee_leg(b) == [Leg(FEES, 0, "EUR", 1_000_000_001)]  # ceil(1000000000.001)


# --- maker and taker rates, tiers ---------------------------------------------------


def test_maker_and_taker_rates_come_from_the_instrument() -> None:
    d = Desk()
    # Buyer is the maker this time: 0.001 of 12.34 ETH; seller the taker: 0.002 of 24680 EUR.
    b, s = d.trade("ETHEUR", BUYER, SELLER, price=2000, qty=1234, maker=BUY)
    assert fee_leg(b) == [Leg(FEES, 0, "ETH", 12_340_000_000_000_000)]
    assert fee_leg(s) == [Leg(FEES, 0, "EUR", 4936)]


def test_a_tier_overrides_the_instrument_rates() -> None:
    d = Desk()
    d.acc.set_tier("vip", "0.0002", "0.0004")
    d.acc.assign_tier(BUYER, "vip")
    b, s = d.trade("ETHEUR", BUYER, SELLER, price=2000, qty=1234)  # buyer takes
    assert fee_leg(b) == [Leg(FEES, 0, "ETH", 4_936_000_000_000_000)]  # 0.0004
    assert fee_leg(s) == [Leg(FEES, 0, "EUR", 2468)]  # seller: instrument maker 0.001
    b, _ = d.trade("ETHEUR", BUYER, SELLER, price=2000, qty=1234, maker=BUY)  # buyer makes
    assert fee_leg(b) == [Leg(FEES, 0, "ETH", 2_468_000_000_000_000)]  # 0.0002
    # The tier applies on every market: EURETH's buyer taker fee is now 0.0004, not 0.001.
    b, _ = d.trade("EURETH", BUYER, SELLER, price=300, qty=1234)
    assert fee_leg(b) == [Leg(FEES, 0, "EUR", 1)]  # ceil(0.4936)
    # Back to the instrument's rates.
    d.acc.assign_tier(BUYER, "")
    b, _ = d.trade("ETHEUR", BUYER, SELLER, price=2000, qty=1234)
    assert fee_leg(b) == [Leg(FEES, 0, "ETH", 24_680_000_000_000_000)]  # 0.002


def test_changing_a_tier_applies_to_later_trades() -> None:
    d = Desk()
    d.acc.set_tier("t", "0.0002", "0.0004")
    d.acc.assign_tier(SELLER, "t")
    _, s = d.trade("ETHEUR", BUYER, SELLER, price=2000, qty=1234)
    assert fee_leg(s) == [Leg(FEES, 0, "EUR", 494)]  # ceil(493.6)
    d.acc.set_tier("t", "0.0003", "0.0004")
    _, s = d.trade("ETHEUR", BUYER, SELLER, price=2000, qty=1234)
    assert fee_leg(s) == [Leg(FEES, 0, "EUR", 741)]  # ceil(740.4)


def test_market_maker_tier_with_zero_maker_fee() -> None:
    d = Desk()
    d.acc.set_tier("mm0", "0", "0.001")
    d.acc.assign_tier(MM, "mm0")
    b, s = d.trade("ETHEUR", BUYER, MM, price=1999, qty=1234)  # MM's ask is the maker
    assert fee_leg(s) == []
    assert s.postings[0].legs[-1] == Leg(FREE, MM, "EUR", 2_466_766)
    assert d.free(MM, "EUR") == 2_466_766
    assert fee_leg(b) == [Leg(FEES, 0, "ETH", 24_680_000_000_000_000)]  # buyer: taker 0.002
    assert d.fees("EUR") == 0
    # As taker the market maker pays its tier's 0.001.
    b, _ = d.trade("ETHEUR", MM, SELLER, price=1999, qty=1234)
    assert fee_leg(b) == [Leg(FEES, 0, "ETH", 12_340_000_000_000_000)]


def test_market_maker_rebate_is_paid_from_fees_and_rounded_toward_zero() -> None:
    d = Desk()
    d.acc.set_tier("mm", "-0.0001", "0.0008")
    d.acc.assign_tier(MM, "mm")
    d.trade("ETHEUR", BUYER, SELLER, price=1999, qty=1234)  # collects 2467 cents of fees
    assert d.fees("EUR") == 2467
    _, s = d.trade("ETHEUR", BUYER, MM, price=1999, qty=1234)  # MM's ask is the maker
    assert exact_fee(2_466_766, "-0.0001") == Fraction(-2_466_766, 10_000)  # -246.6766
    assert fee_leg(s) == [Leg(FEES, 0, "EUR", -246)]  # not -247
    assert Leg(FREE, MM, "EUR", 2_466_766 + 246) in s.postings[0].legs
    assert d.free(MM, "EUR") == 2_466_766 + 246
    assert d.fees("EUR") == 2467 - 246
    assert d.acc.totals() == {"ETH": 0, "EUR": 0}


def test_rebate_in_the_two_decimal_asset_rounds_toward_zero() -> None:
    d = Desk()
    d.acc.set_tier("mm", "-0.0001", "0.0008")
    d.acc.assign_tier(MM, "mm")
    d.trade("EURETH", BUYER, SELLER, price=300, qty=100_000)  # 100 cents of EUR fees
    assert d.fees("EUR") == 100
    # MM's bid is the maker: 12.34 EUR x -0.0001 = -0.1234 cent: no rebate at all.
    b, _ = d.trade("EURETH", MM, SELLER, price=300, qty=1234, maker=BUY)
    assert fee_leg(b) == []
    assert d.free(MM, "EUR") == 1234
    # 123.45 EUR x -0.0001 = -1.2345 cents: one cent.
    b, _ = d.trade("EURETH", MM, SELLER, price=300, qty=12_345, maker=BUY)
    assert fee_leg(b) == [Leg(FEES, 0, "EUR", -1)]
    assert d.free(MM, "EUR") == 1234 + 12_345 + 1
    assert d.fees("EUR") == 99
    assert d.acc.totals() == {"ETH": 0, "EUR": 0}


def test_rebate_in_eth_is_exact_and_may_take_fees_below_zero() -> None:
    d = Desk()
    d.acc.set_tier("mm", "-0.0001", "0.0008")
    d.acc.assign_tier(MM, "mm")
    b, s = d.trade("ETHEUR", MM, SELLER, price=2000, qty=1234, maker=BUY)  # MM's bid makes
    assert fee_leg(b) == [Leg(FEES, 0, "ETH", -1_234_000_000_000_000)]
    assert d.free(MM, "ETH") == 12_340_000_000_000_000_000 + 1_234_000_000_000_000
    assert d.fees("ETH") == -1_234_000_000_000_000  # paid out of the fees account
    assert fee_leg(s) == [Leg(FEES, 0, "EUR", 4936)]  # seller took: 0.002
    assert d.acc.totals() == {"ETH": 0, "EUR": 0}


@pytest.mark.parametrize(
    ("rate", "qty", "price"),
    [
        ("0.001", 1234, 1999),
        ("0.00075", 777, 1333),
        ("0.0001", 1, 1),
        ("0.1", 3, 7),
        ("-0.0001", 1234, 1999),
        ("-0.00025", 999, 1001),
        ("-0.0003", 1, 1),
    ],
)
def test_seller_maker_fee_matches_exact_arithmetic(rate: str, qty: int, price: int) -> None:
    d = Desk()
    d.acc.set_tier("x", rate, "0.001")
    d.acc.assign_tier(SELLER, "x")
    _, s = d.trade("ETHEUR", BUYER, SELLER, price=price, qty=qty)
    exact = exact_fee(price * qty, rate)
    expected = ceil(exact) if exact >= 0 else -floor(-exact)
    assert fee_leg(s) == ([Leg(FEES, 0, "EUR", expected)] if expected else [])
    assert d.free(SELLER, "EUR") == price * qty - expected
    assert 0 <= expected - exact < 1  # fee up, rebate toward zero: both are a ceiling


# --- price improvement ---------------------------------------------------------


def test_price_improvement_for_a_buy_filled_below_its_limit() -> None:
    d = Desk()
    d.deposit(BUYER, "EUR", 5_000_000)  # 50000 EUR
    d.deposit(SELLER, "ETH", 1234 * WEI_PER_LOT)
    sell = d.hold(SELLER, "ETHEUR", SELL, 1234)
    buy = d.hold(BUYER, "ETHEUR", BUY, 2000, price=2100)  # 20 ETH at 2100 EUR
    assert d.acc.balance(BUYER, "EUR") == (5_000_000 - 4_200_000, 4_200_000)
    b, _ = d.fill("ETHEUR", buy, sell, price=1999, qty=1234, maker=SELL)
    used, cost = 1234 * 2100, 1234 * 1999
    assert used - cost == 124_634  # 1246.34 EUR
    legs = b.postings[0].legs
    assert Leg(LOCKED, BUYER, "EUR", -used) in legs
    assert Leg(FREE, BUYER, "EUR", 124_634) in legs
    assert Leg(CLEARING, 0, "EUR", cost) in legs
    # The rest of the hold is exactly the 7.66 ETH still to buy at the limit.
    assert d.acc.balance(BUYER, "EUR") == (800_000 + 124_634, 766 * 2100)
    assert d.acc.holds[buy].amount == 766 * 2100
    r = d.release(buy)
    assert r.postings[0].legs == (
        Leg(LOCKED, BUYER, "EUR", -1_608_600),
        Leg(FREE, BUYER, "EUR", 1_608_600),
    )
    assert d.acc.balance(BUYER, "EUR") == (5_000_000 - cost, 0)
    assert d.acc.balance(BUYER, "ETH") == (1234 * WEI_PER_LOT - 24_680_000_000_000_000, 0)


def test_price_improvement_over_several_fills() -> None:
    d = Desk()
    d.deposit(BUYER, "EUR", 10 * 3000)
    d.deposit(SELLER, "ETH", 10 * WEI_PER_LOT)
    buy = d.hold(BUYER, "ETHEUR", BUY, 10, price=3000)
    sell = d.hold(SELLER, "ETHEUR", SELL, 10)
    d.fill("ETHEUR", buy, sell, price=2990, qty=3, maker=SELL)
    d.fill("ETHEUR", buy, sell, price=2995, qty=3, maker=SELL)
    d.fill("ETHEUR", buy, sell, price=3000, qty=4, maker=SELL)
    assert d.acc.holds[buy].amount == 0
    assert d.acc.balance(BUYER, "EUR") == (30 + 15, 0)
    d.release(buy)
    d.release(sell)
    assert d.acc.balance(BUYER, "EUR") == (45, 0)
    assert d.acc.balance(SELLER, "EUR") == (
        (2990 * 3 - ceil(Fraction(2990 * 3, 1000)))
        + (2995 * 3 - ceil(Fraction(2995 * 3, 1000)))
        + (3000 * 4 - 12),
        0,
    )


# --- conservation ------------------------------------------------------------------


def test_clearing_is_per_side_and_nets_to_zero_once_both_sides_settled() -> None:
    d = Desk()
    d.deposit(BUYER, "EUR", 1234 * 1999)
    d.deposit(SELLER, "ETH", 1234 * WEI_PER_LOT)
    buy = d.hold(BUYER, "ETHEUR", BUY, 1234, price=1999)
    sell = d.hold(SELLER, "ETHEUR", SELL, 1234)
    run(d.acc, "settle", "ETHEUR", 1, 1, buy, BUY, False, 1999, 1234)
    assert d.acc.system_balance(CLEARING, "EUR") == 2_466_766
    assert d.acc.system_balance(CLEARING, "ETH") == -1234 * WEI_PER_LOT
    assert d.acc.totals() == {"ETH": 0, "EUR": 0}
    run(d.acc, "settle", "ETHEUR", 1, 1, sell, SELL, True, 1999, 1234)
    assert d.acc.system_balance(CLEARING, "EUR") == 0
    assert d.acc.system_balance(CLEARING, "ETH") == 0


def test_conservation_after_a_mixed_session() -> None:
    d = Desk()
    d.acc.set_tier("mm", "-0.0001", "0.0008")
    d.acc.set_tier("vip", "0", "0.0005")
    d.acc.assign_tier(MM, "mm")
    d.acc.assign_tier(OTHER, "vip")
    trades = [
        ("ETHEUR", BUYER, SELLER, 1999, 1234, SELL, 2100),
        ("ETHEUR", MM, SELLER, 2001, 10**9 + 7, BUY, 0),
        ("ETHEUR", OTHER, MM, 1777, 333, SELL, 1800),
        ("EURETH", BUYER, MM, 301, 12_345, BUY, 0),
        ("EURETH", MM, OTHER, 299, 10**12 + 1, SELL, 305),
        ("EURETH", OTHER, SELLER, 1, 1, BUY, 0),
    ]
    expected_fees = {"ETH": 0, "EUR": 0}
    for symbol, buyer, seller, price, qty, maker, limit in trades:
        b, s = d.trade(symbol, buyer, seller, price, qty, maker, limit)
        for r in (b, s):
            for leg in fee_leg(r):
                expected_fees[leg.asset] += leg.amount
    assert d.acc.totals() == {"ETH": 0, "EUR": 0}
    for asset in ("ETH", "EUR"):
        assert d.acc.system_balance(CLEARING, asset) == 0
        assert d.fees(asset) == expected_fees[asset]
        users = sum(sum(d.acc.balance(u, asset)) for u in (SELLER, BUYER, MM, OTHER))
        assert users + d.fees(asset) == d.acc.system_balance(HOT, asset)
    assert d.acc.holds == {}
    assert all(locked == 0 for per in d.acc.balances.values() for _, locked in per.values())
