"""Instrument specs and the strict wire -> integer conversions behind Binance's filters."""

from __future__ import annotations

from typing import Any

import pytest

from rialto.domain.instruments import ALL_STP_MODES, Instrument
from rialto.domain.numbers import Fixed, NumberFormatError
from rialto.domain.orders import MarketStatus, SelfTradePrevention
from rialto.domain.rejects import BINANCE_ERRORS, FilterError, Reject

BTC: dict[str, Any] = {
    "symbol": "BTCUSDT",
    "base_asset": "BTC",
    "quote_asset": "USDT",
    "tick_size": "0.01",
    "step_size": "0.00001",
    "min_price": "0.01",
    "max_price": "1000000",
    "min_qty": "0.00001",
    "max_qty": "9000",
    "market_min_qty": "0.001",
    "market_max_qty": "100",
    "min_notional": "5",
    "quote_precision": 8,
}


def btc(**overrides: Any) -> Instrument:
    return Instrument(**{**BTC, **overrides})


def filter_reason(call: Any, *args: Any, **kwargs: Any) -> Reject:
    with pytest.raises(FilterError) as info:
        call(*args, **kwargs)
    return info.value.reason


# --- spec validation ------------------------------------------------------


def test_derived_integers() -> None:
    ins = btc()
    assert ins.tick == Fixed(1, 2)
    assert ins.step == Fixed(1, 5)
    assert ins.notional_unit == Fixed(1, 7)
    assert ins.min_price_ticks == 1
    assert ins.max_price_ticks == 100_000_000
    assert ins.min_lots == 1
    assert ins.max_lots == 900_000_000
    assert ins.market_min_lots == 100
    assert ins.market_max_lots == 10_000_000
    assert ins.min_notional_units == 50_000_000  # 5 / 0.0000001


def test_empty_bounds_take_natural_defaults() -> None:
    ins = Instrument("ABCUSD", "ABC", "USD", tick_size="0.5", step_size="2")
    assert ins.min_price_ticks == 1
    assert ins.min_lots == 1
    assert ins.market_min_lots == 1
    assert ins.max_price_ticks >= 10**20
    assert ins.max_lots >= 10**20
    assert ins.min_notional_units == 0
    assert ins.default_stp is SelfTradePrevention.EXPIRE_MAKER
    assert ins.allowed_stp == ALL_STP_MODES
    assert ins.status is MarketStatus.TRADING


def test_min_notional_rounds_up_to_whole_notional_units() -> None:
    # notional unit 0.01 x 0.1 = 0.001: 0.0015 needs 2 units to be reached
    ins = btc(
        tick_size="0.01",
        step_size="0.1",
        min_price="",
        max_price="",
        min_qty="",
        max_qty="",
        market_min_qty="",
        market_max_qty="",
        min_notional="0.0015",
    )
    assert ins.min_notional_units == 2


@pytest.mark.parametrize("tick", ["0", "0.00", "-0.01", "1e-2", "abc", "", " 0.01", "0.01 "])
def test_bad_tick_size(tick: str) -> None:
    with pytest.raises(ValueError, match="tick_size"):
        btc(tick_size=tick, min_price="", max_price="")


@pytest.mark.parametrize("step", ["0", "-1", "NaN", ""])
def test_bad_step_size(step: str) -> None:
    with pytest.raises(ValueError, match="step_size"):
        btc(step_size=step, min_qty="", max_qty="", market_min_qty="", market_max_qty="")


@pytest.mark.parametrize(
    "overrides",
    [
        {"min_price": "100", "max_price": "10"},
        {"min_qty": "2", "max_qty": "1"},
        {"market_min_qty": "2", "market_max_qty": "1"},
    ],
)
def test_min_above_max(overrides: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="above"):
        btc(**overrides)


@pytest.mark.parametrize(
    "overrides",
    [
        {"min_price": "0.001"},  # off tick
        {"max_price": "10.005"},
        {"min_qty": "0.000001"},  # off step
        {"max_qty": "-1"},
        {"market_min_qty": "1e-3"},
        {"min_price": "0"},  # a bound must be positive
        {"min_notional": "-5"},
        {"min_notional": "five"},
        {"maker_fee": "0.1%"},
        {"taker_fee": "+0.001"},
    ],
)
def test_bad_bounds_and_fees(overrides: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        btc(**overrides)


def test_negative_fee_is_a_valid_rebate() -> None:
    assert btc(maker_fee="-0.0001").maker_fee == "-0.0001"


@pytest.mark.parametrize("symbol", ["", "btcusdt", "BTC-USDT", "BTC/USDT", "BTC USDT", "BTCusdt"])
def test_bad_symbol(symbol: str) -> None:
    with pytest.raises(ValueError, match="symbol"):
        btc(symbol=symbol)


@pytest.mark.parametrize("symbol", ["BTCUSDT", "1INCHUSDT", "A1"])
def test_good_symbol(symbol: str) -> None:
    assert btc(symbol=symbol).symbol == symbol


def test_default_stp_must_be_allowed() -> None:
    with pytest.raises(ValueError, match="default_stp"):
        btc(
            default_stp=SelfTradePrevention.EXPIRE_MAKER,
            allowed_stp=(SelfTradePrevention.NONE, SelfTradePrevention.EXPIRE_TAKER),
        )


# --- price_ticks ------------------------------------------------------------


def test_price_ticks_exact() -> None:
    ins = btc()
    assert ins.price_ticks("30000.01") == 3000001
    assert ins.price_ticks("30000.010000") == 3000001
    assert ins.price_ticks("0.01") == 1
    assert ins.price_ticks("1000000") == 100_000_000


@pytest.mark.parametrize("price", ["30000.001", "0.015", "0.009"])
def test_price_off_tick_is_price_filter(price: str) -> None:
    assert filter_reason(btc().price_ticks, price) is Reject.PRICE_FILTER


@pytest.mark.parametrize("price", ["0", "0.00", "1000000.01", "99999999"])
def test_price_out_of_range_is_price_filter(price: str) -> None:
    assert filter_reason(btc().price_ticks, price) is Reject.PRICE_FILTER


def test_filter_error_carries_binance_message() -> None:
    with pytest.raises(FilterError) as info:
        btc().price_ticks("0.001")
    assert str(info.value) == "Filter failure: PRICE_FILTER"
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("price", ["-1", "1e5", "NaN", " 1", "1.", ".5", "", 1.5, None])
def test_malformed_price_is_1100_naming_parameter(price: object) -> None:
    with pytest.raises(NumberFormatError) as info:
        btc().price_ticks(price)
    assert info.value.param == "price"
    assert str(info.value).startswith("Illegal characters found in parameter 'price';")


def test_malformed_stop_price_names_its_parameter() -> None:
    with pytest.raises(NumberFormatError, match="parameter 'stopPrice'"):
        btc().price_ticks("1e3", "stopPrice")


# --- qty_lots ---------------------------------------------------------------


def test_qty_lots_exact() -> None:
    ins = btc()
    assert ins.qty_lots("0.5") == 50_000
    assert ins.qty_lots("0.00001") == 1
    assert ins.qty_lots("9000") == 900_000_000
    assert ins.qty_lots("0.5", market=True) == 50_000


@pytest.mark.parametrize("market", [False, True])
def test_qty_off_step_is_lot_size(market: bool) -> None:
    assert filter_reason(btc().qty_lots, "0.000015", market=market) is Reject.LOT_SIZE


@pytest.mark.parametrize("qty", ["0", "9000.00001", "100000"])
def test_limit_qty_out_of_range_is_lot_size(qty: str) -> None:
    assert filter_reason(btc().qty_lots, qty) is Reject.LOT_SIZE


@pytest.mark.parametrize("qty", ["0", "0.0001", "0.00099", "100.00001", "9000"])
def test_market_qty_out_of_range_is_market_lot_size(qty: str) -> None:
    assert filter_reason(btc().qty_lots, qty, market=True) is Reject.MARKET_LOT_SIZE


def test_market_range_is_separate_from_limit_range() -> None:
    ins = btc()
    # Fine for a limit order, too small for a market order.
    assert ins.qty_lots("0.0001") == 10
    # Fine for a limit order, too large for a market order.
    assert ins.qty_lots("1000") == 100_000_000


@pytest.mark.parametrize("qty", ["-0.5", "5e-1", "inf", "0.5 ", None, 0.5])
def test_malformed_qty_is_1100_naming_parameter(qty: object) -> None:
    with pytest.raises(NumberFormatError, match="parameter 'quantity'"):
        btc().qty_lots(qty)


def test_18_decimal_step_stays_exact() -> None:
    ins = Instrument(
        "WEIETH", "WEI", "ETH", tick_size="0.000000000000000001", step_size="0.000000000000000001"
    )
    assert ins.qty_lots("1.000000000000000001") == 10**18 + 1
    assert ins.qty_lots("0.000000000000000001") == 1
    assert ins.price_ticks("123456789.123456789012345678") == 123456789123456789012345678
    assert filter_reason(ins.qty_lots, "0.0000000000000000001") is Reject.LOT_SIZE
    assert ins.format_qty(10**18 + 1) == "1.000000000000000001"
    assert ins.format_notional(1) == "0." + "0" * 35 + "1"


def test_empty_max_means_no_cap_for_any_legal_wire_number() -> None:
    # "An empty min_*/max_* takes the natural default (one tick or lot / no cap)": with no
    # max_price / max_qty configured, the largest number the wire format allows must pass.
    ins = Instrument(
        "WEIETH", "WEI", "ETH", tick_size="0.000000000000000001", step_size="0.000000000000000001"
    )
    biggest = "9" * 20 + "." + "9" * 18
    assert ins.price_ticks(biggest) == int("9" * 38)
    assert ins.qty_lots(biggest) == int("9" * 38)
    assert ins.qty_lots(biggest, market=True) == int("9" * 38)


# --- quote_units ------------------------------------------------------------


def test_quote_units_exact() -> None:
    ins = btc()
    assert ins.quote_units("5") == 50_000_000
    assert ins.quote_units("100.12345678") == 1_001_234_567  # 8 decimals, rounded down


def test_quote_units_rounds_down_to_notional_unit() -> None:
    # notional unit 0.01 x 0.1 = 0.001; quote precision lets 4 decimals through
    ins = btc(
        step_size="0.1",
        min_qty="",
        max_qty="",
        market_min_qty="",
        market_max_qty="",
        min_notional="0",
        quote_precision=4,
    )
    assert ins.quote_units("1.0009") == 1000
    assert ins.quote_units("1.0019") == 1001


def test_quote_with_too_many_decimals_is_precision() -> None:
    assert filter_reason(btc().quote_units, "10.123456789") is Reject.PRECISION


def test_quote_below_min_notional_is_notional() -> None:
    ins = btc()
    assert filter_reason(ins.quote_units, "4.99999999") is Reject.NOTIONAL
    assert filter_reason(ins.quote_units, "0") is Reject.NOTIONAL


def test_quote_rounding_to_zero_is_notional() -> None:
    ins = btc(
        min_notional="0",
        step_size="1",
        min_qty="",
        max_qty="",
        market_min_qty="",
        market_max_qty="",
    )
    # notional unit 0.01; 0.001 rounds down to 0 units
    assert filter_reason(ins.quote_units, "0.001") is Reject.NOTIONAL


def test_malformed_quote_is_1100_naming_parameter() -> None:
    with pytest.raises(NumberFormatError, match="parameter 'quoteOrderQty'"):
        btc().quote_units("-5")


# --- formatting ---------------------------------------------------------------


def test_format_price_qty_notional() -> None:
    ins = btc()
    assert ins.format_price(3000001) == "30000.01"
    assert ins.format_price(3000001, 8) == "30000.01000000"
    assert ins.format_qty(50_000) == "0.50000"
    assert ins.format_notional(3000001 * 50_000) == "15000.0050000"
    with pytest.raises(ValueError):
        ins.format_price(3000001, 1)


# --- persistence ----------------------------------------------------------------


def test_to_dict_from_dict_round_trip() -> None:
    ins = btc(
        status=MarketStatus.HALT,
        default_stp=SelfTradePrevention.EXPIRE_BOTH,
        allowed_stp=(SelfTradePrevention.NONE, SelfTradePrevention.EXPIRE_BOTH),
        base_precision=5,
        quote_precision=2,
        maker_fee="-0.0001",
    )
    data = ins.to_dict()
    assert data["allowed_stp"] == ["NONE", "EXPIRE_BOTH"]
    assert data["status"] == "HALT"
    assert data["base_precision"] == 5
    back = Instrument.from_dict(data)
    assert back == ins
    assert back.status is MarketStatus.HALT
    assert back.default_stp is SelfTradePrevention.EXPIRE_BOTH
    assert back.allowed_stp == (SelfTradePrevention.NONE, SelfTradePrevention.EXPIRE_BOTH)
    assert back.min_notional_units == ins.min_notional_units
    assert back.to_dict() == data


def test_to_dict_is_json_plain() -> None:
    import json

    data = btc().to_dict()
    assert json.loads(json.dumps(data)) == data
    assert Instrument.from_dict(json.loads(json.dumps(data))) == btc()


# --- Binance error table ----------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "code", "msg"),
    [
        (Reject.PRICE_FILTER, -1013, "Filter failure: PRICE_FILTER"),
        (Reject.LOT_SIZE, -1013, "Filter failure: LOT_SIZE"),
        (Reject.MARKET_LOT_SIZE, -1013, "Filter failure: MARKET_LOT_SIZE"),
        (Reject.NOTIONAL, -1013, "Filter failure: NOTIONAL"),
        (Reject.MARKET_CLOSED, -1013, "Market is closed."),
        (Reject.WOULD_TAKE, -2010, "Order would immediately match and take."),
        (Reject.DUPLICATE_ORDER, -2010, "Duplicate order sent."),
        (Reject.UNKNOWN_ORDER, -2011, "Unknown order sent."),
        (
            Reject.INSUFFICIENT_BALANCE,
            -2010,
            "Account has insufficient balance for requested action.",
        ),
        (Reject.PRECISION, -1111, "Precision is over the maximum defined for this asset."),
    ],
)
def test_binance_error_messages(reason: Reject, code: int, msg: str) -> None:
    assert BINANCE_ERRORS[reason] == (code, msg)


def test_every_reject_has_a_binance_error() -> None:
    assert set(BINANCE_ERRORS) == set(Reject)
    for code, msg in BINANCE_ERRORS.values():
        assert code < 0
        assert msg
