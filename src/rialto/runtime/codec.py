"""Journal records of exchange requests: ``[seq, ts, tag, *fields]`` as compact JSON.

The sequencer's stamp (``seq``, ``ts``) is part of the record, so a replay feeds the
domain exactly what it saw the first time. orjson is fast but limited to 64-bit
integers (and reads bigger ones as floats), so a record holding a bigger amount (an
18-decimal asset) is written by the standard library instead, marked with ``J``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

from rialto.domain import requests as req
from rialto.domain.orders import MarketStatus, OrderType, SelfTradePrevention, Side, TimeInForce

_SIDE = {s.value: s for s in Side}
_TYPE = {t.value: t for t in OrderType}
_TIF = {t.value: t for t in TimeInForce}
_STP = {s.value: s for s in SelfTradePrevention}
_STATUS = {s.value: s for s in MarketStatus}


class CodecError(ValueError):
    """A journal record that is not a request this version understands."""


def _typed(fields: list[Any], types: tuple[type, ...]) -> list[Any]:
    """``fields`` when each has exactly its type (a bool is not an int)."""
    if len(fields) != len(types) or any(
        type(v) is not t for v, t in zip(fields, types, strict=True)
    ):
        raise CodecError(f"fields {fields!r} do not have the types {types}")
    return fields


INT, STR = int, str


def _new_order(f: list[Any]) -> req.NewOrder:
    _typed(f[:2] + f[4:6] + f[7:10], (INT, STR, INT, INT, INT, INT, STR))
    user, symbol, side, otype, qty, price, tif, quote, stop, cid, stp = f
    return req.NewOrder(
        user,
        symbol,
        _SIDE[side],
        _TYPE[otype],
        qty,
        price,
        _TIF[tif],
        quote,
        stop,
        cid,
        None if stp is None else _STP[stp],
    )


def _add_market(f: list[Any]) -> req.AddMarket:
    (spec,) = f
    if not isinstance(spec, list) or not all(isinstance(kv, list) and len(kv) == 2 for kv in spec):
        raise CodecError(f"not a market spec: {spec!r}")
    return req.AddMarket(tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in spec))


def _set_status(f: list[Any]) -> req.SetMarketStatus:
    symbol, status = _typed(f, (STR, STR))
    return req.SetMarketStatus(symbol, _STATUS[status])


# Tags are part of the on-disk format: never renumber, only add.
_DECODERS: dict[int, Callable[[list[Any]], req.Request]] = {
    1: _new_order,
    2: lambda f: req.CancelOrder(*_typed(f, (INT, STR, INT, STR))),
    3: lambda f: req.CancelAllOrders(*_typed(f, (INT, STR))),
    4: lambda f: req.AmendOrder(*_typed(f, (INT, STR, INT, INT, INT))),
    5: lambda f: req.Deposit(*_typed(f, (INT, STR, INT))),
    6: lambda f: req.Adjust(*_typed(f, (INT, STR, INT, STR))),
    7: lambda f: req.AddAsset(*_typed(f, (STR, INT))),
    8: _add_market,
    9: _set_status,
    10: lambda f: req.CreateUser(*_typed(f, (STR, STR))),
}
_TAGS: dict[type, int] = {
    req.NewOrder: 1,
    req.CancelOrder: 2,
    req.CancelAllOrders: 3,
    req.AmendOrder: 4,
    req.Deposit: 5,
    req.Adjust: 6,
    req.AddAsset: 7,
    req.AddMarket: 8,
    req.SetMarketStatus: 9,
    req.CreateUser: 10,
}


def encode(seq: int, ts: int, r: req.Request) -> bytes:
    record = [seq, ts, _TAGS[type(r)], *r]
    try:
        return orjson.dumps(record)
    except TypeError:  # an integer beyond 64 bits
        return b"J" + json.dumps(record, separators=(",", ":")).encode()


def decode(data: bytes) -> tuple[int, int, req.Request]:
    try:
        record = json.loads(data[1:]) if data[:1] == b"J" else orjson.loads(data)
        seq, ts, tag, *fields = record
        return seq, ts, _DECODERS[tag](fields)
    except (ValueError, TypeError, KeyError) as exc:
        raise CodecError(f"undecodable journal record: {exc}") from exc
