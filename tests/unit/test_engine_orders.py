"""Order types, times in force, priority, ids, event order and refusals."""

from __future__ import annotations

from rialto.domain.events import (
    BookDelta,
    MarketStatusChanged,
    OrderAccepted,
    OrderRejected,
    OrderUpdate,
    Trade,
)
from rialto.domain.orders import (
    MarketStatus,
    OrderStatus,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from rialto.domain.rejects import Reject

BUY, SELL = Side.BUY, Side.SELL
GTC, IOC, FOK = TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK
LIMIT, MARKET, LIMIT_MAKER = OrderType.LIMIT, OrderType.MARKET, OrderType.LIMIT_MAKER
NEW = OrderStatus.NEW
PARTIALLY_FILLED = OrderStatus.PARTIALLY_FILLED
FILLED = OrderStatus.FILLED
CANCELED = OrderStatus.CANCELED
EXPIRED = OrderStatus.EXPIRED

MAKER, MAKER2, TAKER = 1, 2, 3


def update_fields(u: OrderUpdate) -> tuple[OrderStatus, int, int, int, int]:
    """``(status, qty, remaining, filled, filled_quote)``."""
    return (u.status, u.qty, u.remaining, u.filled, u.filled_quote)


# --- LIMIT ---------------------------------------------------------------------


def test_limit_gtc_rests_without_trading(ex):
    ev = ex.sell(MAKER, 100, 5, cid="s1")
    assert ev.kinds == ["OrderAccepted", "BookDelta"]
    assert ev[0] == OrderAccepted(
        seq=1,
        ts=1001,
        order_id=1,
        user_id=MAKER,
        client_order_id="s1",
        side=SELL,
        order_type=LIMIT,
        tif=GTC,
        price=100,
        qty=5,
        quote_qty=0,
        stop_price=0,
        stp=SelfTradePrevention.EXPIRE_MAKER,
    )
    assert ev[1] == BookDelta(update_id=1, side=SELL, price=100, qty=5)
    assert ex.asks == [(100, 5)]
    assert ex.bids == []
    assert ex.open_ids(MAKER) == [1]


def test_limit_gtc_partially_fills_then_rests(ex):
    ex.sell(MAKER, 100, 3)  # order 1
    ev = ex.buy(TAKER, 101, 5)  # order 2
    assert ev.kinds == [
        "OrderAccepted",
        "Trade",
        "OrderUpdate",
        "OrderUpdate",
        "BookDelta",
        "BookDelta",
    ]
    assert ev[1] == Trade(
        seq=2,
        ts=1002,
        trade_id=1,
        price=100,
        qty=3,
        maker_order_id=1,
        taker_order_id=2,
        maker_user_id=MAKER,
        taker_user_id=TAKER,
        taker_side=BUY,
    )
    maker, taker = ev.updates
    assert maker.order_id == 1
    assert update_fields(maker) == (FILLED, 3, 0, 3, 300)
    assert taker.order_id == 2
    assert update_fields(taker) == (PARTIALLY_FILLED, 5, 2, 3, 300)
    assert taker.price == 101
    assert sorted(ev.deltas) == [(BUY, 101, 2), (SELL, 100, 0)]
    assert ex.bids == [(101, 2)]
    assert ex.asks == []
    assert ex.open_ids(TAKER) == [2]
    assert ex.open_ids(MAKER) == []


def test_limit_gtc_fully_filled_does_not_rest(ex):
    ex.sell(MAKER, 100, 5)
    ev = ex.buy(TAKER, 100, 5)
    assert ev.statuses == [(1, FILLED), (2, FILLED)]
    assert update_fields(ev.update(2)) == (FILLED, 5, 0, 5, 500)
    assert ev.deltas == [(SELL, 100, 0)]
    assert ex.bids == [] and ex.asks == []
    assert ex.open_ids(TAKER) == []


def test_limit_does_not_trade_through_its_price(ex):
    ex.sell(MAKER, 101, 5)
    ev = ex.buy(TAKER, 100, 5)
    assert ev.trades == []
    assert ex.bids == [(100, 5)]
    assert ex.asks == [(101, 5)]


def test_ioc_expires_the_rest(ex):
    ex.sell(MAKER, 100, 3)
    ev = ex.buy(TAKER, 100, 5, tif=IOC)
    assert ev.kinds == ["OrderAccepted", "Trade", "OrderUpdate", "OrderUpdate", "BookDelta"]
    assert ev.fills == [(100, 3, 1, 2)]
    assert update_fields(ev.update(2)) == (EXPIRED, 5, 2, 3, 300)
    assert ev.deltas == [(SELL, 100, 0)]
    assert ex.bids == [] and ex.asks == []


def test_ioc_fully_filled_is_filled(ex):
    ex.sell(MAKER, 100, 5)
    ev = ex.buy(TAKER, 100, 5, tif=IOC)
    assert update_fields(ev.update(2)) == (FILLED, 5, 0, 5, 500)
    assert ex.asks == []


def test_ioc_without_liquidity_expires_untouched(ex):
    ex.sell(MAKER, 101, 5)
    ev = ex.buy(TAKER, 100, 5, tif=IOC)
    assert ev.kinds == ["OrderAccepted", "OrderUpdate"]
    assert update_fields(ev.update(2)) == (EXPIRED, 5, 5, 0, 0)
    assert ex.bids == []
    assert ex.asks == [(101, 5)]


def test_fok_that_cannot_fill_expires_without_trading(ex):
    ex.sell(MAKER, 100, 3)  # 1
    ex.sell(MAKER2, 101, 3)  # 2
    before = ex.engine.depth()
    ev = ex.buy(TAKER, 101, 7, tif=FOK)  # 3: only 6 available at or below 101
    assert ev.kinds == ["OrderAccepted", "OrderUpdate"]
    assert update_fields(ev.update(3)) == (EXPIRED, 7, 7, 0, 0)
    assert ex.engine.depth() == before
    # Enough quantity, but not within the limit price.
    ev = ex.buy(TAKER, 100, 6, tif=FOK)  # 4
    assert ev.trades == []
    assert ev.update(4).status is EXPIRED
    assert ex.engine.depth() == before
    # The next trade still gets trade id 1.
    ev = ex.buy(TAKER, 101, 6, tif=FOK)  # 5
    assert [t.trade_id for t in ev.trades] == [1, 2]
    assert ev.fills == [(100, 3, 1, 5), (101, 3, 2, 5)]
    assert update_fields(ev.update(5)) == (FILLED, 6, 0, 6, 603)
    assert ex.asks == []


def test_fok_sell_exact_fill(ex):
    ex.buy(MAKER, 100, 2)
    ex.buy(MAKER2, 99, 2)
    ev = ex.sell(TAKER, 99, 4, tif=FOK)
    assert ev.fills == [(100, 2, 1, 3), (99, 2, 2, 3)]
    assert ev.update(3).status is FILLED
    assert ex.bids == []


# --- MARKET by quantity -------------------------------------------------------------


def test_market_buy_sweeps_levels_at_maker_prices(ex):
    ex.sell(MAKER, 100, 2)  # 1
    ex.sell(MAKER, 101, 3)  # 2
    ex.sell(MAKER2, 103, 4)  # 3
    ev = ex.market(TAKER, BUY, 6)  # 4
    assert ev.fills == [(100, 2, 1, 4), (101, 3, 2, 4), (103, 1, 3, 4)]
    assert ev.statuses == [(1, FILLED), (2, FILLED), (3, PARTIALLY_FILLED), (4, FILLED)]
    assert update_fields(ev.update(3)) == (PARTIALLY_FILLED, 4, 3, 1, 103)
    taker = ev.update(4)
    assert update_fields(taker) == (FILLED, 6, 0, 6, 200 + 303 + 103)
    assert taker.price == 0
    assert sorted(ev.deltas) == [(SELL, 100, 0), (SELL, 101, 0), (SELL, 103, 3)]
    assert ex.asks == [(103, 3)]
    assert ex.bids == []


def test_market_sell_sweeps_bids(ex):
    ex.buy(MAKER, 100, 2)  # 1
    ex.buy(MAKER, 98, 3)  # 2
    ev = ex.market(TAKER, SELL, 4)  # 3
    assert ev.fills == [(100, 2, 1, 3), (98, 2, 2, 3)]
    assert update_fields(ev.update(3)) == (FILLED, 4, 0, 4, 396)
    assert ex.bids == [(98, 1)]


def test_market_expires_what_the_book_cannot_fill_and_never_rests(ex):
    ex.sell(MAKER, 100, 2)
    ex.sell(MAKER, 101, 3)
    ev = ex.market(TAKER, BUY, 10)  # 3
    assert ev.fills == [(100, 2, 1, 3), (101, 3, 2, 3)]
    assert update_fields(ev.update(3)) == (EXPIRED, 10, 5, 5, 503)
    assert ex.asks == [] and ex.bids == []
    assert ex.open_ids(TAKER) == []


def test_market_on_empty_book_expires(ex):
    ev = ex.market(TAKER, SELL, 3)
    assert ev.kinds == ["OrderAccepted", "OrderUpdate"]
    assert update_fields(ev.update(1)) == (EXPIRED, 3, 3, 0, 0)
    assert ex.engine.depth() == (0, [], [])


# --- MARKET by quote amount ------------------------------------------------------------


def test_market_buy_by_quote_is_filled_when_budget_left_is_below_one_lot(ex):
    ex.sell(MAKER, 100, 2)  # 1
    ex.sell(MAKER, 101, 3)  # 2
    ev = ex.market(TAKER, BUY, quote_qty=350)  # 3
    # 3 lots fit at 100 but only 2 are there; the 150 left buys 1 lot at 101.
    assert ev.fills == [(100, 2, 1, 3), (101, 1, 2, 3)]
    taker = ev.update(3)
    assert update_fields(taker) == (FILLED, 0, 0, 3, 301)  # 49 left < 101
    assert ev.accepted.quote_qty == 350
    assert ex.asks == [(101, 2)]


def test_market_buy_by_quote_rounds_lots_down(ex):
    ex.sell(MAKER, 100, 10)
    ev = ex.market(TAKER, BUY, quote_qty=299)
    assert ev.fills == [(100, 2, 1, 2)]  # 299 // 100 = 2 lots, never 3
    assert update_fields(ev.update(2)) == (FILLED, 0, 0, 2, 200)
    assert ex.asks == [(100, 8)]


def test_market_buy_by_quote_expires_when_the_book_runs_out(ex):
    ex.sell(MAKER, 100, 2)
    ev = ex.market(TAKER, BUY, quote_qty=1000)
    assert ev.fills == [(100, 2, 1, 2)]
    assert update_fields(ev.update(2)) == (EXPIRED, 0, 0, 2, 200)
    assert ex.asks == []


def test_market_buy_by_quote_expires_when_next_level_is_too_dear(ex):
    ex.sell(MAKER, 100, 2)
    ex.sell(MAKER, 200, 5)
    ev = ex.market(TAKER, BUY, quote_qty=350)
    # 150 left cannot pay one lot at 200 but could at 100: EXPIRED, not FILLED.
    assert ev.fills == [(100, 2, 1, 3)]
    assert update_fields(ev.update(3)) == (EXPIRED, 0, 0, 2, 200)
    assert ex.asks == [(200, 5)]


def test_market_by_quote_on_empty_book_expires(ex):
    ev = ex.market(TAKER, BUY, quote_qty=500)
    assert ev.kinds == ["OrderAccepted", "OrderUpdate"]
    assert update_fields(ev.update(1)) == (EXPIRED, 0, 0, 0, 0)


def test_market_sell_by_quote(ex):
    ex.buy(MAKER, 100, 2)  # 1
    ex.buy(MAKER, 99, 5)  # 2
    ev = ex.market(TAKER, SELL, quote_qty=400)  # 3
    assert ev.fills == [(100, 2, 1, 3), (99, 2, 2, 3)]
    assert update_fields(ev.update(3)) == (FILLED, 0, 0, 4, 398)  # 2 left < 99
    assert ex.bids == [(99, 3)]


def test_market_sell_by_quote_expires_when_bids_run_out(ex):
    ex.buy(MAKER, 100, 1)
    ev = ex.market(TAKER, SELL, quote_qty=500)
    assert ev.fills == [(100, 1, 1, 2)]
    assert update_fields(ev.update(2)) == (EXPIRED, 0, 0, 1, 100)


def test_market_by_quote_with_fractional_tick_and_step(make_ex):
    # tick 0.01, step 0.001: a notional unit is 0.00001 quote.
    ex = make_ex(tick_size="0.01", step_size="0.001")
    ins = ex.engine.instrument
    ex.sell(MAKER, ins.price_ticks("100.00"), ins.qty_lots("1"))
    budget = ins.quote_units("25.50009")  # 2_550_009 units
    ev = ex.market(TAKER, BUY, quote_qty=budget)
    [trade] = ev.trades
    assert ins.format_qty(trade.qty) == "0.255"  # 25.50009 / 100 rounded down to a lot
    taker = ev.update(2)
    assert taker.status is FILLED
    assert ins.format_notional(taker.filled_quote) == "25.50000"
    assert taker.filled_quote <= budget


# --- LIMIT_MAKER ------------------------------------------------------------------------


def test_limit_maker_refused_when_it_would_take(ex):
    ex.sell(MAKER, 100, 1)  # 1
    ex.buy(MAKER2, 98, 1)  # 2
    before = ex.engine.depth()
    ev = ex.place(TAKER, BUY, LIMIT_MAKER, qty=1, price=100, cid="pm")
    assert ev == [OrderRejected(3, 1003, TAKER, 0, "pm", Reject.WOULD_TAKE)]
    ev = ex.place(TAKER, SELL, LIMIT_MAKER, qty=1, price=97)
    assert ev.reject is Reject.WOULD_TAKE
    assert ex.engine.depth() == before
    # A refused order consumes no id.
    assert ex.place(TAKER, BUY, LIMIT_MAKER, qty=1, price=99).oid == 3


def test_limit_maker_rests_when_it_does_not_cross(ex):
    ex.sell(MAKER, 100, 1)
    ev = ex.place(TAKER, BUY, LIMIT_MAKER, qty=4, price=99)
    assert ev.kinds == ["OrderAccepted", "BookDelta"]
    assert ev.accepted.order_type is LIMIT_MAKER
    assert ex.bids == [(99, 4)]
    # It then makes like any resting order.
    ev = ex.market(MAKER2, SELL, 1)
    assert ev.fills == [(99, 1, 2, 3)]


def test_limit_maker_on_empty_book_rests(ex):
    ev = ex.place(TAKER, SELL, LIMIT_MAKER, qty=1, price=50)
    assert ev.oid == 1
    assert ex.asks == [(50, 1)]


# --- priority -----------------------------------------------------------------------------


def test_price_time_priority_and_fifo_within_a_level(ex):
    ex.sell(MAKER, 101, 1)  # 1
    ex.sell(MAKER2, 100, 1)  # 2
    ex.sell(MAKER, 100, 2)  # 3
    ex.sell(MAKER2, 102, 1)  # 4
    ex.sell(MAKER2, 100, 1)  # 5
    ev = ex.market(TAKER, BUY, 5)  # 6
    assert ev.fills == [(100, 1, 2, 6), (100, 2, 3, 6), (100, 1, 5, 6), (101, 1, 1, 6)]
    assert ex.asks == [(102, 1)]


def test_bid_priority_is_highest_price_first(ex):
    ex.buy(MAKER, 99, 1)  # 1
    ex.buy(MAKER, 101, 1)  # 2
    ex.buy(MAKER2, 100, 1)  # 3
    ev = ex.sell(TAKER, 1, 3)  # 4
    assert ev.fills == [(101, 1, 2, 4), (100, 1, 3, 4), (99, 1, 1, 4)]


def test_partially_filled_maker_keeps_its_place(ex):
    ex.sell(MAKER, 100, 5)  # 1
    ex.sell(MAKER2, 100, 5)  # 2
    ex.buy(TAKER, 100, 2)  # 3
    ev = ex.buy(TAKER, 100, 4)  # 4
    assert ev.fills == [(100, 3, 1, 4), (100, 1, 2, 4)]


def test_trade_at_maker_price_gives_taker_price_improvement(ex):
    ex.sell(MAKER, 100, 1)
    ev = ex.buy(TAKER, 105, 1)
    assert ev.fills == [(100, 1, 1, 2)]
    assert ev.update(2).filled_quote == 100
    ex.buy(MAKER, 105, 1)  # 3
    ev = ex.sell(TAKER, 100, 1)  # 4
    assert ev.fills == [(105, 1, 3, 4)]
    assert ev.update(4).filled_quote == 105


# --- events and ids ---------------------------------------------------------------------


def test_event_order_for_a_sweep(ex):
    ex.sell(MAKER, 100, 1)  # 1
    ex.sell(MAKER2, 101, 2)  # 2
    ev = ex.buy(TAKER, 101, 5)  # 3
    assert ev.kinds == [
        "OrderAccepted",
        "Trade",
        "OrderUpdate",  # maker 1
        "Trade",
        "OrderUpdate",  # maker 2
        "OrderUpdate",  # taker
        "BookDelta",
        "BookDelta",
        "BookDelta",
    ]
    assert [u.order_id for u in ev.updates] == [1, 2, 3]
    assert all(e.seq == 3 and e.ts == 1003 for e in ev if not isinstance(e, BookDelta))
    assert ev.update_ids == [3, 4, 5]
    assert sorted(ev.deltas) == [(BUY, 101, 2), (SELL, 100, 0), (SELL, 101, 0)]


def test_order_and_trade_ids_are_sequential_and_refusals_consume_none(ex):
    assert ex.sell(MAKER, 100, 1).oid == 1
    assert ex.sell(MAKER, 0, 1).reject is Reject.PRICE_FILTER
    assert ex.sell(MAKER, 101, 1).oid == 2
    ev = ex.market(TAKER, BUY, 1)
    assert ev.oid == 3
    assert [t.trade_id for t in ev.trades] == [1]
    ev = ex.market(TAKER, BUY, 1)
    assert ev.oid == 4
    assert [t.trade_id for t in ev.trades] == [2]
    ex.sell(MAKER, 100, 2)  # 5
    ev = ex.market(TAKER, BUY, 5)  # 6: trades 3 only, then expires
    assert [t.trade_id for t in ev.trades] == [3]
    ev = ex.sell(MAKER, 100, 1)
    assert ev.oid == 7


def test_update_ids_are_contiguous_across_commands(ex):
    ids: list[int] = []
    ids += ex.sell(MAKER, 100, 1).update_ids
    ids += ex.sell(MAKER, 101, 1).update_ids
    ids += ex.buy(MAKER2, 99, 1).update_ids
    ids += ex.market(TAKER, BUY, 2).update_ids
    ids += ex.cancel(MAKER2, 3).update_ids
    assert ids == list(range(1, 7))
    assert ex.engine.depth()[0] == 6


# --- refusals ------------------------------------------------------------------------------


def test_price_filter(make_ex):
    ex = make_ex(min_price="10", max_price="1000")
    for price in (0, 9, 1001, -5):
        ev = ex.buy(TAKER, price, 1, cid="c")
        assert ev == [OrderRejected(ex.seq, 1000 + ex.seq, TAKER, 0, "c", Reject.PRICE_FILTER)]
    assert ex.buy(TAKER, 10, 1).oid == 1
    assert ex.buy(TAKER, 1000, 1).oid == 2


def test_lot_size(make_ex):
    ex = make_ex(min_qty="2", max_qty="100")
    for qty in (0, 1, 101, -1):
        assert ex.buy(TAKER, 10, qty).reject is Reject.LOT_SIZE
    assert ex.buy(TAKER, 10, 2).oid == 1
    assert ex.buy(TAKER, 10, 100).oid == 2


def test_market_lot_size(make_ex):
    ex = make_ex(min_qty="1", max_qty="1000", market_min_qty="5", market_max_qty="50")
    ex.sell(MAKER, 100, 1000)
    for qty in (0, 4, 51):
        assert ex.market(TAKER, BUY, qty).reject is Reject.MARKET_LOT_SIZE
    # The limit range does not apply to market orders, and vice versa.
    assert ex.buy(TAKER, 100, 4).update(2).status is FILLED
    assert ex.market(TAKER, BUY, 5).update(3).status is FILLED


def test_notional_applies_to_limit_and_quote_market_orders_only(make_ex):
    ex = make_ex(min_notional="500")
    assert ex.sell(MAKER, 100, 4).reject is Reject.NOTIONAL
    assert ex.sell(MAKER, 100, 5).oid == 1
    assert ex.place(MAKER, SELL, LIMIT_MAKER, qty=4, price=100).reject is Reject.NOTIONAL
    assert ex.market(TAKER, BUY, quote_qty=499).reject is Reject.NOTIONAL
    # A market order sized by quantity has no price: no notional check.
    ev = ex.market(TAKER, BUY, 1)
    assert ev.fills == [(100, 1, 1, 2)]
    ev = ex.market(TAKER, BUY, quote_qty=500)
    assert ev.fills == [(100, 4, 1, 3)]
    assert update_fields(ev.update(3)) == (EXPIRED, 0, 0, 4, 400)  # the book ran out


def test_market_buy_by_quantity_capped_by_funds_stops_at_the_cap(ex):
    ex.sell(MAKER, 100, 2)  # 1
    ex.sell(MAKER, 101, 5)  # 2
    ev = ex.market(TAKER, BUY, 6, cap=400)  # 3: the funds pay 2 at 100, then 1 at 101
    assert ev.fills == [(100, 2, 1, 3), (101, 1, 2, 3)]
    assert update_fields(ev.update(3)) == (EXPIRED, 6, 3, 3, 301)
    assert ex.asks == [(101, 4)]


def test_market_capped_by_funds_is_filled_when_the_quantity_fills_first(ex):
    ex.sell(MAKER, 100, 5)  # 1
    ev = ex.market(TAKER, BUY, 3, cap=10_000)  # 2
    assert ev.fills == [(100, 3, 1, 2)]
    assert ev.update(2).status is FILLED
    assert ex.asks == [(100, 2)]


def test_market_sell_by_quote_capped_by_held_quantity(ex):
    ex.buy(MAKER, 100, 10)  # 1
    ev = ex.market(TAKER, SELL, quote_qty=900, cap=4)  # 2: the quote would sell 9, the cap is 4
    assert ev.fills == [(100, 4, 1, 2)]
    assert ev.update(2).status is EXPIRED  # it did not get its quote amount
    assert ex.bids == [(100, 6)]


def test_market_sell_by_quote_within_its_cap_is_filled(ex):
    ex.buy(MAKER, 100, 10)  # 1
    ev = ex.market(TAKER, SELL, quote_qty=300, cap=1_000)  # 2
    assert ev.fills == [(100, 3, 1, 2)]
    assert ev.update(2).status is FILLED
    assert ev[0].qty == 0  # the order shows what was asked for, not the cap


def test_cap_is_only_for_market_type_orders(ex):
    ev = ex.place(TAKER, BUY, LIMIT, qty=1, price=100, cap=100)
    assert ev.reject is Reject.INVALID_ORDER


def test_invalid_order_combinations(ex):
    ex.sell(MAKER, 100, 5)
    cases = [
        {"order_type": MARKET, "qty": 1, "price": 100},  # market with a price
        {"order_type": MARKET, "qty": 1, "quote_qty": 100},  # both quantity and quote
        {"order_type": LIMIT, "qty": 1, "price": 100, "quote_qty": 100},  # limit by quote
        {"order_type": LIMIT, "qty": 1, "price": 100, "stop_price": 90},  # stop on a limit
        {"order_type": MARKET, "qty": 1, "stop_price": 90},  # stop on a market
        {"order_type": OrderType.STOP_LOSS, "quote_qty": 100, "stop_price": 90},
        {"order_type": LIMIT_MAKER, "qty": 1, "price": 90, "tif": IOC},
        {"order_type": LIMIT_MAKER, "qty": 1, "price": 90, "tif": FOK},
    ]
    for case in cases:
        ev = ex.place(TAKER, BUY, **case)
        assert ev.reject is Reject.INVALID_ORDER, case
        assert len(ev) == 1
    assert ex.asks == [(100, 5)]
    assert ex.engine.next_order_id == 2


def test_duplicate_client_order_id_while_open(ex):
    assert ex.buy(MAKER, 90, 1, cid="a").oid == 1
    ev = ex.buy(MAKER, 91, 1, cid="a")
    assert ev == [OrderRejected(2, 1002, MAKER, 0, "a", Reject.DUPLICATE_ORDER)]
    assert ex.bids == [(90, 1)]
    # Unique per user: another user may use the same id.
    assert ex.buy(MAKER2, 91, 1, cid="a").oid == 2
    # Blank is no client id at all.
    assert ex.buy(MAKER, 92, 1).oid == 3
    assert ex.buy(MAKER, 92, 1).oid == 4


def test_client_order_id_free_again_after_cancel(ex):
    ex.buy(MAKER, 90, 1, cid="a")
    ex.cancel(MAKER, 1)
    assert ex.buy(MAKER, 90, 1, cid="a").oid == 2


def test_client_order_id_free_again_after_fill_as_maker(ex):
    ex.buy(MAKER, 90, 2, cid="a")  # 1
    ex.sell(TAKER, 90, 1)  # 2: partial fill, still open
    assert ex.buy(MAKER, 90, 1, cid="a").reject is Reject.DUPLICATE_ORDER
    ex.sell(TAKER, 90, 1)  # 3: filled
    assert ex.buy(MAKER, 90, 1, cid="a").oid == 4


def test_client_order_id_free_again_after_taker_finishes(ex):
    ex.sell(MAKER, 100, 1)
    assert ex.buy(TAKER, 100, 1, cid="t").update(2).status is FILLED
    assert ex.buy(TAKER, 99, 1, cid="t", tif=IOC).update(3).status is EXPIRED
    assert ex.market(TAKER, BUY, 1, cid="t").update(4).status is EXPIRED
    assert ex.buy(TAKER, 99, 1, cid="t").oid == 5


def test_refused_placement_does_not_reserve_client_id(ex):
    assert ex.buy(MAKER, 0, 1, cid="a").reject is Reject.PRICE_FILTER
    assert ex.buy(MAKER, 90, 1, cid="a").oid == 1


# --- halt / resume ---------------------------------------------------------------------------


def test_halt_refuses_place_and_amend_but_allows_cancel(ex):
    ex.buy(MAKER, 90, 3, cid="b")  # 1
    ex.sell(MAKER, 110, 3)  # 2
    ev = ex.halt()
    assert ev == [MarketStatusChanged(3, 1003, MarketStatus.HALT)]
    assert ex.engine.status is MarketStatus.HALT

    ev = ex.buy(TAKER, 110, 1, cid="x")
    assert ev == [OrderRejected(4, 1004, TAKER, 0, "x", Reject.MARKET_CLOSED)]
    assert ex.market(TAKER, BUY, 1).reject is Reject.MARKET_CLOSED
    assert ex.place(TAKER, BUY, LIMIT_MAKER, qty=1, price=80).reject is Reject.MARKET_CLOSED
    stop = ex.stop(TAKER, BUY, OrderType.STOP_LOSS, stop_price=120, qty=1)
    assert stop.reject is Reject.MARKET_CLOSED
    ev = ex.amend(MAKER, 1, qty=2)
    assert ev == [OrderRejected(8, 1008, MAKER, 1, "b", Reject.MARKET_CLOSED)]
    assert ex.bids == [(90, 3)]

    ev = ex.cancel(MAKER, 1)
    assert ev.statuses == [(1, CANCELED)]
    assert ev.deltas == [(BUY, 90, 0)]
    ev = ex.cancel_all(MAKER)
    assert ev.statuses == [(2, CANCELED)]

    ev = ex.resume()
    assert ev == [MarketStatusChanged(11, 1011, MarketStatus.TRADING)]
    assert ex.buy(TAKER, 100, 1).oid == 3  # no id was consumed while halted


def test_instrument_halted_from_the_start(make_ex):
    ex = make_ex(status=MarketStatus.HALT)
    assert ex.buy(TAKER, 100, 1).reject is Reject.MARKET_CLOSED
    ex.resume()
    assert ex.buy(TAKER, 100, 1).oid == 1


def test_market_sell_by_quote_goes_on_to_a_cheaper_level_while_its_budget_allows(ex):
    ex.buy(MAKER, 100, 4)  # 1
    ex.buy(MAKER, 93, 5)  # 2
    ev = ex.market(TAKER, SELL, quote_qty=498)  # 3: 4 at 100 leaves 98, which sells 1 at 93
    assert ev.fills == [(100, 4, 1, 3), (93, 1, 2, 3)]
    assert update_fields(ev.update(3)) == (FILLED, 0, 0, 5, 493)


def test_amend_while_halted_is_market_closed_even_for_an_unknown_order(ex):
    ex.halt()
    ev = ex.amend(TAKER, 99, price=100)
    assert ev.reject is Reject.MARKET_CLOSED
