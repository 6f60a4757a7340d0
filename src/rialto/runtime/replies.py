"""Answers to callers on the bus: an outcome as JSON, enums as their names."""

from __future__ import annotations

from enum import Enum
from typing import Any

import orjson

from rialto.domain.exchange import Outcome
from rialto.domain.postings import Posting
from rialto.domain.rejects import BINANCE_ERRORS


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 1 << 63:
        return str(value)
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def event_dict(event: Any) -> dict[str, Any]:
    d = {k: _plain(v) for k, v in event._asdict().items()}
    d["type"] = type(event).__name__
    return d


def outcome_reply(rid: str, shard: str, o: Outcome) -> bytes:
    body: dict[str, Any] = {
        "rid": rid,
        "shard": shard,
        "seq": o.seq,
        "ts": o.ts,
        "symbol": o.symbol,
        "order_id": o.order_id,
        "user_id": o.user_id,
        "events": [event_dict(e) for e in o.events if not isinstance(e, Posting)],
    }
    if o.reject is not None:
        code, msg = BINANCE_ERRORS[o.reject]
        body["reject"] = {"name": o.reject.name, "code": code, "msg": msg}
    return orjson.dumps(body)


def refusal_reply(rid: str, error: str) -> bytes:
    return orjson.dumps({"rid": rid, "error": error})
