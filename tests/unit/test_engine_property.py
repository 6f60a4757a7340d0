"""Property test: the engine against a naive reference model of ``docs/matching.md``.

Random command sequences (every order type, amends, cancels by id and by client id, cancel-all,
halts) run through both :class:`MatchingEngine` and :class:`ReferenceModel`; after every command
the trades, the reject reason, the triggered stops, the open orders and the queues must agree,
and the engine's book and event stream must satisfy the invariants checked by
:class:`StreamChecker`. At the end the state of every order ever accepted must agree.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from hypothesis import Phase, example, given, settings

from engine_commands import (
    Amend,
    Halt,
    Template,
    concretize,
    expand,
    instruments,
    place,
    small_instrument,
    template_lists,
)
from reference_model import OrderState, ReferenceModel, TradeRow
from rialto.domain.commands import (
    AmendOrder,
    CancelAll,
    CancelOrder,
    Command,
    PlaceOrder,
    SetMarketStatus,
)
from rialto.domain.engine import MatchingEngine
from rialto.domain.events import (
    BookDelta,
    Event,
    MarketStatusChanged,
    OrderAccepted,
    OrderAmended,
    OrderRejected,
    OrderUpdate,
    StopTriggered,
    Trade,
)
from rialto.domain.instruments import Instrument
from rialto.domain.orders import STOP_TYPES, OrderStatus, OrderType, Side

OPEN_STATUSES = (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)
# What the first event of each command must be (docs/matching.md, "Events", item 1).
FIRST_EVENTS: dict[type, tuple[type, ...]] = {
    PlaceOrder: (OrderAccepted, OrderRejected),
    AmendOrder: (OrderAmended, OrderRejected),
    CancelOrder: (OrderUpdate, OrderRejected),
    CancelAll: (OrderUpdate, OrderRejected),
    SetMarketStatus: (MarketStatusChanged,),
}


class StreamChecker:
    """Follows one engine's event stream and checks it, and the engine, after every command."""

    def __init__(self) -> None:
        self.update_id = 0
        self.book: dict[tuple[Side, int], int] = {}  # rebuilt from BookDelta alone
        self.next_order_id = 1
        self.next_trade_id = 1
        self.lots: Counter[int] = Counter()  # order id -> lots traded
        self.quote: Counter[int] = Counter()  # order id -> sum of price * qty of its trades
        self.joined: dict[int, tuple[int, int]] = {}  # order id -> (command, event) it (re)joined
        self.last_update: dict[int, OrderUpdate] = {}

    def feed(self, k: int, cmd: Command, events: list[Event]) -> None:
        assert events, "every command yields at least one event"
        assert isinstance(events[0], FIRST_EVENTS[type(cmd)]), events[0]
        if any(isinstance(e, OrderRejected) for e in events):
            assert len(events) == 1, f"a rejection comes alone: {events}"
        kinds = [isinstance(e, BookDelta) for e in events]
        assert kinds == sorted(kinds), "BookDelta events come last"
        if isinstance(cmd, (CancelOrder, CancelAll)):
            for e in events:
                assert isinstance(e, (OrderUpdate, OrderRejected, BookDelta)), e
                if isinstance(e, OrderUpdate):
                    assert e.status is OrderStatus.CANCELED and e.user_id == cmd.user_id, e
            canceled = [e.order_id for e in events if isinstance(e, OrderUpdate)]
            assert canceled == sorted(canceled), f"not canceled in order-id order: {canceled}"
        for e, after in zip(events, [*events[1:], None], strict=True):
            if isinstance(e, Trade):  # "Trade followed by the maker's OrderUpdate"
                assert isinstance(after, OrderUpdate), f"{e} followed by {after}"
                assert after.order_id == e.maker_order_id, f"{e} followed by {after}"
        touched: set[tuple[Side, int]] = set()
        before = dict(self.book)  # level totals before this command
        for j, e in enumerate(events):
            if isinstance(e, OrderAccepted):
                assert e.order_id == self.next_order_id, (e.order_id, self.next_order_id)
                self.next_order_id += 1
                if e.order_type not in STOP_TYPES:
                    self.joined[e.order_id] = (k, j)
            elif isinstance(e, Trade):
                assert e.trade_id == self.next_trade_id, (e.trade_id, self.next_trade_id)
                self.next_trade_id += 1
                assert e.qty > 0
                for oid in (e.maker_order_id, e.taker_order_id):
                    self.lots[oid] += e.qty
                    self.quote[oid] += e.price * e.qty
            elif isinstance(e, OrderUpdate):
                self.check_update(e)
                self.last_update[e.order_id] = e
            elif isinstance(e, StopTriggered) or (
                isinstance(e, OrderAmended) and not e.kept_priority
            ):
                self.joined[e.order_id] = (k, j)  # (re)joins the back of a level
            elif isinstance(e, BookDelta):
                assert e.update_id == self.update_id + 1, (e.update_id, self.update_id)
                self.update_id = e.update_id
                key = (e.side, e.price)
                assert key not in touched, f"two BookDelta for one level in a command: {key}"
                touched.add(key)
                assert e.qty >= 0
                # "One BookDelta per price level whose total changed" (docs/matching.md).
                assert e.qty != before.get(key, 0), (
                    f"BookDelta for a level whose total did not change: {e}, "
                    f"total before the command {before.get(key, 0)}"
                )
                if e.qty:
                    self.book[key] = e.qty
                else:
                    self.book.pop(key, None)

    def check_update(self, u: OrderUpdate) -> None:
        assert u.filled == self.lots[u.order_id], (u, self.lots[u.order_id])
        assert u.filled_quote == self.quote[u.order_id], (u, self.quote[u.order_id])
        if u.qty:
            assert u.filled + u.remaining == u.qty, u
        if u.status is OrderStatus.FILLED and u.qty:
            assert u.remaining == 0, u

    def check_engine(self, engine: MatchingEngine) -> None:
        bids, asks = engine.bids, engine.asks
        best_bid, best_ask = bids.best(), asks.best()
        if best_bid is not None and best_ask is not None:
            assert best_bid < best_ask, f"crossed book: {best_bid} >= {best_ask}"
        on_book: set[int] = set()
        for book in (bids, asks):
            assert set(book.levels) == set(book.totals)
            assert sorted(book.keys) == sorted(book.sign * p for p in book.levels)
            for price, level in book.levels.items():
                assert level, f"empty level {price} kept"
                assert book.totals[price] == sum(o.remaining for o in level.values()), price
                times = []
                for oid, o in level.items():
                    assert oid == o.order_id and o.price == price and o.side is book.side
                    assert o.remaining > 0 and o.status in OPEN_STATUSES, o
                    assert o.filled + o.remaining == o.qty, o
                    assert o.filled == self.lots[oid] and o.filled_quote == self.quote[oid], o
                    assert engine.orders.get(oid) is o, f"resting order {oid} not indexed"
                    times.append(self.joined[oid])
                    on_book.add(oid)
                assert times == sorted(times), f"FIFO broken at {book.side} {price}: {level}"
        for oid, o in engine.orders.items():
            if oid not in on_book:  # a pending stop
                assert o.order_type in STOP_TYPES, o
                assert o.status is OrderStatus.NEW and o.filled == 0, o
        update_id, depth_bids, depth_asks = engine.depth()
        assert update_id == self.update_id, (update_id, self.update_id)
        mine_bids = sorted(
            ((p, q) for (s, p), q in self.book.items() if s is Side.BUY), reverse=True
        )
        mine_asks = sorted((p, q) for (s, p), q in self.book.items() if s is Side.SELL)
        assert depth_bids == mine_bids, f"deltas give bids {mine_bids}, depth() {depth_bids}"
        assert depth_asks == mine_asks, f"deltas give asks {mine_asks}, depth() {depth_asks}"

    def order_states(self, engine: MatchingEngine) -> dict[int, OrderState]:
        """Every order's state: open orders from the engine, the others from their last update."""
        states = {
            oid: OrderState(u.status, u.filled, u.remaining, u.filled_quote)
            for oid, u in self.last_update.items()
        }
        for oid, o in engine.orders.items():
            states[oid] = OrderState(o.status, o.filled, o.remaining, o.filled_quote)
        for oid in range(1, self.next_order_id):
            assert oid in states, f"order {oid} neither open nor finished by an OrderUpdate"
            if oid not in engine.orders:
                assert states[oid].status not in OPEN_STATUSES, (oid, states[oid])
        return states


def engine_trades(events: Iterable[Event]) -> list[TradeRow]:
    return [
        TradeRow(
            e.trade_id,
            e.price,
            e.qty,
            e.maker_order_id,
            e.taker_order_id,
            e.maker_user_id,
            e.taker_user_id,
            e.taker_side,
        )
        for e in events
        if isinstance(e, Trade)
    ]


def engine_open(engine: MatchingEngine) -> dict[int, tuple[object, ...]]:
    return {
        oid: (o.status, o.filled, o.remaining, o.filled_quote, o.price, o.qty)
        for oid, o in engine.orders.items()
    }


def model_open(model: ReferenceModel) -> dict[int, tuple[object, ...]]:
    return {
        o.order_id: (o.status, o.filled, o.remaining, o.filled_quote, o.price, o.qty)
        for o in model.open
    }


def engine_queue(engine: MatchingEngine, side: Side) -> list[tuple[int, list[int]]]:
    book = engine.bids if side is Side.BUY else engine.asks
    return [(price, list(book.levels[price])) for price, _ in book.depth()]


def compare(
    k: int, cmd: Command, events: list[Event], model: ReferenceModel, engine: MatchingEngine
) -> None:
    outcome = model.apply(cmd)
    rejects = [e.reason for e in events if isinstance(e, OrderRejected)]
    assert rejects == ([outcome.reject] if outcome.reject else []), (
        f"command {k}: engine rejects {rejects}, model {outcome.reject}"
    )
    trades = engine_trades(events)
    assert trades == outcome.trades, (
        f"command {k}: trades differ\n engine: {trades}\n model:  {outcome.trades}"
    )
    triggered = [(e.order_id, e.last_price) for e in events if isinstance(e, StopTriggered)]
    assert triggered == outcome.triggered, (
        f"command {k}: triggered stops: engine {triggered}, model {outcome.triggered}"
    )
    finished = {  # the orders this command updated, as its last OrderUpdate leaves them
        e.order_id: OrderState(e.status, e.filled, e.remaining, e.filled_quote)
        for e in events
        if isinstance(e, OrderUpdate)
    }
    for oid, state in finished.items():
        if oid not in engine.orders:
            theirs = model.every[oid].state() if oid in model.every else None
            assert state == theirs, (
                f"command {k}: order {oid} ends {state} in the engine, {theirs} in the model"
            )
    mine, theirs = engine_open(engine), model_open(model)
    assert mine == theirs, f"command {k}: open orders\n engine: {mine}\n model:  {theirs}"
    for side in (Side.BUY, Side.SELL):
        q_engine, q_model = engine_queue(engine, side), model.queue(side)
        assert q_engine == q_model, (
            f"command {k}: {side} queues\n engine: {q_engine}\n model: {q_model}"
        )


def run_against_model(instrument: Instrument, templates: list[Template]) -> None:
    engine = MatchingEngine(instrument)
    model = ReferenceModel(instrument)
    checker = StreamChecker()
    log: list[Command] = []
    try:
        for k, template in enumerate(expand(templates), 1):
            cmd = concretize(template, k, model)
            log.append(cmd)
            events = engine.apply(cmd)
            checker.feed(k, cmd, events)
            checker.check_engine(engine)
            compare(k, cmd, events, model, engine)
        engine_states = checker.order_states(engine)
        model_states = model.states()
        assert engine_states == model_states, "final order states differ:\n" + "\n".join(
            f" order {oid}: engine {engine_states.get(oid)}, model {model_states.get(oid)}"
            for oid in sorted(set(engine_states) | set(model_states))
            if engine_states.get(oid) != model_states.get(oid)
        )
    except Exception as exc:  # an engine crash too: report it with the commands that led there
        commands = "\n".join(f"  {c!r}," for c in log)
        what = str(exc) if isinstance(exc, AssertionError) else f"{type(exc).__name__}: {exc}"
        raise AssertionError(f"{what}\ninstrument: {instrument!r}\ncommands:\n{commands}") from exc


BUY, SELL = Side.BUY, Side.SELL
LIMIT, MARKET = OrderType.LIMIT, OrderType.MARKET

# Explicit cases, always run first.
# A sell sized by quote amount exhausts the 100 level with 400 of its 498; the 98 left pays
# for one lot at the next level, 93: "stops when the rest of the budget cannot pay for one lot
# at the next level".
SELL_BY_QUOTE_NEXT_LEVEL = [
    place(1, BUY, LIMIT, qty=4, price=100),
    place(1, BUY, LIMIT, qty=5, price=93),
    place(2, SELL, MARKET, quote_qty=498),
]
# The same with a funds cap of 5 lots (not reached) and of 4 lots (reached at the 100 level).
CAPPED_SELL_NEXT_LEVEL = [
    *SELL_BY_QUOTE_NEXT_LEVEL,
    place(1, BUY, LIMIT, qty=4, price=100),
    place(2, SELL, MARKET, quote_qty=498, cap_lots=5),
    place(1, BUY, LIMIT, qty=4, price=100),
    place(2, SELL, MARKET, quote_qty=498, cap_lots=4),
]
# "While HALT, placements and amends are refused with MARKET_CLOSED."
AMEND_WHILE_HALTED = [Halt(1), Amend(ref=0, user=1, foreign=True, price=100, qty=0)]
# A stop reached in the middle of a sweep that ends above it (first trade at 90, then 98).
STOP_REACHED_MID_SWEEP = [
    place(1, SELL, LIMIT, qty=1, price=90),
    place(1, SELL, LIMIT, qty=1, price=98),
    place(1, SELL, OrderType.STOP_LOSS, qty=1, stop=97),
    place(1, BUY, LIMIT, qty=2, price=98),
]

# Two stops reached by one trade (99 and 98 by a trade at 98) queue highest first; the first
# one's trade at 96 reaches a third, which runs after the second: "run after those already
# queued".
STOP_CASCADE_BEHIND_QUEUE = [
    place(1, SELL, LIMIT, qty=1, price=100),
    place(5, BUY, LIMIT, qty=1, price=100),  # last price 100
    place(1, BUY, LIMIT, qty=1, price=98),
    place(1, BUY, LIMIT, qty=1, price=96),
    place(1, BUY, LIMIT, qty=5, price=90),
    place(2, SELL, OrderType.STOP_LOSS, qty=1, stop=99),
    place(3, SELL, OrderType.STOP_LOSS, qty=1, stop=98),
    place(4, SELL, OrderType.STOP_LOSS, qty=1, stop=96),
    place(6, SELL, MARKET, qty=1),
]

# A larger quantity at the same price sends order 1 behind order 2; a smaller one then keeps
# order 2 in front: the sells trade with 2 first, then 1.
AMEND_QUEUE_PLACES = [
    place(1, BUY, LIMIT, qty=2, price=95),
    place(2, BUY, LIMIT, qty=2, price=95),
    Amend(ref=0, user=1, foreign=False, price=0, qty=3),
    Amend(ref=1, user=2, foreign=False, price=0, qty=1),
    place(3, SELL, LIMIT, qty=1, price=95),
    place(3, SELL, LIMIT, qty=1, price=95),
]


# No explain phase: on a failure it costs as much again as the shrinking.
@settings(
    max_examples=1000,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)
@given(instrument=instruments(), templates=template_lists())
@example(instrument=small_instrument(), templates=SELL_BY_QUOTE_NEXT_LEVEL)
@example(instrument=small_instrument(), templates=CAPPED_SELL_NEXT_LEVEL)
@example(instrument=small_instrument(), templates=AMEND_WHILE_HALTED)
@example(instrument=small_instrument(), templates=STOP_REACHED_MID_SWEEP)
@example(instrument=small_instrument(), templates=STOP_CASCADE_BEHIND_QUEUE)
@example(instrument=small_instrument(), templates=AMEND_QUEUE_PLACES)
def test_engine_agrees_with_reference_model(
    instrument: Instrument, templates: list[Template]
) -> None:
    run_against_model(instrument, templates)


# About 110 commands each, for deeper books and more pending stops. Not shrunk (shrinking a
# run this long takes minutes): the test above finds and shrinks the same bugs.
@settings(
    max_examples=100,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(instrument=instruments(), templates=template_lists(min_chunks=10, max_chunks=30))
def test_engine_agrees_with_reference_model_long_runs(
    instrument: Instrument, templates: list[Template]
) -> None:
    run_against_model(instrument, templates)
