"""Column types: whole numbers of any size, stored exactly on every engine."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Numeric, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

# The widest exact integer all three engines hold: MariaDB's DECIMAL stops at 65 digits.
AMOUNT_DIGITS = 65
AMOUNT_LIMIT = 10**AMOUNT_DIGITS


class Amount(TypeDecorator[int]):
    """A signed whole number (minor units, ticks, lots) that may exceed 64 bits.

    DECIMAL(65,0) on MariaDB, NUMERIC(78,0) on PostgreSQL and TEXT on SQLite, whose NUMERIC
    affinity would turn big values into floats. Always binds and returns a Python ``int``; a
    float, a Decimal or a value of 65 digits or more is refused, so every engine agrees.
    SQLite compares TEXT as text: never sort or compare amounts in SQL.
    """

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(Numeric(AMOUNT_DIGITS, 0))
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(78, 0))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: int | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if type(value) is not int:
            raise TypeError(f"an amount must be an int, got {type(value).__name__}")
        if not -AMOUNT_LIMIT < value < AMOUNT_LIMIT:
            raise ValueError(f"an amount must have fewer than {AMOUNT_DIGITS} digits")
        if dialect.name == "sqlite":
            return str(value)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        if isinstance(value, Decimal):
            if value != value.to_integral_value():
                raise ValueError(f"an amount column held a fraction: {value}")
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            return int(value)
        raise TypeError(f"unexpected amount from the database: {value!r}")
