"""Wire decimals <-> exact integers (rialto.domain.numbers)."""

from __future__ import annotations

import pytest

from rialto.domain.numbers import (
    LEGAL_RANGE,
    Fixed,
    NumberFormatError,
    format_fixed,
    format_units,
    multiply,
    parse_fixed,
    parse_signed_fixed,
    pow10,
    units_ceil,
    units_exact,
    units_floor,
    units_to_fixed,
)

BINANCE_1100 = (
    "Illegal characters found in parameter 'price'; "
    "legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'."
)

# Everything that is not ^([0-9]{1,20})(\.[0-9]{1,20})?$
MALFORMED = [
    "-1",
    "+1",
    "1e5",
    "1E5",
    "NaN",
    "nan",
    "inf",
    "Infinity",
    " 1",
    "1 ",
    "1\n",
    "1.",
    ".5",
    "",
    ".",
    "1,5",
    "1.2.3",
    "0x10",
    "1_000",
    "\u0661",  # Arabic-Indic digit one: a digit to str.isdigit, not to the wire format
    "1" * 21,
    "1." + "1" * 21,
]
NOT_STRINGS = [1.5, None, 1, 0, b"1", True, ["1"]]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", Fixed(0, 0)),
        ("1", Fixed(1, 0)),
        ("0.5", Fixed(5, 1)),
        ("0.00100", Fixed(100, 5)),
        ("30000.01", Fixed(3000001, 2)),
        ("007", Fixed(7, 0)),
        ("9" * 20, Fixed(int("9" * 20), 0)),
        ("9" * 20 + "." + "9" * 20, Fixed(int("9" * 40), 20)),
        ("0.000000000000000001", Fixed(1, 18)),
    ],
)
def test_parse_fixed_accepts_plain_decimals(text: str, expected: Fixed) -> None:
    assert parse_fixed(text) == expected


@pytest.mark.parametrize("text", MALFORMED)
def test_parse_fixed_rejects_malformed(text: str) -> None:
    with pytest.raises(NumberFormatError):
        parse_fixed(text, "price")


@pytest.mark.parametrize("value", NOT_STRINGS)
def test_parse_fixed_rejects_non_strings(value: object) -> None:
    with pytest.raises(NumberFormatError) as info:
        parse_fixed(value, "quantity")
    assert info.value.param == "quantity"
    assert info.value.text == value


def test_number_format_error_is_binance_1100_message_naming_the_parameter() -> None:
    with pytest.raises(NumberFormatError) as info:
        parse_fixed("1e5", "price")
    assert str(info.value) == BINANCE_1100
    assert info.value.param == "price"
    assert info.value.text == "1e5"
    assert isinstance(info.value, ValueError)
    assert LEGAL_RANGE == "^([0-9]{1,20})(\\.[0-9]{1,20})?$"


def test_parse_fixed_default_parameter_name() -> None:
    with pytest.raises(NumberFormatError, match="parameter 'value'"):
        parse_fixed("x")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", Fixed(0, 0)),
        ("-0", Fixed(0, 0)),
        ("0.001", Fixed(1, 3)),
        ("-0.001", Fixed(-1, 3)),
        ("-12.50", Fixed(-1250, 2)),
        ("-" + "9" * 20 + "." + "9" * 20, Fixed(-int("9" * 40), 20)),
    ],
)
def test_parse_signed_fixed_accepts_optional_minus(text: str, expected: Fixed) -> None:
    assert parse_signed_fixed(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "+1",
        "--1",
        "-",
        "- 1",
        "1-",
        "-1e5",
        "-NaN",
        "-inf",
        " -1",
        "-1.",
        "-.5",
        "",
        "-" + "1" * 21,
    ],
)
def test_parse_signed_fixed_rejects_malformed(text: str) -> None:
    with pytest.raises(NumberFormatError):
        parse_signed_fixed(text, "maker_fee")


@pytest.mark.parametrize("value", NOT_STRINGS)
def test_parse_signed_fixed_rejects_non_strings(value: object) -> None:
    with pytest.raises(NumberFormatError) as info:
        parse_signed_fixed(value, "taker_fee")
    assert info.value.param == "taker_fee"


@pytest.mark.parametrize(
    ("mantissa", "scale", "text"),
    [
        (0, 0, "0"),
        (0, 3, "0.000"),
        (5, 2, "0.05"),
        (-5, 2, "-0.05"),
        (3000001, 2, "30000.01"),
        (100, 5, "0.00100"),
        (12, 0, "12"),
        (12, -2, "1200"),
        (-12, -1, "-120"),
        (1, 18, "0.000000000000000001"),
        (10**18 + 1, 18, "1.000000000000000001"),
    ],
)
def test_format_fixed(mantissa: int, scale: int, text: str) -> None:
    assert format_fixed(mantissa, scale) == text


def test_fixed_str_and_round_trip() -> None:
    for text in ["0", "0.00100", "30000.01", "123456789.987654321"]:
        assert str(parse_fixed(text)) == text


def test_units_exact_whole_and_fractional() -> None:
    tick = Fixed(1, 2)  # 0.01
    assert units_exact(parse_fixed("30000.01"), tick) == 3000001
    assert units_exact(parse_fixed("0.5"), tick) == 50
    assert units_exact(parse_fixed("0.50000"), tick) == 50
    assert units_exact(parse_fixed("0"), tick) == 0
    assert units_exact(parse_fixed("0.005"), tick) is None
    assert units_exact(parse_fixed("1.001"), tick) is None
    # A unit that is not a power of ten.
    assert units_exact(parse_fixed("1.5"), parse_fixed("0.5")) == 3
    assert units_exact(parse_fixed("1.25"), parse_fixed("0.5")) is None


def test_units_floor_and_ceil() -> None:
    unit = parse_fixed("0.5")
    assert units_floor(parse_fixed("1.4"), unit) == 2
    assert units_ceil(parse_fixed("1.4"), unit) == 3
    assert units_floor(parse_fixed("1.5"), unit) == 3
    assert units_ceil(parse_fixed("1.5"), unit) == 3
    assert units_floor(parse_fixed("0.0001"), unit) == 0
    assert units_ceil(parse_fixed("0.0001"), unit) == 1
    assert units_floor(parse_fixed("0"), unit) == 0
    assert units_ceil(parse_fixed("0"), unit) == 0


def test_units_are_exact_at_18_decimals_and_40_digits() -> None:
    step = parse_fixed("0.000000000000000001")
    assert units_exact(parse_fixed("1.000000000000000001"), step) == 10**18 + 1
    huge = parse_fixed("9" * 20 + "." + "9" * 20)
    tiny = parse_fixed("0." + "0" * 19 + "1")
    assert units_exact(huge, tiny) == int("9" * 40)
    assert units_floor(parse_fixed("0.0000000000000000019"), step) == 1
    assert units_ceil(parse_fixed("0.0000000000000000011"), step) == 2


def test_units_to_fixed_and_multiply() -> None:
    assert units_to_fixed(3000001, Fixed(1, 2)) == Fixed(3000001, 2)
    assert units_to_fixed(3, Fixed(5, 1)) == Fixed(15, 1)
    assert multiply(Fixed(1, 2), Fixed(1, 5)) == Fixed(1, 7)
    assert multiply(parse_fixed("30000.01"), parse_fixed("0.5")) == Fixed(15000005, 3)


def test_format_units_defaults_to_the_units_scale() -> None:
    assert format_units(3, Fixed(1, 2)) == "0.03"
    assert format_units(3000001, Fixed(1, 2)) == "30000.01"
    assert format_units(3, Fixed(5, 1)) == "1.5"
    assert format_units(0, Fixed(1, 8)) == "0.00000000"


def test_format_units_pads_to_more_decimals() -> None:
    assert format_units(3, Fixed(1, 2), 4) == "0.0300"
    assert format_units(3, Fixed(1, 2), 2) == "0.03"
    assert format_units(7, Fixed(1, 0), 3) == "7.000"


def test_format_units_never_rounds() -> None:
    with pytest.raises(ValueError, match="round"):
        format_units(3, Fixed(1, 2), 1)
    with pytest.raises(ValueError):
        format_units(10, Fixed(1, 2), 0)  # 0.10 would need rounding to 0 decimals


def test_pow10() -> None:
    assert pow10(0) == 1
    assert pow10(18) == 10**18
    with pytest.raises(ValueError):
        pow10(-1)
