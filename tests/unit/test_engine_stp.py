"""Self-trade prevention: decided by the taker's mode (or the instrument default)."""

from __future__ import annotations

from rialto.domain.orders import OrderStatus, SelfTradePrevention, Side, TimeInForce
from rialto.domain.rejects import Reject

BUY, SELL = Side.BUY, Side.SELL
FOK = TimeInForce.FOK
NONE = SelfTradePrevention.NONE
EXPIRE_TAKER = SelfTradePrevention.EXPIRE_TAKER
EXPIRE_MAKER = SelfTradePrevention.EXPIRE_MAKER
EXPIRE_BOTH = SelfTradePrevention.EXPIRE_BOTH
PARTIALLY_FILLED = OrderStatus.PARTIALLY_FILLED
FILLED = OrderStatus.FILLED
EXPIRED = OrderStatus.EXPIRED
EIM = OrderStatus.EXPIRED_IN_MATCH

ME, OTHER = 1, 2


def test_none_trades_with_self(ex):
    ex.sell(ME, 100, 2)  # 1
    ev = ex.buy(ME, 100, 1, stp=NONE)  # 2
    assert ev.accepted.stp is NONE
    [trade] = ev.trades
    assert (trade.maker_user_id, trade.taker_user_id) == (ME, ME)
    assert ev.fills == [(100, 1, 1, 2)]
    assert ev.statuses == [(1, PARTIALLY_FILLED), (2, FILLED)]
    assert ex.asks == [(100, 1)]


def test_expire_taker_stops_at_own_order_without_touching_it(ex):
    ex.sell(ME, 100, 2)  # 1
    ex.sell(OTHER, 101, 2)  # 2
    before = ex.engine.depth()
    ev = ex.buy(ME, 101, 3, stp=EXPIRE_TAKER)  # 3
    assert ev.kinds == ["OrderAccepted", "OrderUpdate"]
    taker = ev.update(3)
    assert (taker.status, taker.remaining, taker.filled) == (EIM, 3, 0)
    assert ex.engine.depth() == before
    assert ex.open_ids(ME) == [1]


def test_expire_taker_after_partial_fill(ex):
    ex.sell(OTHER, 100, 1)  # 1
    ex.sell(ME, 100, 2)  # 2
    ex.sell(OTHER, 100, 5)  # 3
    ev = ex.buy(ME, 100, 4, stp=EXPIRE_TAKER)  # 4
    assert ev.kinds == ["OrderAccepted", "Trade", "OrderUpdate", "OrderUpdate", "BookDelta"]
    assert ev.fills == [(100, 1, 1, 4)]
    taker = ev.update(4)
    assert (taker.status, taker.remaining, taker.filled, taker.filled_quote) == (EIM, 3, 1, 100)
    assert ev.deltas == [(SELL, 100, 7)]
    assert ex.bids == []  # the taker does not rest
    assert ex.queue(SELL, 100) == [2, 3]


def test_expire_maker_expires_own_order_and_continues_to_the_next_maker(ex):
    ex.sell(ME, 100, 2, cid="mine")  # 1
    ex.sell(OTHER, 100, 1)  # 2
    ex.sell(OTHER, 101, 1)  # 3
    ev = ex.buy(ME, 101, 3, stp=EXPIRE_MAKER)  # 4
    assert ev.kinds == [
        "OrderAccepted",
        "OrderUpdate",  # own maker 1 expired
        "Trade",
        "OrderUpdate",
        "Trade",
        "OrderUpdate",
        "OrderUpdate",  # taker rests
        "BookDelta",
        "BookDelta",
        "BookDelta",
    ]
    assert ev.statuses == [(1, EIM), (2, FILLED), (3, FILLED), (4, PARTIALLY_FILLED)]
    expired = ev.update(1)
    assert (expired.filled, expired.client_order_id) == (0, "mine")
    assert ev.fills == [(100, 1, 2, 4), (101, 1, 3, 4)]
    taker = ev.update(4)
    assert (taker.remaining, taker.filled, taker.filled_quote) == (1, 2, 201)
    assert sorted(ev.deltas) == [(BUY, 101, 1), (SELL, 100, 0), (SELL, 101, 0)]
    assert ex.asks == []
    assert ex.bids == [(101, 1)]
    assert ex.open_ids(ME) == [4]
    # The expired order's client id is free again.
    assert ex.sell(ME, 200, 1, cid="mine").oid == 5


def test_expire_maker_is_the_default_on_a_default_instrument(ex):
    ex.sell(ME, 100, 2)  # 1
    ev = ex.buy(ME, 100, 2)  # 2: no stp given
    assert ev.accepted.stp is EXPIRE_MAKER
    assert ev.trades == []
    assert ev.statuses == [(1, EIM)]
    assert ex.asks == []
    assert ex.bids == [(100, 2)]


def test_expire_both(ex):
    ex.sell(ME, 100, 2)  # 1
    ex.sell(OTHER, 100, 1)  # 2
    ev = ex.buy(ME, 100, 3, stp=EXPIRE_BOTH)  # 3
    assert ev.kinds == ["OrderAccepted", "OrderUpdate", "OrderUpdate", "BookDelta"]
    assert ev.statuses == [(1, EIM), (3, EIM)]
    assert ev.trades == []
    assert ev.deltas == [(SELL, 100, 1)]
    assert ex.queue(SELL, 100) == [2]
    assert ex.bids == []
    assert ex.open_ids(ME) == []


def test_expire_both_after_trading(ex):
    ex.sell(OTHER, 100, 1)  # 1
    ex.sell(ME, 101, 1)  # 2
    ev = ex.market(ME, BUY, 5, stp=EXPIRE_BOTH)  # 3
    assert ev.fills == [(100, 1, 1, 3)]
    assert ev.statuses == [(1, FILLED), (2, EIM), (3, EIM)]
    taker = ev.update(3)
    assert (taker.filled, taker.remaining) == (1, 4)
    assert ex.asks == []


def test_stp_only_between_orders_of_the_same_user(ex):
    ex.sell(OTHER, 100, 1)
    ev = ex.buy(ME, 100, 1, stp=EXPIRE_BOTH)
    assert ev.fills == [(100, 1, 1, 2)]


def test_taker_mode_decides_not_the_makers(ex):
    ex.sell(ME, 100, 1, stp=EXPIRE_BOTH)  # 1: its mode is irrelevant as a maker
    ev = ex.buy(ME, 100, 1, stp=NONE)  # 2
    assert ev.fills == [(100, 1, 1, 2)]


def test_instrument_default_applies_when_stp_is_none(make_ex):
    ex = make_ex(default_stp=EXPIRE_TAKER)
    ex.sell(ME, 100, 1)  # 1
    ev = ex.buy(ME, 100, 1)  # 2
    assert ev.accepted.stp is EXPIRE_TAKER
    assert ev.statuses == [(2, EIM)]
    assert ex.asks == [(100, 1)]
    # An explicit mode overrides the default.
    ev = ex.buy(ME, 100, 1, stp=NONE)  # 3
    assert ev.fills == [(100, 1, 1, 3)]


def test_stp_mode_not_allowed(make_ex):
    ex = make_ex(allowed_stp=(EXPIRE_MAKER, EXPIRE_TAKER))
    for mode in (NONE, EXPIRE_BOTH):
        ev = ex.buy(ME, 100, 1, stp=mode, cid="x")
        assert ev.reject is Reject.STP_MODE_NOT_ALLOWED
        assert len(ev) == 1
    assert ex.market(ME, BUY, 1, stp=NONE).reject is Reject.STP_MODE_NOT_ALLOWED
    assert ex.buy(ME, 100, 1, stp=EXPIRE_TAKER).oid == 1
    assert ex.buy(ME, 100, 1).accepted.stp is EXPIRE_MAKER


def test_market_by_quote_with_expire_maker(ex):
    ex.sell(ME, 100, 5)  # 1
    ex.sell(OTHER, 100, 5)  # 2
    ev = ex.market(ME, BUY, quote_qty=300, stp=EXPIRE_MAKER)  # 3
    assert ev.statuses == [(1, EIM), (2, PARTIALLY_FILLED), (3, FILLED)]
    assert ev.fills == [(100, 3, 2, 3)]


# --- FOK with self-trade prevention ---------------------------------------------------------


def test_fok_expire_maker_skips_own_orders_when_checking(ex):
    ex.sell(ME, 100, 2)  # 1
    ex.sell(OTHER, 100, 3)  # 2
    ev = ex.buy(ME, 100, 3, tif=FOK, stp=EXPIRE_MAKER)  # 3
    assert ev.statuses == [(1, EIM), (2, FILLED), (3, FILLED)]
    assert ev.fills == [(100, 3, 2, 3)]
    assert ex.asks == []


def test_fok_expire_maker_that_cannot_fill_leaves_own_orders_alone(ex):
    ex.sell(ME, 100, 2)  # 1
    ex.sell(OTHER, 100, 3)  # 2
    before = ex.engine.depth()
    ev = ex.buy(ME, 100, 4, tif=FOK, stp=EXPIRE_MAKER)  # 3: 5 on the book, only 3 not mine
    assert ev.kinds == ["OrderAccepted", "OrderUpdate"]
    assert ev.statuses == [(3, EXPIRED)]
    assert ex.engine.depth() == before
    assert ex.queue(SELL, 100) == [1, 2]


def test_fok_expire_taker_cannot_fill_past_own_order(ex):
    ex.sell(ME, 100, 2)  # 1
    ex.sell(OTHER, 100, 3)  # 2
    before = ex.engine.depth()
    ev = ex.buy(ME, 100, 1, tif=FOK, stp=EXPIRE_TAKER)  # 3
    assert ev.kinds == ["OrderAccepted", "OrderUpdate"]
    assert ev.update(3).status is EXPIRED
    assert ex.engine.depth() == before


def test_fok_expire_taker_fills_before_reaching_own_order(ex):
    ex.sell(OTHER, 100, 3)  # 1
    ex.sell(ME, 100, 2)  # 2
    ev = ex.buy(ME, 100, 3, tif=FOK, stp=EXPIRE_TAKER)  # 3
    assert ev.statuses == [(1, FILLED), (3, FILLED)]
    assert ex.queue(SELL, 100) == [2]


def test_fok_expire_both_cannot_fill_past_own_order(ex):
    ex.sell(OTHER, 100, 1)  # 1
    ex.sell(ME, 100, 2)  # 2
    ex.sell(OTHER, 100, 3)  # 3
    before = ex.engine.depth()
    ev = ex.buy(ME, 100, 3, tif=FOK, stp=EXPIRE_BOTH)  # 4
    assert ev.trades == []
    assert ev.statuses == [(4, EXPIRED)]
    assert ex.engine.depth() == before


def test_fok_none_counts_own_orders(ex):
    ex.sell(ME, 100, 2)  # 1
    ex.sell(OTHER, 100, 1)  # 2
    ev = ex.buy(ME, 100, 3, tif=FOK, stp=NONE)  # 3
    assert ev.fills == [(100, 2, 1, 3), (100, 1, 2, 3)]
    assert ev.update(3).status is FILLED
