"""Amend, cancel, cancel-all, and the BookDelta stream / depth() they keep in step."""

from __future__ import annotations

from rialto.domain.events import BookDelta, OrderAmended, OrderRejected
from rialto.domain.orders import OrderStatus, OrderType, Side
from rialto.domain.rejects import Reject

BUY, SELL = Side.BUY, Side.SELL
PARTIALLY_FILLED = OrderStatus.PARTIALLY_FILLED
FILLED = OrderStatus.FILLED
CANCELED = OrderStatus.CANCELED

A, B, TAKER = 1, 2, 3


# --- amend: quantity ------------------------------------------------------------------------


def test_amend_qty_down_keeps_queue_priority(ex):
    ex.sell(A, 100, 5, cid="a1")  # 1
    ex.sell(B, 100, 5)  # 2
    ev = ex.amend(A, 1, qty=3)
    assert ev.kinds == ["OrderAmended", "BookDelta"]
    assert ev[0] == OrderAmended(
        seq=3,
        ts=1003,
        order_id=1,
        user_id=A,
        client_order_id="a1",
        side=SELL,
        old_price=100,
        old_qty=5,
        price=100,
        qty=3,
        remaining=3,
        kept_priority=True,
    )
    assert ev[1] == BookDelta(3, SELL, 100, 8)
    assert ex.asks == [(100, 8)]
    ev = ex.buy(TAKER, 100, 4)  # 3: an amend consumes no order id
    assert ev.fills == [(100, 3, 1, 3), (100, 1, 2, 3)]


def test_amend_qty_up_loses_priority(ex):
    ex.sell(A, 100, 5)  # 1
    ex.sell(B, 100, 5)  # 2
    ev = ex.amend(A, 1, qty=7)
    assert ev.kinds == ["OrderAmended", "BookDelta"]
    amended = ev.amended
    assert (amended.old_qty, amended.qty, amended.remaining) == (5, 7, 7)
    assert amended.kept_priority is False
    assert ev.deltas == [(SELL, 100, 12)]
    assert ex.queue(SELL, 100) == [2, 1]
    ev = ex.buy(TAKER, 100, 6)  # 3
    assert ev.fills == [(100, 5, 2, 3), (100, 1, 1, 3)]


def test_amend_same_qty_same_price_changes_nothing(ex):
    ex.sell(A, 100, 5)  # 1
    ex.sell(B, 100, 5)  # 2
    ev = ex.amend(A, 1, qty=5)
    assert ev.kinds == ["OrderAmended"]
    assert ev.amended.kept_priority is True
    assert ex.queue(SELL, 100) == [1, 2]
    assert ex.engine.depth()[0] == 2


def test_amend_of_partially_filled_order(ex):
    ex.sell(A, 100, 5)  # 1
    ex.sell(B, 100, 5)  # 2
    ex.buy(TAKER, 100, 2)  # 3: order 1 has 2 filled, 3 left
    for qty in (2, 1):  # not above what is filled
        ev = ex.amend(A, 1, qty=qty)
        assert ev == [OrderRejected(ex.seq, 1000 + ex.seq, A, 1, "", Reject.AMEND_NOT_ALLOWED)]
    ev = ex.amend(A, 1, qty=4)
    assert (ev.amended.qty, ev.amended.remaining, ev.amended.kept_priority) == (4, 2, True)
    assert ev.deltas == [(SELL, 100, 7)]
    assert ex.queue(SELL, 100) == [1, 2]
    ev = ex.amend(A, 1, qty=6)
    assert (ev.amended.qty, ev.amended.remaining, ev.amended.kept_priority) == (6, 4, False)
    assert ex.queue(SELL, 100) == [2, 1]
    ev = ex.buy(TAKER, 100, 9)
    assert ev.statuses == [(2, FILLED), (1, FILLED), (ev.oid, FILLED)]
    assert ev.update(1).filled == 6
    assert ev.update(1).filled_quote == 600


# --- amend: price ---------------------------------------------------------------------------


def test_amend_price_loses_priority_at_the_new_level(ex):
    ex.sell(A, 100, 5)  # 1
    ex.sell(B, 101, 5)  # 2
    ev = ex.amend(A, 1, price=101)
    assert ev.kinds == ["OrderAmended", "BookDelta", "BookDelta"]
    amended = ev.amended
    assert (amended.old_price, amended.price, amended.kept_priority) == (100, 101, False)
    assert ev.deltas == [(SELL, 100, 0), (SELL, 101, 10)]
    assert ex.asks == [(101, 10)]
    assert ex.queue(SELL, 101) == [2, 1]


def test_amend_price_down_with_lower_qty_still_loses_priority(ex):
    ex.buy(A, 99, 5)  # 1
    ex.buy(B, 98, 5)  # 2
    ev = ex.amend(A, 1, price=98, qty=3)
    assert ev.amended.kept_priority is False
    assert ev.amended.remaining == 3
    assert ex.queue(BUY, 98) == [2, 1]
    assert ex.bids == [(98, 8)]


def test_amend_price_across_the_spread_trades_as_taker(ex):
    ex.buy(B, 99, 3)  # 1
    ex.sell(A, 101, 5, cid="x")  # 2
    ev = ex.amend(A, 2, price=99)
    assert ev.kinds == [
        "OrderAmended",
        "Trade",
        "OrderUpdate",
        "OrderUpdate",
        "BookDelta",
        "BookDelta",
        "BookDelta",
    ]
    assert ev.fills == [(99, 3, 1, 2)]
    assert ev.trades[0].taker_side is SELL
    assert ev.statuses == [(1, FILLED), (2, PARTIALLY_FILLED)]
    u = ev.update(2)
    assert (u.price, u.qty, u.remaining, u.filled, u.filled_quote) == (99, 5, 2, 3, 297)
    assert sorted(ev.deltas) == [(BUY, 99, 0), (SELL, 99, 2), (SELL, 101, 0)]
    assert ex.bids == []
    assert ex.asks == [(99, 2)]
    assert ex.open_ids(A) == [2]


def test_amend_price_across_the_spread_can_fill_completely(ex):
    ex.sell(B, 100, 5)  # 1
    ex.buy(A, 98, 2, cid="x")  # 2
    ev = ex.amend(A, 2, price=100)
    assert ev.statuses == [(1, PARTIALLY_FILLED), (2, FILLED)]
    assert ex.open_ids(A) == []
    assert ex.buy(A, 90, 1, cid="x").oid == 3  # the client id was released


def test_amend_unknown_or_other_users_order(ex):
    ex.sell(A, 100, 5, cid="mine")  # 1
    assert ex.amend(A, 99, qty=1) == [OrderRejected(2, 1002, A, 99, "", Reject.UNKNOWN_ORDER)]
    assert ex.amend(B, 1, qty=1) == [OrderRejected(3, 1003, B, 1, "", Reject.UNKNOWN_ORDER)]
    ex.buy(TAKER, 100, 5)  # 4: fills order 1
    assert ex.amend(A, 1, qty=1).reject is Reject.UNKNOWN_ORDER
    assert ex.sell(A, 100, 5).oid == 3
    ex.cancel(A, 3)
    assert ex.amend(A, 3, qty=1).reject is Reject.UNKNOWN_ORDER


def test_amend_of_limit_maker_to_a_crossing_price_is_refused(ex):
    ex.buy(B, 99, 5)  # 1
    lm = ex.place(A, SELL, OrderType.LIMIT_MAKER, qty=2, price=101).oid  # 2
    for price in (99, 98):
        ev = ex.amend(A, lm, price=price)
        assert ev == [OrderRejected(ex.seq, 1000 + ex.seq, A, lm, "", Reject.WOULD_TAKE)]
    assert ex.asks == [(101, 2)]
    ev = ex.amend(A, lm, price=100)
    assert ev.amended.price == 100
    assert ev.trades == []
    assert ex.asks == [(100, 2)]


def test_amend_is_checked_against_filters(make_ex):
    ex = make_ex(max_price="1000", max_qty="10", min_notional="50")
    ex.sell(A, 100, 5)  # 1
    assert ex.amend(A, 1, price=1001).reject is Reject.PRICE_FILTER
    assert ex.amend(A, 1, qty=11).reject is Reject.LOT_SIZE
    assert ex.amend(A, 1, price=10, qty=4).reject is Reject.NOTIONAL
    assert ex.asks == [(100, 5)]
    assert ex.amend(A, 1, price=10, qty=5).amended.price == 10


# --- cancel -----------------------------------------------------------------------------------


def test_cancel_by_order_id(ex):
    ex.buy(A, 99, 5, cid="c")  # 1
    ex.buy(B, 99, 2)  # 2
    ex.sell(TAKER, 99, 1)  # 3: order 1 partially filled
    ev = ex.cancel(A, 1)
    assert ev.kinds == ["OrderUpdate", "BookDelta"]
    u = ev.update(1)
    assert (u.seq, u.status, u.client_order_id) == (4, CANCELED, "c")
    assert (u.qty, u.remaining, u.filled, u.filled_quote) == (5, 4, 1, 99)
    assert ev.deltas == [(BUY, 99, 2)]
    assert ex.bids == [(99, 2)]
    assert ex.cancel(A, 1).reject is Reject.UNKNOWN_ORDER  # already gone


def test_cancel_by_client_order_id(ex):
    ex.buy(A, 99, 5, cid="c")  # 1
    ex.buy(A, 98, 5, cid="d")  # 2
    ev = ex.cancel(A, cid="d")
    assert ev.statuses == [(2, CANCELED)]
    assert ex.bids == [(99, 5)]
    # A client id of another user's order does not reach it.
    assert ex.cancel(B, cid="c").reject is Reject.UNKNOWN_ORDER
    assert ex.cancel(A, cid="nope").reject is Reject.UNKNOWN_ORDER
    assert ex.cancel(A).reject is Reject.UNKNOWN_ORDER  # neither id given


def test_cancel_with_mismatched_client_order_id(ex):
    ex.buy(A, 99, 5, cid="c")  # 1
    ex.buy(A, 98, 5, cid="d")  # 2
    ev = ex.cancel(A, 1, cid="d")
    assert ev == [OrderRejected(3, 1003, A, 1, "d", Reject.UNKNOWN_ORDER)]
    assert ex.bids == [(99, 5), (98, 5)]
    assert ex.cancel(A, 1, cid="c").statuses == [(1, CANCELED)]


def test_cancel_other_users_order(ex):
    ex.buy(A, 99, 5)  # 1
    ev = ex.cancel(B, 1)
    assert ev == [OrderRejected(2, 1002, B, 1, "", Reject.UNKNOWN_ORDER)]
    assert ex.bids == [(99, 5)]


def test_cancel_all_cancels_only_that_users_orders_in_id_order(ex):
    ex.buy(A, 90, 1)  # 1
    ex.buy(B, 90, 2)  # 2
    ex.sell(A, 110, 3)  # 3
    ex.buy(A, 90, 4)  # 4
    ex.stop(A, SELL, OrderType.STOP_LOSS, 80, 1)  # 5: pending stop
    ex.buy(A, 95, 1)  # 6
    ex.amend(A, 1, qty=1)  # 7: a no-op amend must not reorder anything
    ev = ex.cancel_all(A)
    assert ev.statuses == [
        (1, CANCELED),
        (3, CANCELED),
        (4, CANCELED),
        (5, CANCELED),
        (6, CANCELED),
    ]
    assert ev.kinds == ["OrderUpdate"] * 5 + ["BookDelta"] * 3
    assert sorted(ev.deltas) == [(BUY, 90, 2), (BUY, 95, 0), (SELL, 110, 0)]
    assert ex.open_ids(A) == []
    assert ex.open_ids(B) == [2]
    assert ex.bids == [(90, 2)]
    assert ex.asks == []


def test_cancel_all_with_nothing_open(ex):
    ex.buy(B, 90, 1)
    ev = ex.cancel_all(A)
    assert ev == [OrderRejected(2, 1002, A, 0, "", Reject.UNKNOWN_ORDER)]
    assert ex.bids == [(90, 1)]


# --- BookDelta stream and depth() -----------------------------------------------------------


class LocalBook:
    """A client that keeps an L2 book from depth() + BookDelta events (Binance procedure)."""

    def __init__(self, depth):
        self.update_id, bids, asks = depth
        self.levels = {BUY: dict(bids), SELL: dict(asks)}

    def apply(self, events):
        for d in events.of(BookDelta):
            assert d.update_id == self.update_id + 1, "update ids must be contiguous"
            self.update_id = d.update_id
            if d.qty:
                self.levels[d.side][d.price] = d.qty
            else:
                assert d.price in self.levels[d.side], "removing a level the client never saw"
                del self.levels[d.side][d.price]

    def depth(self):
        bids = sorted(self.levels[BUY].items(), reverse=True)
        asks = sorted(self.levels[SELL].items())
        return self.update_id, bids, asks


def test_deltas_keep_a_local_book_equal_to_depth(ex):
    book = LocalBook(ex.engine.depth())
    steps = [
        lambda: ex.buy(A, 99, 5),
        lambda: ex.buy(B, 99, 3),
        lambda: ex.buy(A, 98, 2),
        lambda: ex.sell(B, 101, 4),
        lambda: ex.sell(A, 102, 6),
        lambda: ex.amend(A, 1, qty=2),  # keeps priority
        lambda: ex.amend(A, 3, price=97),  # moves level
        lambda: ex.amend(B, 2, qty=7),  # back of the queue
        lambda: ex.market(TAKER, BUY, 5),  # sweeps 101 and part of 102
        lambda: ex.sell(TAKER, 99, 4),  # hits part of 99
        lambda: ex.amend(A, 5, price=99),  # crosses, trades, rests
        lambda: ex.cancel(B, 2),
        lambda: ex.cancel_all(A),
        lambda: ex.buy(A, 1, 1),
        lambda: ex.cancel(A, cid="none"),  # refused: no deltas
    ]
    for step in steps:
        events = step()
        book.apply(events)
        assert book.depth() == ex.engine.depth()
        # Every delta carries the level's total after the command.
        for side, price, qty in events.deltas:
            levels = dict(ex.bids if side is BUY else ex.asks)
            assert levels.get(price, 0) == qty
    assert ex.engine.depth()[0] > 15


def test_one_delta_per_level_per_command(ex):
    ex.sell(A, 100, 1)
    ex.sell(B, 100, 1)
    ex.sell(A, 100, 1)
    ev = ex.market(TAKER, BUY, 3)
    assert ev.deltas == [(SELL, 100, 0)]
    assert len(ev.update_ids) == 1


def test_depth_limit_and_ordering(ex):
    for price in (101, 103, 102):
        ex.sell(A, price, price - 100)
    for price in (97, 99, 98):
        ex.buy(A, price, 100 - price)
    update_id, bids, asks = ex.engine.depth()
    assert update_id == 6
    assert bids == [(99, 1), (98, 2), (97, 3)]
    assert asks == [(101, 1), (102, 2), (103, 3)]
    assert ex.engine.depth(2) == (6, [(99, 1), (98, 2)], [(101, 1), (102, 2)])
    assert ex.engine.depth(0) == (6, [], [])
    assert ex.engine.depth(10) == ex.engine.depth()


def test_no_delta_for_a_level_whose_total_did_not_change(ex):
    # The buyer's rest at 99 is taken by a triggered stop in the same command: bid level 99
    # was absent before the command and is absent after it, so its total did not change.
    ex.trade_at(100)  # 1, 2
    stop_id = ex.stop(A, SELL, OrderType.STOP_LOSS, 99, 3).oid  # 3
    ex.sell(B, 99, 1)  # 4
    ev = ex.buy(TAKER, 99, 4)  # 5: trades 1 at 99, rests 3 at 99, then the stop sells 3
    assert ev.triggered == [stop_id]
    assert ev.fills == [(99, 1, 4, 5), (99, 3, 5, stop_id)]
    assert ev.deltas == [(SELL, 99, 0)]
    assert ex.bids == [] and ex.asks == []
