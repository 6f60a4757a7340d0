"""Journal records of exchange requests: ``[seq, ts, tag, *fields]`` as compact JSON.

The sequencer's stamp (``seq``, ``ts``) is part of the record, so a replay feeds the
domain exactly what it saw the first time. orjson is fast but limited to 64-bit
integers (and reads bigger ones as floats), so a record holding a bigger amount (an
18-decimal asset) is written by the standard library instead, marked with ``J``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NamedTuple

import orjson

from rialto.domain import requests as req
from rialto.domain import shards
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
    if tuple(map(type, fields)) != types:
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


def _place(f: list[Any]) -> shards.Place:
    order = _new_order(f[:11])
    hold_id, cap, hold_price, held_qty = _typed(f[11:], (INT, INT, INT, INT))
    return shards.Place(*order, hold_id, cap, hold_price, held_qty)


def _settle(f: list[Any]) -> shards.Settle:
    symbol, trade_id, hold_id, side, is_maker, price, qty = f
    _typed(
        [symbol, trade_id, hold_id, side, is_maker, price, qty],
        (STR, INT, INT, STR, bool, INT, INT),
    )
    return shards.Settle(symbol, trade_id, hold_id, _SIDE[side], is_maker, price, qty)


def _create_api_key(f: list[Any]) -> req.CreateApiKey:
    user, key, kind, verifier, perms, ips = f
    _typed([user, key, kind, verifier, perms, ips], (INT, STR, STR, STR, list, list))
    if not all(type(v) is str for v in [*perms, *ips]):
        raise CodecError(f"not lists of strings: {perms!r} {ips!r}")
    return req.CreateApiKey(user, key, kind, verifier, tuple(perms), tuple(ips))


# Tags are part of the on-disk format: never renumber, only add.
_DECODERS: dict[int, Callable[[list[Any]], shards.Message]] = {
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
    11: _place,
    12: _settle,
    13: lambda f: shards.Release(*_typed(f, (STR, INT))),
    14: _create_api_key,
    15: lambda f: req.RevokeApiKey(*_typed(f, (INT, STR))),
    16: lambda f: req.SetMarketRisk(*_typed(f, (STR, INT, INT, INT, INT))),
    17: lambda f: req.ResumeMarket(*_typed(f, (STR,))),
    18: lambda f: req.SetFeeTier(*_typed(f, (STR, STR, STR))),
    19: lambda f: req.AssignFeeTier(*_typed(f, (INT, STR))),
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
    shards.Place: 11,
    shards.Settle: 12,
    shards.Release: 13,
    req.CreateApiKey: 14,
    req.RevokeApiKey: 15,
    req.SetMarketRisk: 16,
    req.ResumeMarket: 17,
    req.SetFeeTier: 18,
    req.AssignFeeTier: 19,
}


def _dumps(record: list[Any]) -> bytes:
    try:
        return orjson.dumps(record)
    except TypeError:  # an integer beyond 64 bits
        return b"J" + json.dumps(record, separators=(",", ":")).encode()


def _loads(data: bytes) -> Any:
    return json.loads(data[1:]) if data[:1] == b"J" else orjson.loads(data)


def _message(tag: Any, fields: list[Any]) -> shards.Message:
    if type(tag) is not int or tag not in _DECODERS:
        raise CodecError(f"unknown record tag {tag!r}")
    return _DECODERS[tag](fields)


_BETWEEN_SHARDS = frozenset({11, 12, 13})


def encode(seq: int, ts: int, r: req.Request) -> bytes:
    return _dumps([seq, ts, _TAGS[type(r)], *r])


def decode(data: bytes) -> tuple[int, int, req.Request]:
    try:
        seq, ts, tag, *fields = _loads(data)
        if tag in _BETWEEN_SHARDS:
            raise CodecError(f"tag {tag} is a message between shards, not a request")
        return seq, ts, _message(tag, fields)  # type: ignore[return-value]
    except (ValueError, TypeError, KeyError) as exc:
        raise CodecError(f"undecodable journal record: {exc}") from exc


class Input(NamedTuple):
    """One record of a shard's journal: the input and where it came from."""

    seq: int
    ts: int
    inbox_seq: int  # its message's position in the shard's inbox
    source: str  # the sending shard; "" for a caller's request
    number: int  # its number from ``source`` (0 for a caller's request)
    rid: str  # the caller's request id and reply subject ("" when nobody waits)
    reply: str
    msg: shards.Message


def encode_input(i: Input) -> bytes:
    return _dumps([*i[:7], _TAGS[type(i.msg)], *i.msg])


def decode_input(data: bytes) -> Input:
    try:
        seq, ts, inbox_seq, source, number, rid, reply, tag, *fields = _loads(data)
        _typed(
            [seq, ts, inbox_seq, source, number, rid, reply], (INT, INT, INT, STR, INT, STR, STR)
        )
        return Input(seq, ts, inbox_seq, source, number, rid, reply, _message(tag, fields))
    except (ValueError, TypeError, KeyError) as exc:
        raise CodecError(f"undecodable shard record: {exc}") from exc


def encode_message(msg: shards.Message, number: int = 0, rid: str = "", reply: str = "") -> bytes:
    """A message on the bus: a caller's request (number 0) or one shard's send to another."""
    return _dumps([number, rid, reply, _TAGS[type(msg)], *msg])


def decode_message(data: bytes) -> tuple[int, str, str, shards.Message]:
    try:
        number, rid, reply, tag, *fields = _loads(data)
        _typed([number, rid, reply], (INT, STR, STR))
        return number, rid, reply, _message(tag, fields)
    except (ValueError, TypeError, KeyError) as exc:
        raise CodecError(f"undecodable message: {exc}") from exc
