"""snapshot() / restore() / state_hash()."""

from __future__ import annotations

import hashlib
import json

import pytest

from rialto.domain.engine import EngineError, MatchingEngine
from rialto.domain.orders import MarketStatus, OrderType, SelfTradePrevention, Side, TimeInForce

BUY, SELL = Side.BUY, Side.SELL
A, B, C = 1, 2, 3


def busy(ex):
    """A book with levels, FIFO queues, partial fills, client ids and pending stops."""
    ex.sell(A, 100, 1)
    ex.buy(B, 100, 1)  # last price 100
    ex.buy(A, 99, 5, cid="a-bid")
    ex.buy(B, 99, 3)
    ex.buy(C, 98, 4, stp=SelfTradePrevention.NONE)
    ex.sell(A, 101, 2)
    ex.sell(B, 101, 6, cid="b-ask")
    ex.sell(C, 103, 1)
    ex.sell(C, 99, 2)  # partially fills A's bid
    ex.stop(A, SELL, OrderType.STOP_LOSS, 97, 2, cid="a-stop")
    ex.stop(B, BUY, OrderType.STOP_LOSS_LIMIT, 102, 3, price=103)
    ex.stop(C, SELL, OrderType.TAKE_PROFIT_LIMIT, 105, 1, price=104, tif=TimeInForce.IOC)


def test_snapshot_restore_round_trip(ex):
    busy(ex)
    data = ex.engine.snapshot()
    assert isinstance(data, bytes)
    restored = MatchingEngine.restore(data)
    assert restored.snapshot() == data
    assert restored.state_hash() == ex.engine.state_hash()
    assert ex.engine.state_hash() == hashlib.sha256(data).hexdigest()
    assert restored.depth() == ex.engine.depth()
    assert restored.last_price == 99
    for user in (A, B, C):
        assert [o.order_id for o in restored.open_orders(user)] == ex.open_ids(user)


def test_snapshot_is_canonical_json(ex):
    busy(ex)
    data = ex.engine.snapshot()
    state = json.loads(data)
    assert state["version"] == 1
    assert data == json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
    assert ex.engine.snapshot() == data  # taking a snapshot changes nothing


def test_snapshot_of_a_fresh_engine_round_trips(ex):
    data = ex.engine.snapshot()
    assert MatchingEngine.restore(data).snapshot() == data


def test_snapshot_keeps_status_and_instrument(make_ex):
    ex = make_ex(min_notional="10", allowed_stp=(SelfTradePrevention.EXPIRE_MAKER,))
    ex.buy(A, 50, 1)
    ex.halt()
    restored = MatchingEngine.restore(ex.engine.snapshot())
    assert restored.status is MarketStatus.HALT
    assert restored.instrument == ex.engine.instrument
    assert restored.instrument.min_notional_units == 10


def test_state_hash_changes_when_the_book_changes(ex):
    seen = {ex.engine.state_hash()}
    ex.buy(A, 99, 5)
    seen.add(ex.engine.state_hash())
    ex.amend(A, 1, qty=4)
    seen.add(ex.engine.state_hash())
    ex.sell(B, 99, 1)
    seen.add(ex.engine.state_hash())
    ex.cancel(A, 1)
    seen.add(ex.engine.state_hash())
    assert len(seen) == 5


def test_state_hash_is_deterministic(make_ex):
    first, second = make_ex(), make_ex()
    busy(first)
    busy(second)
    assert first.engine.state_hash() == second.engine.state_hash()
    assert first.engine.snapshot() == second.engine.snapshot()


def test_fifo_order_survives_restore(ex):
    ex.sell(A, 100, 1)  # 1
    ex.sell(B, 100, 1)  # 2
    ex.sell(C, 100, 1)  # 3
    ex.amend(A, 1, qty=2)  # to the back
    twin = ex.restored()
    ev = twin.market(B + 10, BUY, 3)
    assert [t.maker_order_id for t in ev.trades] == [2, 3, 1]


def test_restored_engine_continues_identically(ex):
    busy(ex)
    twin = ex.restored()
    d = C + 10  # a user with no orders yet
    steps = [
        lambda e: e.buy(A, 99, 1, cid="a-bid"),  # duplicate client id after restore
        lambda e: e.cancel(B, cid="b-ask"),  # client id index rebuilt
        lambda e: e.market(d, BUY, 5),  # sweeps 101, 103: B's stop-limit triggers and rests
        lambda e: e.sell(B, 105, 1),
        lambda e: e.buy(d, 105, 1),  # trades at 105: C's take-profit triggers, IOC expires
        lambda e: e.amend(A, 3, qty=4),  # keeps priority
        lambda e: e.sell(C, 96, 10),  # sweeps bids, expires own bid, rests at 96
        lambda e: e.buy(d, 96, 2),  # trades at 96: A's stop triggers
        lambda e: e.cancel_all(B),
        lambda e: e.halt(),
        lambda e: e.buy(A, 1, 1),
        lambda e: e.resume(),
        lambda e: e.buy(A, 1, 1),
    ]
    triggered = []
    for step in steps:
        original, replayed = step(ex), step(twin)
        assert replayed == original
        triggered += original.triggered
        assert twin.engine.state_hash() == ex.engine.state_hash()
    assert len(triggered) == 3  # the continuation exercised the restored stops


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"garbage",
        b"\x80\x81\x82",
        b"[]",
        b"null",
        b"42",
        b"{}",
        b'{"version": 1}',
        b'{"version": 1, "instrument": {}}',
    ],
)
def test_restore_of_garbage_raises_engine_error(data):
    with pytest.raises(EngineError):
        MatchingEngine.restore(data)


def test_restore_of_truncated_snapshot_raises_engine_error(ex):
    busy(ex)
    data = ex.engine.snapshot()
    with pytest.raises(EngineError):
        MatchingEngine.restore(data[: len(data) // 2])


@pytest.mark.parametrize("version", [0, 2, "1", None])
def test_restore_of_wrong_version_raises_engine_error(ex, version):
    busy(ex)
    state = json.loads(ex.engine.snapshot())
    state["version"] = version
    with pytest.raises(EngineError, match="version"):
        MatchingEngine.restore(json.dumps(state).encode())


@pytest.mark.parametrize(
    "field",
    ["status", "bids", "next_order_id", "instrument"],
)
def test_restore_of_corrupt_field_raises_engine_error(ex, field):
    busy(ex)
    state = json.loads(ex.engine.snapshot())
    state[field] = "nonsense"
    with pytest.raises(EngineError):
        MatchingEngine.restore(json.dumps(state).encode())


def test_restore_refuses_an_inconsistent_book(ex):
    # Structurally valid JSON that does not describe a valid engine state must not be
    # restored into an engine that would then match on it.
    busy(ex)
    good = json.loads(ex.engine.snapshot())
    corruptions = []
    state = json.loads(json.dumps(good))
    state["asks"][0][0] = state["bids"][0][0]  # two orders with one id
    corruptions.append(state)
    state = json.loads(json.dumps(good))
    state["bids"][0][6] = "99"  # a price that is not an integer
    corruptions.append(state)
    state = json.loads(json.dumps(good))
    state["bids"].append(state["asks"].pop())  # a sell order among the bids
    corruptions.append(state)
    for state in corruptions:
        with pytest.raises(EngineError):
            MatchingEngine.restore(json.dumps(state).encode())
