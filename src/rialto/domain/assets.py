"""Assets and their minor units."""

from __future__ import annotations

from dataclasses import dataclass

from rialto.domain.numbers import Fixed, format_fixed, parse_fixed, pow10
from rialto.domain.rejects import FilterError, Reject


@dataclass(frozen=True)
class Asset:
    """An asset whose amounts are whole numbers of ``10**-decimals`` (minor units).

    Amounts are Python ints, so an 18-decimal asset never overflows or rounds.
    """

    symbol: str
    decimals: int

    def __post_init__(self) -> None:
        if not self.symbol.isalnum() or not self.symbol.isupper():
            raise ValueError(f"asset symbol must be upper-case letters and digits: {self.symbol!r}")
        if not 0 <= self.decimals <= 36:
            raise ValueError("decimals must be between 0 and 36")

    def parse(self, text: object, param: str = "amount") -> int:
        """A wire amount as minor units; more decimals than the asset has is refused."""
        value = parse_fixed(text, param)
        if value.scale > self.decimals:
            raise FilterError(Reject.PRECISION)
        return value.mantissa * pow10(self.decimals - value.scale)

    def format(self, units: int) -> str:
        return format_fixed(units, self.decimals)

    def unit_of(self, size: Fixed) -> int | None:
        """How many minor units one ``size`` is, or None if it is finer than a minor unit."""
        if size.scale > self.decimals:
            scaled, rest = divmod(size.mantissa, pow10(size.scale - self.decimals))
            return None if rest else scaled
        return size.mantissa * pow10(self.decimals - size.scale)
