"""Decimal strings on the wire <-> integers inside.

Nothing here uses float or Decimal arithmetic on money: a wire value is parsed
into (digits, scale) and every conversion is exact integer arithmetic.
"""

from __future__ import annotations

import re
from typing import NamedTuple

# Binance's legal range for numeric parameters (its -1100 message quotes it).
LEGAL_RANGE = r"^([0-9]{1,20})(\.[0-9]{1,20})?$"
_DECIMAL = re.compile(r"([0-9]{1,20})(?:\.([0-9]{1,20}))?")
_SIGNED = re.compile(r"(-?)([0-9]{1,20})(?:\.([0-9]{1,20}))?")


class NumberFormatError(ValueError):
    """A wire number that is not a plain non-negative decimal (Binance -1100)."""

    def __init__(self, param: str, text: object) -> None:
        self.param = param
        self.text = text
        super().__init__(
            f"Illegal characters found in parameter '{param}'; legal range is '{LEGAL_RANGE}'."
        )


class Fixed(NamedTuple):
    """An exact decimal: ``mantissa / 10**scale``."""

    mantissa: int
    scale: int

    def __str__(self) -> str:
        return format_fixed(self.mantissa, self.scale)


def parse_fixed(text: object, param: str = "value") -> Fixed:
    """Parse a plain non-negative decimal string such as ``"0.00100"``.

    Rejects signs, exponents, NaN/Infinity, whitespace, more than 20 digits
    on either side of the point, and anything that is not a ``str``.
    """
    if not isinstance(text, str):
        raise NumberFormatError(param, text)
    m = _DECIMAL.fullmatch(text)
    if m is None:
        raise NumberFormatError(param, text)
    whole, frac = m.group(1), m.group(2) or ""
    return Fixed(int(whole + frac), len(frac))


def parse_signed_fixed(text: object, param: str = "value") -> Fixed:
    """Like :func:`parse_fixed` but allows a leading ``-`` (fee rates, adjustments)."""
    if not isinstance(text, str):
        raise NumberFormatError(param, text)
    m = _SIGNED.fullmatch(text)
    if m is None:
        raise NumberFormatError(param, text)
    sign, whole, frac = m.group(1), m.group(2), m.group(3) or ""
    value = int(whole + frac)
    return Fixed(-value if sign else value, len(frac))


def format_fixed(mantissa: int, scale: int) -> str:
    """Render ``mantissa / 10**scale`` with exactly ``scale`` decimals."""
    sign = "-" if mantissa < 0 else ""
    digits = str(abs(mantissa))
    if scale <= 0:
        return sign + digits + "0" * -scale
    digits = digits.rjust(scale + 1, "0")
    return f"{sign}{digits[:-scale]}.{digits[-scale:]}"


def pow10(n: int) -> int:
    """``10**n`` for ``n >= 0``, typed as the int it is."""
    if n < 0:
        raise ValueError("negative power of ten")
    result: int = 10**n
    return result


def _ratio(value: Fixed, unit: Fixed) -> tuple[int, int]:
    return value.mantissa * pow10(unit.scale), unit.mantissa * pow10(value.scale)


def units_exact(value: Fixed, unit: Fixed) -> int | None:
    """``value / unit`` when it is a whole number, else ``None``."""
    num, den = _ratio(value, unit)
    q, r = divmod(num, den)
    return None if r else q


def units_floor(value: Fixed, unit: Fixed) -> int:
    """``floor(value / unit)``."""
    num, den = _ratio(value, unit)
    return num // den


def units_ceil(value: Fixed, unit: Fixed) -> int:
    """``ceil(value / unit)``."""
    num, den = _ratio(value, unit)
    return -(-num // den)


def units_to_fixed(units: int, unit: Fixed) -> Fixed:
    """``units * unit`` as an exact decimal."""
    return Fixed(units * unit.mantissa, unit.scale)


def format_units(units: int, unit: Fixed, decimals: int | None = None) -> str:
    """Render ``units * unit`` with ``decimals`` places (default: the unit's own scale).

    ``decimals`` must not be smaller than the unit's scale: nothing is rounded.
    """
    scale = unit.scale if decimals is None else decimals
    if scale < unit.scale:
        raise ValueError("format_units would round; give at least the unit's scale")
    return format_fixed(units * unit.mantissa * pow10(scale - unit.scale), scale)


def multiply(a: Fixed, b: Fixed) -> Fixed:
    return Fixed(a.mantissa * b.mantissa, a.scale + b.scale)
