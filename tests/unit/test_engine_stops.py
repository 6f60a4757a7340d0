"""Stop orders: directions, refusal, triggering inside the crossing command, order, cascades."""

from __future__ import annotations

import pytest

from rialto.domain.events import OrderRejected, StopTriggered
from rialto.domain.orders import OrderStatus, OrderType, Side, TimeInForce
from rialto.domain.rejects import Reject

BUY, SELL = Side.BUY, Side.SELL
STOP_LOSS = OrderType.STOP_LOSS
STOP_LOSS_LIMIT = OrderType.STOP_LOSS_LIMIT
TAKE_PROFIT = OrderType.TAKE_PROFIT
TAKE_PROFIT_LIMIT = OrderType.TAKE_PROFIT_LIMIT
NEW = OrderStatus.NEW
PARTIALLY_FILLED = OrderStatus.PARTIALLY_FILLED
FILLED = OrderStatus.FILLED
CANCELED = OrderStatus.CANCELED
EXPIRED = OrderStatus.EXPIRED

TRADER = 1  # owns the stops
LP = 5  # provides liquidity for triggered orders
SELLER, BUYER = 90, 91  # print trades at chosen prices


def print_trade(ex, price, qty=1):
    """A trade at ``price`` between two bystanders; returns the events of the crossing order."""
    ex.sell(SELLER, price, qty)
    return ex.buy(BUYER, price, qty)


# (type, side, stop, price that moves towards the stop without reaching it)
# with the last price at 100: falls trigger at last <= stop, rises at last >= stop.
DIRECTIONS = [
    (STOP_LOSS, SELL, 95, 97),  # fall
    (STOP_LOSS_LIMIT, SELL, 95, 97),
    (TAKE_PROFIT, BUY, 95, 97),  # fall
    (TAKE_PROFIT_LIMIT, BUY, 95, 97),
    (STOP_LOSS, BUY, 105, 103),  # rise
    (STOP_LOSS_LIMIT, BUY, 105, 103),
    (TAKE_PROFIT, SELL, 105, 103),  # rise
    (TAKE_PROFIT_LIMIT, SELL, 105, 103),
]


def limit_price_for(order_type, side):
    if order_type in (STOP_LOSS_LIMIT, TAKE_PROFIT_LIMIT):
        return 80 if side is SELL else 120  # marketable once triggered
    return 0


@pytest.mark.parametrize(("order_type", "side", "stop", "near"), DIRECTIONS)
def test_stop_triggers_in_its_direction(ex, order_type, side, stop, near):
    ex.trade_at(100)  # orders 1, 2
    ex.buy(LP, 90, 10)  # 3: bids for triggered sells
    ex.sell(LP, 110, 10)  # 4: asks for triggered buys
    ev = ex.stop(TRADER, side, order_type, stop, 2, price=limit_price_for(order_type, side))
    stop_id = ev.oid
    assert stop_id == 5
    assert ev.kinds == ["OrderAccepted"]  # waits off the book
    assert ev.accepted.stop_price == stop
    assert ex.open_ids(TRADER) == [5]
    assert ex.bids == [(90, 10)] and ex.asks == [(110, 10)]

    ev = print_trade(ex, near)  # moves towards the stop without reaching it
    assert ev.triggered == []
    beyond = stop - 2 if stop < 100 else stop + 2
    ev = print_trade(ex, beyond)  # moves past the stop
    assert ev.triggered == [stop_id]
    [trig] = ev.of(StopTriggered)
    assert (trig.stop_price, trig.last_price, trig.user_id) == (stop, beyond, TRADER)
    maker_price = 90 if side is SELL else 110
    assert ev.fills[-1] == (maker_price, 2, 4 if side is BUY else 3, stop_id)
    assert ev.update(stop_id).status is FILLED
    assert ex.open_ids(TRADER) == []


@pytest.mark.parametrize(("order_type", "side", "stop", "near"), DIRECTIONS)
def test_stop_triggers_when_last_equals_stop(ex, order_type, side, stop, near):
    ex.trade_at(100)
    ex.stop(TRADER, side, order_type, stop, 1, price=limit_price_for(order_type, side))
    assert print_trade(ex, near).triggered == []
    assert print_trade(ex, stop).triggered == [3]


@pytest.mark.parametrize(("order_type", "side", "stop", "near"), DIRECTIONS)
def test_stop_that_would_trigger_immediately_is_refused(ex, order_type, side, stop, near):
    ex.trade_at(100)
    price = limit_price_for(order_type, side)
    # Mirror the stop to the other side of the last price: the condition already holds.
    for bad in (100, 200 - stop):
        ev = ex.stop(TRADER, side, order_type, bad, 1, price=price, cid="s")
        assert ev == [
            OrderRejected(ex.seq, 1000 + ex.seq, TRADER, 0, "s", Reject.WOULD_TRIGGER_IMMEDIATELY)
        ]
    assert ex.stop(TRADER, side, order_type, stop, 1, price=price).oid == 3
    assert ex.open_ids(TRADER) == [3]


def test_any_stop_waits_before_the_first_trade(ex):
    ex.sell(LP, 110, 10)  # 1
    a = ex.stop(TRADER, SELL, STOP_LOSS, 95, 1).oid  # 2: fall
    b = ex.stop(TRADER, BUY, STOP_LOSS, 1, 1).oid  # 3: rise, would hold at any price
    c = ex.stop(TRADER, SELL, TAKE_PROFIT, 10_000, 1).oid  # 4: rise
    assert (a, b, c) == (2, 3, 4)
    ev = print_trade(ex, 100)  # the first trade of the symbol
    assert ev.triggered == [b]
    assert ex.open_ids(TRADER) == [a, c]


def test_trigger_happens_inside_the_crossing_command(ex):
    ex.trade_at(100)  # 1, 2
    ex.buy(LP, 90, 5)  # 3
    stop_id = ex.stop(TRADER, SELL, STOP_LOSS, 95, 2).oid  # 4
    ex.sell(SELLER, 95, 1)  # 5
    ev = ex.buy(BUYER, 95, 1)  # 6
    assert ev.kinds == [
        "OrderAccepted",
        "Trade",  # the crossing trade at 95
        "OrderUpdate",  # its maker
        "OrderUpdate",  # its taker
        "StopTriggered",
        "Trade",  # the stop, now a market sell
        "OrderUpdate",  # LP's bid
        "OrderUpdate",  # the stop order
        "BookDelta",
        "BookDelta",
    ]
    assert ev.fills == [(95, 1, 5, 6), (90, 2, 3, stop_id)]
    assert [t.trade_id for t in ev.trades] == [2, 3]
    assert ev[4] == StopTriggered(6, 1006, stop_id, TRADER, 95, 95)
    assert ev.update(stop_id).status is FILLED
    assert ev.update(3).status is PARTIALLY_FILLED
    assert sorted(ev.deltas) == [(BUY, 90, 3), (SELL, 95, 0)]
    assert ex.engine.last_price == 90


def test_triggered_market_stop_without_liquidity_expires(ex):
    ex.trade_at(100)
    stop_id = ex.stop(TRADER, SELL, STOP_LOSS, 95, 2).oid
    ev = print_trade(ex, 95)
    assert ev.triggered == [stop_id]
    u = ev.update(stop_id)
    assert (u.status, u.filled, u.remaining) == (EXPIRED, 0, 2)
    assert ex.open_ids(TRADER) == []


def test_several_stops_on_a_fall_go_highest_stop_first_then_oldest(ex):
    ex.trade_at(100)  # 1, 2
    ex.buy(LP, 96, 100)  # 3
    s97 = ex.stop(TRADER, SELL, STOP_LOSS, 97, 1).oid  # 4
    s99_old = ex.stop(TRADER, SELL, STOP_LOSS, 99, 1).oid  # 5
    s99_new = ex.stop(TRADER + 1, SELL, STOP_LOSS, 99, 1).oid  # 6
    s98 = ex.stop(TRADER, SELL, STOP_LOSS, 98, 1).oid  # 7
    ev = ex.market(SELLER, SELL, 1)  # 8: trades at 96
    assert ev.triggered == [s99_old, s99_new, s98, s97]
    taker_order = [t.taker_order_id for t in ev.trades]
    assert taker_order == [8, s99_old, s99_new, s98, s97]
    assert ex.bids == [(96, 95)]


def test_several_stops_on_a_rise_go_lowest_stop_first_then_oldest(ex):
    ex.trade_at(100)  # 1, 2
    ex.sell(LP, 104, 100)  # 3
    s103 = ex.stop(TRADER, BUY, STOP_LOSS, 103, 1).oid  # 4
    s101_old = ex.stop(TRADER, BUY, STOP_LOSS, 101, 1).oid  # 5
    s102 = ex.stop(TRADER, BUY, STOP_LOSS, 102, 1).oid  # 6
    s101_new = ex.stop(TRADER, BUY, STOP_LOSS, 101, 1).oid  # 7
    tp = ex.stop(TRADER, SELL, TAKE_PROFIT_LIMIT, 102, 1, price=150).oid  # 8: rises too
    ev = ex.market(BUYER, BUY, 1)  # 9: trades at 104
    assert ev.triggered == [s101_old, s101_new, s102, tp, s103]
    # The sell take-profit limit at 150 rests; the buys trade at 104.
    assert ex.asks == [(104, 95), (150, 1)]


def test_stops_in_both_directions_at_once_go_oldest_first(ex):
    rise = ex.stop(TRADER, BUY, STOP_LOSS, 100, 1).oid  # 1
    fall = ex.stop(TRADER, SELL, STOP_LOSS, 100, 1).oid  # 2
    ev = print_trade(ex, 100)  # the first trade is at both stops
    assert ev.triggered == [rise, fall]


def test_cascade_within_one_command(ex):
    ex.trade_at(100)  # 1, 2
    ex.buy(LP, 97, 1)  # 3
    ex.buy(LP, 95, 5)  # 4
    a = ex.stop(TRADER, SELL, STOP_LOSS, 98, 2).oid  # 5
    b = ex.stop(TRADER, SELL, STOP_LOSS, 95, 1).oid  # 6
    c = ex.stop(TRADER, SELL, STOP_LOSS, 90, 1).oid  # 7: never reached
    ev = print_trade(ex, 98)  # 8, 9
    assert ev.triggered == [a, b]
    assert ev.fills == [(98, 1, 8, 9), (97, 1, 3, a), (95, 1, 4, a), (95, 1, 4, b)]
    triggers = ev.of(StopTriggered)
    assert [(t.stop_price, t.last_price) for t in triggers] == [(98, 98), (95, 95)]
    assert ev.update(a).status is FILLED
    assert ev.update(b).status is FILLED
    assert ex.open_ids(TRADER) == [c]
    assert ex.bids == [(95, 3)]


def test_amend_that_trades_can_trigger_stops(ex):
    ex.trade_at(100)  # 1, 2
    ex.buy(LP, 90, 5)  # 3
    ex.sell(SELLER, 95, 1)  # 4
    resting = ex.buy(BUYER, 94, 1).oid  # 5
    stop_id = ex.stop(TRADER, SELL, STOP_LOSS, 95, 1).oid  # 6
    ev = ex.amend(BUYER, resting, price=95)
    assert ev.fills == [(95, 1, 4, resting), (90, 1, 3, stop_id)]
    assert ev.triggered == [stop_id]


def test_cancel_pending_stop(ex):
    ex.trade_at(100)
    stop_id = ex.stop(TRADER, SELL, STOP_LOSS_LIMIT, 95, 1, price=94, cid="sl").oid
    ev = ex.cancel(TRADER, stop_id)
    assert ev.kinds == ["OrderUpdate"]  # no book level changed
    u = ev.update(stop_id)
    assert (u.status, u.client_order_id, u.remaining) == (CANCELED, "sl", 1)
    assert ex.open_ids(TRADER) == []
    assert print_trade(ex, 90).triggered == []
    # Cancel by client id, and the id is reusable afterwards.
    other = ex.stop(TRADER, SELL, STOP_LOSS, 85, 1, cid="sl").oid
    assert ex.cancel(TRADER, cid="sl").statuses == [(other, CANCELED)]
    assert print_trade(ex, 80).triggered == []


def test_stop_limit_rests_after_triggering(ex):
    ex.trade_at(100)  # 1, 2
    ex.sell(LP, 106, 2)  # 3
    stop_id = ex.stop(TRADER, BUY, STOP_LOSS_LIMIT, 105, 5, price=106, cid="sll").oid  # 4
    ev = print_trade(ex, 105)
    assert ev.triggered == [stop_id]
    assert ev.fills[-1] == (106, 2, 3, stop_id)
    u = ev.update(stop_id)
    assert (u.status, u.price, u.remaining, u.filled) == (PARTIALLY_FILLED, 106, 3, 2)
    assert ex.bids == [(106, 3)]
    assert ex.open_ids(TRADER) == [stop_id]
    # Now on the book it makes, and can be amended and cancelled like any limit order.
    ev = ex.market(SELLER, SELL, 1)
    assert ev.fills == [(106, 1, stop_id, ev.oid)]
    assert ex.amend(TRADER, stop_id, qty=4).amended.remaining == 1
    assert ex.cancel(TRADER, cid="sll").statuses == [(stop_id, CANCELED)]
    assert ex.bids == []


def test_stop_limit_triggered_without_liquidity_rests_quietly(ex):
    ex.trade_at(100)
    stop_id = ex.stop(TRADER, SELL, STOP_LOSS_LIMIT, 95, 3, price=94).oid
    ev = print_trade(ex, 95)
    assert ev.kinds[-3:] == ["StopTriggered", "BookDelta", "BookDelta"]
    assert sorted(ev.deltas) == [(SELL, 94, 3), (SELL, 95, 0)]
    assert ex.asks == [(94, 3)]
    assert ex.engine.orders[stop_id].status is NEW


def test_stop_limit_keeps_its_time_in_force(ex):
    ex.trade_at(100)
    ex.buy(LP, 94, 1)  # 3
    stop_id = ex.stop(TRADER, SELL, STOP_LOSS_LIMIT, 95, 3, price=94, tif=TimeInForce.IOC).oid  # 4
    ev = print_trade(ex, 95)
    assert ev.fills[-1] == (94, 1, 3, stop_id)
    u = ev.update(stop_id)
    assert (u.status, u.filled, u.remaining) == (EXPIRED, 1, 2)
    assert ex.asks == []


def test_amend_of_pending_stop_is_refused(ex):
    ex.trade_at(100)
    stop_id = ex.stop(TRADER, SELL, STOP_LOSS_LIMIT, 95, 2, price=94, cid="s").oid
    for kw in ({"qty": 1}, {"price": 93}, {"qty": 3}):
        ev = ex.amend(TRADER, stop_id, **kw)
        assert ev == [
            OrderRejected(ex.seq, 1000 + ex.seq, TRADER, stop_id, "s", Reject.AMEND_NOT_ALLOWED)
        ]
    market_stop = ex.stop(TRADER, BUY, STOP_LOSS, 105, 2).oid
    assert ex.amend(TRADER, market_stop, qty=1).reject is Reject.AMEND_NOT_ALLOWED
    # Still pending and unchanged.
    order = ex.engine.orders[stop_id]
    assert (order.price, order.qty) == (94, 2)
    assert print_trade(ex, 95).triggered == [stop_id]


def test_stop_price_and_limit_price_filters(make_ex):
    ex = make_ex(min_price="10", max_price="1000")
    assert ex.stop(TRADER, SELL, STOP_LOSS, 0, 1).reject is Reject.PRICE_FILTER
    assert ex.stop(TRADER, SELL, STOP_LOSS, 1001, 1).reject is Reject.PRICE_FILTER
    assert ex.stop(TRADER, SELL, STOP_LOSS_LIMIT, 50, 1, price=5).reject is Reject.PRICE_FILTER
    assert ex.stop(TRADER, SELL, STOP_LOSS_LIMIT, 50, 0, price=50).reject is Reject.LOT_SIZE
    assert ex.stop(TRADER, SELL, STOP_LOSS, 50, 0).reject is Reject.MARKET_LOT_SIZE
    assert ex.stop(TRADER, SELL, STOP_LOSS, 50, 1, price=50).reject is Reject.INVALID_ORDER
    assert ex.stop(TRADER, SELL, STOP_LOSS_LIMIT, 50, 1, price=50).oid == 1


def test_cancel_all_includes_pending_stops(ex):
    ex.trade_at(100)  # 1, 2
    a = ex.buy(TRADER, 90, 1).oid  # 3
    b = ex.stop(TRADER, SELL, STOP_LOSS, 95, 1).oid  # 4
    c = ex.sell(TRADER, 110, 1).oid  # 5
    ev = ex.cancel_all(TRADER)
    assert ev.statuses == [(a, CANCELED), (b, CANCELED), (c, CANCELED)]
    assert print_trade(ex, 90).triggered == []


def test_stop_triggers_on_a_trade_inside_a_sweep(ex):
    # A sweep that prints 95 then 100: the last trade price reached 95 <= 97 during the
    # command, so the sell stop-loss at 97 must trigger even though the sweep ends at 100.
    ex.trade_at(100)  # 1, 2
    ex.sell(LP, 95, 1)  # 3: an ask below the last price
    ex.sell(LP, 100, 1)  # 4
    ex.buy(LP, 90, 5)  # 5: bids for the triggered sell
    stop_id = ex.stop(TRADER, SELL, STOP_LOSS, 97, 1).oid  # 6
    ev = ex.market(BUYER, BUY, 2)  # 7
    assert ev.fills[:2] == [(95, 1, 3, 7), (100, 1, 4, 7)]
    assert ev.triggered == [stop_id]
    assert ev.fills[2:] == [(90, 1, 5, stop_id)]
    assert ex.open_ids(TRADER) == []


def test_stop_reached_first_in_a_sweep_goes_first(ex):
    # The sweep prints 95 (reaching the sell stop at 97) before 103 (the buy stop at 102).
    ex.trade_at(100)  # 1, 2
    ex.sell(LP, 95, 1)  # 3
    ex.sell(LP, 103, 1)  # 4
    fall = ex.stop(TRADER, SELL, STOP_LOSS, 97, 1).oid  # 5
    rise = ex.stop(TRADER, BUY, STOP_LOSS, 102, 1).oid  # 6
    ev = ex.market(BUYER, BUY, 2)  # 7
    assert ev.fills[:2] == [(95, 1, 3, 7), (103, 1, 4, 7)]
    assert ev.triggered == [fall, rise]


def test_stops_triggered_together_all_run_even_if_the_price_moves_back(ex):
    # A trade at 97 reaches both sell stops (99 and 98). The first one sells into a bid at
    # 101, moving the last price back above 98: the second must still trigger, in this command.
    ex.trade_at(100)  # 1, 2
    a = ex.stop(TRADER, SELL, STOP_LOSS, 99, 1).oid  # 3
    b = ex.stop(TRADER, SELL, STOP_LOSS, 98, 1).oid  # 4
    ex.sell(LP, 97, 1)  # 5
    ev = ex.buy(BUYER, 101, 2)  # 6: trades 1 at 97, rests 1 at 101
    assert ev.fills[0] == (97, 1, 5, 6)
    assert ev.triggered == [a, b]
    assert ev.fills[1] == (101, 1, 6, a)
    assert ev.update(b).status is EXPIRED  # no bids left for it
    assert ex.open_ids(TRADER) == []


def test_stops_reached_by_a_triggered_order_run_after_those_already_queued(ex):
    ex.trade_at(100)  # 1, 2
    a = ex.stop(TRADER, BUY, TAKE_PROFIT, 99, 1).oid  # 3: fall
    b = ex.stop(TRADER, SELL, STOP_LOSS, 98, 1).oid  # 4: fall
    c = ex.stop(TRADER + 1, BUY, STOP_LOSS, 104, 1).oid  # 5: rise
    ex.sell(LP, 105, 2)  # 6
    ex.buy(LP, 90, 1)  # 7
    ex.sell(SELLER, 97, 1)  # 8
    ev = ex.buy(BUYER, 97, 1)  # 9: reaches a and b; a's buy at 105 then reaches c
    assert ev.triggered == [a, b, c]
    assert ev.fills == [(97, 1, 8, 9), (105, 1, 6, a), (90, 1, 7, b), (105, 1, 6, c)]
    triggers = ev.of(StopTriggered)
    assert [(t.stop_price, t.last_price) for t in triggers] == [(99, 97), (98, 97), (104, 105)]
    assert ex.open_ids(TRADER) == [] and ex.open_ids(TRADER + 1) == []
