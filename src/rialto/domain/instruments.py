"""Instrument specs and the strict wire-to-integer conversions behind Binance's filters."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from rialto.domain.numbers import (
    Fixed,
    NumberFormatError,
    format_units,
    multiply,
    parse_fixed,
    parse_signed_fixed,
    units_ceil,
    units_exact,
    units_floor,
)
from rialto.domain.orders import MarketStatus, SelfTradePrevention
from rialto.domain.rejects import FilterError, Reject

ALL_STP_MODES = tuple(SelfTradePrevention)


@dataclass(frozen=True)
class Instrument:
    """One market. Every number is a decimal string as an operator writes it.

    Inside the engine a price is a whole number of ``tick_size`` (ticks), a
    quantity a whole number of ``step_size`` (lots), and a notional a whole number
    of ``tick_size * step_size`` (notional units), so price x quantity is exact.
    An empty ``min_*``/``max_*`` takes the natural default (one tick or lot / no cap).
    """

    symbol: str
    base_asset: str
    quote_asset: str
    tick_size: str
    step_size: str
    min_price: str = ""
    max_price: str = ""
    min_qty: str = ""
    max_qty: str = ""
    market_min_qty: str = ""
    market_max_qty: str = ""
    min_notional: str = "0"
    maker_fee: str = "0.001"
    taker_fee: str = "0.001"
    base_precision: int = 8
    quote_precision: int = 8
    status: MarketStatus = MarketStatus.TRADING
    default_stp: SelfTradePrevention = SelfTradePrevention.EXPIRE_MAKER
    allowed_stp: tuple[SelfTradePrevention, ...] = ALL_STP_MODES

    tick: Fixed = field(init=False, repr=False, compare=False)
    step: Fixed = field(init=False, repr=False, compare=False)
    notional_unit: Fixed = field(init=False, repr=False, compare=False)
    min_price_ticks: int = field(init=False, repr=False, compare=False)
    max_price_ticks: int = field(init=False, repr=False, compare=False)
    min_lots: int = field(init=False, repr=False, compare=False)
    max_lots: int = field(init=False, repr=False, compare=False)
    market_min_lots: int = field(init=False, repr=False, compare=False)
    market_max_lots: int = field(init=False, repr=False, compare=False)
    min_notional_units: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.symbol.isalnum() or not self.symbol.isupper():
            raise ValueError(f"symbol must be upper-case letters and digits: {self.symbol!r}")
        tick = _positive(self.tick_size, "tick_size")
        step = _positive(self.step_size, "step_size")
        derived: dict[str, Any] = {
            "tick": tick,
            "step": step,
            "notional_unit": multiply(tick, step),
            "min_price_ticks": _bound(self.min_price, tick, "min_price", 1),
            "max_price_ticks": _bound(self.max_price, tick, "max_price", _NO_CAP),
            "min_lots": _bound(self.min_qty, step, "min_qty", 1),
            "max_lots": _bound(self.max_qty, step, "max_qty", _NO_CAP),
            "market_min_lots": _bound(self.market_min_qty, step, "market_min_qty", 1),
            "market_max_lots": _bound(self.market_max_qty, step, "market_max_qty", _NO_CAP),
        }
        derived["min_notional_units"] = units_ceil(
            parse_fixed(self.min_notional, "min_notional"), derived["notional_unit"]
        )
        for name, value in derived.items():
            object.__setattr__(self, name, value)
        if self.min_price_ticks > self.max_price_ticks:
            raise ValueError("min_price is above max_price")
        if self.min_lots > self.max_lots or self.market_min_lots > self.market_max_lots:
            raise ValueError("min_qty is above max_qty")
        parse_signed_fixed(self.maker_fee, "maker_fee")
        parse_signed_fixed(self.taker_fee, "taker_fee")
        if self.default_stp not in self.allowed_stp:
            raise ValueError("default_stp must be one of allowed_stp")

    # --- wire -> integers -------------------------------------------------

    def price_ticks(self, text: object, param: str = "price") -> int:
        """A price string as ticks; PRICE_FILTER when off-tick or out of range."""
        ticks = units_exact(parse_fixed(text, param), self.tick)
        if ticks is None or not self.min_price_ticks <= ticks <= self.max_price_ticks:
            raise FilterError(Reject.PRICE_FILTER)
        return ticks

    def qty_lots(self, text: object, param: str = "quantity", market: bool = False) -> int:
        """A quantity string as lots; LOT_SIZE (or MARKET_LOT_SIZE for market orders)."""
        lots = units_exact(parse_fixed(text, param), self.step)
        if lots is None:
            raise FilterError(Reject.LOT_SIZE)
        if market:
            if not self.market_min_lots <= lots <= self.market_max_lots:
                raise FilterError(Reject.MARKET_LOT_SIZE)
        elif not self.min_lots <= lots <= self.max_lots:
            raise FilterError(Reject.LOT_SIZE)
        return lots

    def quote_units(self, text: object, param: str = "quoteOrderQty") -> int:
        """A quote amount as notional units, rounded down so a budget is never exceeded."""
        value = parse_fixed(text, param)
        if value.scale > self.quote_precision:
            raise FilterError(Reject.PRECISION)
        units = units_floor(value, self.notional_unit)
        if units <= 0 or units < self.min_notional_units:
            raise FilterError(Reject.NOTIONAL)
        return units

    # --- integers -> wire -------------------------------------------------

    def format_price(self, ticks: int, decimals: int | None = None) -> str:
        return format_units(ticks, self.tick, decimals)

    def format_qty(self, lots: int, decimals: int | None = None) -> str:
        return format_units(lots, self.step, decimals)

    def format_notional(self, units: int, decimals: int | None = None) -> str:
        return format_units(units, self.notional_unit, decimals)

    # --- persistence ------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.init:
                value = getattr(self, f.name)
                out[f.name] = [str(v) for v in value] if isinstance(value, tuple) else str(value)
        for key in ("base_precision", "quote_precision"):
            out[key] = getattr(self, key)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Instrument:
        kwargs = dict(data)
        kwargs["status"] = MarketStatus(kwargs.get("status", MarketStatus.TRADING))
        kwargs["default_stp"] = SelfTradePrevention(
            kwargs.get("default_stp", SelfTradePrevention.EXPIRE_MAKER)
        )
        kwargs["allowed_stp"] = tuple(
            SelfTradePrevention(v) for v in kwargs.get("allowed_stp", ALL_STP_MODES)
        )
        return cls(**kwargs)


_NO_CAP = 10**60  # above any legal wire number in any unit


def _positive(text: str, name: str) -> Fixed:
    try:
        value = parse_fixed(text, name)
    except NumberFormatError as exc:
        raise ValueError(f"{name} must be a plain decimal, got {text!r}") from exc
    if value.mantissa <= 0:
        raise ValueError(f"{name} must be positive")
    return value


def _bound(text: str, unit: Fixed, name: str, default: int) -> int:
    if text == "":
        return default
    try:
        units = units_exact(parse_fixed(text, name), unit)
    except NumberFormatError as exc:
        raise ValueError(f"{name} must be a plain decimal, got {text!r}") from exc
    if units is None or units <= 0:
        raise ValueError(f"{name} must be a positive multiple of {unit}")
    return units
