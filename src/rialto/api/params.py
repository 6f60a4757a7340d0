"""Request parameters as Binance reads them: query string and form body, query first."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from rialto.api import errors
from rialto.domain.orders import OrderType, SelfTradePrevention, Side, TimeInForce

_INT = re.compile(r"[0-9]{1,20}")
INT_RANGE = "^[0-9]{1,20}$"  # Binance's legal range for integer parameters (-1100)
SYMBOLS_RANGE = '^\\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\\]$'
_CLIENT_ID = re.compile(r"[A-Za-z0-9._:/-]{1,36}")


class Params:
    def __init__(self, raw_query: bytes, raw_body: bytes = b"") -> None:
        self.values: dict[str, str] = {}
        try:
            query = parse_qsl(raw_query.decode(), keep_blank_values=True, strict_parsing=False)
            body = parse_qsl(raw_body.decode(), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError as exc:
            raise errors.illegal_chars_in_a_parameter() from exc
        seen: set[str] = set()
        for k, v in query:
            if k in seen:
                raise errors.duplicate_values()
            seen.add(k)
            self.values[k] = v
        body_seen: set[str] = set()
        for k, v in body:
            if k in body_seen:
                raise errors.duplicate_values()
            body_seen.add(k)
            self.values.setdefault(k, v)  # the query string wins

    def get(self, name: str) -> str | None:
        value = self.values.get(name)
        return value if value not in (None, "") else None

    def need(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise errors.mandatory_missing(name)
        return value

    def integer(
        self, name: str, default: int | None = None, *, low: int = 0, high: int = 2**63 - 1
    ) -> int | None:
        """An integer parameter: -1100 unless 1-20 ASCII digits (as Binance), -1102 when
        out of ``[low, high]``."""
        value = self.get(name)
        if value is None:
            return default
        if not _INT.fullmatch(value):
            raise errors.illegal_chars(name, INT_RANGE)
        if not low <= int(value) <= high:
            raise errors.mandatory_missing(name)
        return int(value)

    def limit(self, default: int, high: int) -> int:
        value = self.integer("limit", default, low=1)
        assert value is not None
        return min(value, high)

    def side(self) -> Side:
        try:
            return Side(self.need("side"))
        except ValueError as exc:
            raise errors.invalid_side() from exc

    def order_type(self) -> OrderType:
        try:
            return OrderType(self.need("type"))
        except ValueError as exc:
            raise errors.invalid_order_type() from exc

    def tif(self) -> TimeInForce | None:
        value = self.get("timeInForce")
        if value is None:
            return None
        try:
            return TimeInForce(value)
        except ValueError as exc:
            raise errors.invalid_tif() from exc

    def stp(self) -> SelfTradePrevention | None:
        value = self.get("selfTradePreventionMode")
        if value is None:
            return None
        try:
            return SelfTradePrevention(value)
        except ValueError as exc:
            raise errors.invalid_parameter("selfTradePreventionMode") from exc

    def client_order_id(self, name: str = "newClientOrderId") -> str:
        value = self.get(name)
        if value is None:
            return ""
        if not _CLIENT_ID.fullmatch(value):
            raise errors.illegal_chars(name, "^[a-zA-Z0-9-_.:/]{1,36}$")
        return value

    def symbols(self) -> list[str] | None:
        """``symbols=["A","B"]`` (a JSON array, as Binance takes it)."""
        value = self.get("symbols")
        if value is None:
            return None
        text = value.strip()
        if not (text.startswith("[") and text.endswith("]")):
            raise errors.illegal_chars(
                "symbols", '^\\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\\]$'
            )
        items = [s.strip().strip('"') for s in text[1:-1].split(",") if s.strip()]
        if not items:
            raise errors.param_empty("symbols")
        return items
